//! Encoder, endpoint, line and id tests; JSON is decoded back with miniserde.

use miniserde::json::{self, Value};

use super::*;

fn obj(v: &Value) -> &json::Object {
    match v {
        Value::Object(o) => o,
        other => panic!("expected an object, got {other:?}"),
    }
}

/// The key set (miniserde's `Object` is a sorted map; exact order is checked on raw text).
fn keys(o: &json::Object) -> Vec<&str> {
    o.keys().map(String::as_str).collect()
}

fn string<'a>(o: &'a json::Object, key: &str) -> &'a str {
    match o.get(key) {
        Some(Value::String(s)) => s,
        other => panic!("{key}: expected a string, got {other:?}"),
    }
}

fn ctx() -> Context {
    Context {
        function_name: "my-fn".into(),
        invoked_function_arn: "arn:aws:lambda:us-east-1:123456789012:function:my-fn".into(),
        log_group_name: "/aws/lambda/my-fn".into(),
        log_stream_name: "newrelic-lambda-extension:1.0.0".into(),
    }
}

fn event(id: &str, ts: u64, message: &str) -> TelemetryEvent {
    TelemetryEvent { id: id.into(), timestamp_ms: ts, message: message.into() }
}

#[test]
fn endpoints_by_region_and_override() {
    #[track_caller]
    fn check(key: &str, over: Option<&str>, telemetry: &str, log: &str) {
        assert_eq!(telemetry_endpoint(key, over), telemetry);
        assert_eq!(log_endpoint(key, over), log);
    }
    check("abc123", None, TELEMETRY_ENDPOINT_US, LOG_ENDPOINT_US);
    check("eu01xx123", None, TELEMETRY_ENDPOINT_EU, LOG_ENDPOINT_EU);
    check("EU01xx", None, TELEMETRY_ENDPOINT_US, LOG_ENDPOINT_US);
    check("", None, TELEMETRY_ENDPOINT_US, LOG_ENDPOINT_US);
    check("eu01xx", Some("http://127.0.0.1:9/x"), "http://127.0.0.1:9/x", "http://127.0.0.1:9/x");
    check("eu01xx", Some("  "), TELEMETRY_ENDPOINT_EU, LOG_ENDPOINT_EU);
    assert_eq!(user_agent(), format!("newrelic-lambda-extension/{}", env!("CARGO_PKG_VERSION")));
}

#[test]
fn telemetry_body_has_the_exact_shape() {
    let payload = r#"[2,"NR_LAMBDA_MONITORING",{"arn":"a"},"H4sI\u2028"]"#;
    let tricky = "tab\there \"quoted\" back\\slash \u{1} nl\n \u{2028} é";
    let events = [event("id-1", 1_700_000_000_000, payload), event("id-2", 7, tricky)];
    let body = encode_telemetry(&ctx(), &events);
    let text = String::from_utf8(body).unwrap();
    let outer: Value = json::from_str(&text).unwrap();
    let outer = obj(&outer);
    assert_eq!(keys(outer), ["context", "entry"]);
    let context = obj(outer.get("context").unwrap());
    assert_eq!(keys(context), ["function_name", "invoked_function_arn", "log_group_name", "log_stream_name"]);
    assert_eq!(string(context, "function_name"), "my-fn");
    assert_eq!(string(context, "log_stream_name"), "newrelic-lambda-extension:1.0.0");
    let entry: Value = json::from_str(string(outer, "entry")).unwrap();
    let entry = obj(&entry);
    assert_eq!(keys(entry), ["logEvents", "logGroup", "logStream", "messageType", "owner"]);
    assert_eq!(string(entry, "logGroup"), "/aws/lambda/my-fn");
    for key in ["logStream", "messageType", "owner"] {
        assert_eq!(string(entry, key), "");
    }
    let Some(Value::Array(log_events)) = entry.get("logEvents") else { panic!("logEvents") };
    assert_eq!(log_events.len(), 2);
    let decoded: Vec<(String, String, String)> = log_events
        .iter()
        .map(|e| {
            let e = obj(e);
            assert_eq!(keys(e), ["id", "message", "timestamp"]);
            let ts = json::to_string(e.get("timestamp").unwrap());
            (string(e, "id").to_string(), ts, string(e, "message").to_string())
        })
        .collect();
    assert_eq!(decoded[0], ("id-1".into(), "1700000000000".into(), payload.into()));
    assert_eq!(decoded[1], ("id-2".into(), "7".into(), tricky.into()));
}

#[test]
fn field_order_is_the_ingest_order() {
    let text = String::from_utf8(encode_telemetry(&ctx(), &[event("i", 5, "m")])).unwrap();
    let expected = concat!(
        r#"{"context":{"function_name":"my-fn","#,
        r#""invoked_function_arn":"arn:aws:lambda:us-east-1:123456789012:function:my-fn","#,
        r#""log_group_name":"/aws/lambda/my-fn","log_stream_name":"newrelic-lambda-extension:1.0.0"},"#,
        r#""entry":"{\"logEvents\":[{\"id\":\"i\",\"timestamp\":5,\"message\":\"m\"}],"#,
        r#"\"logGroup\":\"/aws/lambda/my-fn\",\"logStream\":\"\",\"messageType\":\"\",\"owner\":\"\"}"}"#
    );
    assert_eq!(text, expected);
}

#[test]
fn empty_batch_still_has_every_field() {
    let text = String::from_utf8(encode_telemetry(&Context::default(), &[])).unwrap();
    assert_eq!(
        text,
        r#"{"context":{"function_name":"","invoked_function_arn":"","log_group_name":"","log_stream_name":""},"entry":"{\"logEvents\":[],\"logGroup\":\"\",\"logStream\":\"\",\"messageType\":\"\",\"owner\":\"\"}"}"#
    );
}

#[test]
fn report_lines() {
    #[track_caller]
    fn check(m: ReportMetrics, expected: &str) {
        assert_eq!(report_line("r-1", &m), expected);
    }
    let full = ReportMetrics {
        duration_ms: Some(1234.567),
        billed_duration_ms: Some(1235.0),
        memory_size_mb: Some(128.0),
        max_memory_used_mb: Some(64.4),
        init_duration_ms: Some(250.005),
        restore_duration_ms: None,
    };
    check(
        full.clone(),
        "REPORT RequestId: r-1\tDuration: 1234.57 ms\tBilled Duration: 1235 ms\tMemory Size: 128 MB\tMax Memory Used: 64 MB\tInit Duration: 250.00 ms",
    );
    check(
        ReportMetrics { init_duration_ms: None, ..full.clone() },
        "REPORT RequestId: r-1\tDuration: 1234.57 ms\tBilled Duration: 1235 ms\tMemory Size: 128 MB\tMax Memory Used: 64 MB",
    );
    check(
        ReportMetrics { duration_ms: Some(0.5), memory_size_mb: Some(1024.0), ..Default::default() },
        "REPORT RequestId: r-1\tDuration: 0.50 ms\tMemory Size: 1024 MB",
    );
    check(ReportMetrics::default(), "REPORT RequestId: r-1");
}

#[test]
fn synthesized_lines() {
    #[track_caller]
    fn check(got: String, expected: &str) {
        assert_eq!(got, expected);
    }
    let now = 1_666_361_103_165;
    check(timeout_line(now, "r-1", 3.0), "2022-10-21T14:05:03.165Z r-1 Task timed out after 3.00 seconds");
    check(
        failure_line(now, "r-2", 0.1234, "Runtime.ExitError"),
        "2022-10-21T14:05:03.165Z r-2 Function invocation failed after 0.12 seconds: Runtime.ExitError",
    );
    check(platform_fault_line("r-3"), "RequestId: r-3 AWS Lambda platform fault caused a shutdown");
}

#[test]
fn event_ids_are_unique_and_deterministic() {
    let mut a = EventIds::new(1);
    let mut b = EventIds::new(2);
    let ids: Vec<String> = (0..1000).map(|_| a.next_id()).chain((0..1000).map(|_| b.next_id())).collect();
    let unique: std::collections::HashSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), 2000);
    assert!(ids.iter().all(|id| id.len() == 32 && id.bytes().all(|c| c.is_ascii_hexdigit())));
    assert_eq!(EventIds::new(1).next_id(), ids[0]);
    let (mut p, mut q) = (EventIds::from_process(5), EventIds::from_process(5));
    assert_ne!(p.next_id(), q.next_id(), "random keys keep processes apart");
}
