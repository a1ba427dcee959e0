//! Self-tests of invoke and shutdown at the API level (spec §3, checklist
//! "Invoke and freeze", "Telemetry" full sequence, "Shutdown and failures"),
//! driven by an in-process extension thread; process-level behaviour
//! (signals, re-exec) is tested in bench/tests/sim_*.rs with a real process.

mod lambda_support;

use lambda_sim::lambda::{Invocation, LogFormat, Outcome, SimConfig};
use lambda_support::*;
use miniserde::json::{self, Value};
use std::thread;
use std::time::{Duration, Instant};

const TRACE: &str = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";

fn number(v: &Value, key: &str) -> f64 {
    match get(v, key) {
        Some(Value::Number(n)) => n.to_string().parse().unwrap_or(-1.0),
        _ => -1.0,
    }
}

#[test]
fn invoke_event_carries_deadline_arn_and_optional_tracing() {
    let (lambda, ext, _listener) = ready(SimConfig::default(), r#"["platform"]"#, 25, Duration::ZERO);
    let inv = Invocation { trace_header: Some(TRACE.into()), timeout: Duration::from_secs(7), ..Invocation::default() };
    let request_id = inv.request_id.clone();
    let handle = thread::spawn(move || {
        let first = lambda.invoke(inv).expect("invoke 1");
        let second = lambda.invoke(Invocation::default()).expect("invoke 2");
        (first, second)
    });
    let (status, content_type, body) = ext.next_event();
    assert_eq!((status, content_type.as_str()), (200, "application/json"));
    let event = parse(&body);
    assert_eq!(get_str(&event, "eventType"), "INVOKE");
    assert_eq!(get_str(&event, "requestId"), request_id);
    assert_eq!(get_str(&event, "invokedFunctionArn"), "arn:aws:lambda:us-east-1:123456789012:function:sim-function");
    let tracing = get(&event, "tracing").cloned().unwrap_or(Value::Null);
    assert_eq!((get_str(&tracing, "type"), get_str(&tracing, "value")), ("X-Amzn-Trace-Id".into(), TRACE.into()));
    let second = parse(&ext.next_event().2);
    assert!(get(&second, "tracing").is_none(), "no trace header, no tracing: {second:?}");
    let (first, _) = handle.join().expect("invoke thread");
    let deadline = number(&event, "deadlineMs") as u64;
    assert_eq!(deadline, first.deadline_ms);
    let now = lambda_sim::util::now_ms();
    assert!(deadline > now + 6_000 && deadline <= now + 7_000, "epoch ms, start + timeout: {deadline} vs {now}");
}

#[test]
fn per_invoke_sequence_and_report_metrics() {
    let config = SimConfig { freeze: false, log_format: LogFormat::Json, ..SimConfig::default() };
    let (lambda, ext, listener) = ready(config, r#"["platform","function"]"#, 25, Duration::from_millis(60));
    let inv = Invocation { logs: vec!["hello".into()], trace_header: Some(TRACE.into()), ..Invocation::default() };
    let id = inv.request_id.clone();
    let handle = thread::spawn(move || {
        (lambda.invoke(inv).expect("first"), lambda.invoke(Invocation::default()).expect("second"), lambda)
    });
    ext.next_event();
    ext.next_event();
    // Keep the simulator alive: dropping it stops delivery.
    let (first, second, _lambda) = handle.join().expect("thread");
    let reports = |b: &[Batch]| b.iter().map(|x| x.body.matches("\"type\":\"platform.report\"").count()).sum::<usize>();
    assert!(listener.wait(|b| reports(b) >= 2), "{:?}", listener.batches());
    let types: Vec<String> = listener
        .types()
        .into_iter()
        .filter(|t| {
            !t.starts_with("platform.init") && t != "platform.telemetrySubscription" && t != "platform.extension"
        })
        .collect();
    let one = ["platform.start", "function", "platform.runtimeDone", "platform.report"];
    assert_eq!(types, [&one[..], &["platform.start", "platform.runtimeDone", "platform.report"]].concat());
    let start = listener.record("platform.start", &id).expect("start");
    assert_eq!(get_str(&start, "version"), "$LATEST");
    assert!(get(&start, "tracing").is_some_and(|t| get_str(t, "spanId").len() == 16));
    let log = listener.record("function", &id).expect("JSON log record");
    assert_eq!(
        (get_str(&log, "message"), get_str(&log, "requestId"), get_str(&log, "level")),
        ("hello".into(), id.clone(), "INFO".into())
    );
    let done = listener.record("platform.runtimeDone", &id).expect("runtimeDone");
    assert_eq!(get_str(&done, "status"), "success");
    assert!(json::to_string(&done).contains("responseLatency"));
    let report = listener.record("platform.report", &id).expect("report");
    let metrics = get(&report, "metrics").cloned().unwrap_or(Value::Null);
    assert_eq!((number(&metrics, "memorySizeMB"), get_str(&report, "status")), (128.0, "success".into()));
    assert!(number(&metrics, "initDurationMs") > 0.0, "first invoke after a cold start: {metrics:?}");
    let duration_ms = number(&metrics, "durationMs");
    assert!(duration_ms >= 60.0, "extension time counts: {duration_ms}");
    assert!(number(&metrics, "billedDurationMs") >= duration_ms.ceil());
    assert!(number(&metrics, "maxMemoryUsedMB") >= 40.0);
    let later = listener.record("platform.report", &second.request_id).expect("second report");
    assert!(get(&get(&later, "metrics").cloned().unwrap_or(Value::Null), "initDurationMs").is_none());
    let overhead = first.post_runtime_overhead.expect("extensions came back");
    // The extension's 60 ms started with INVOKE, in parallel with the 5 ms function.
    assert!(overhead >= Duration::from_millis(54), "{overhead:?}");
    assert!(first.extensions_done_at.is_some_and(|d| d >= first.responded_at));
    assert!(first.duration >= overhead);
}

#[test]
fn text_logs_and_error_outcome() {
    let config = SimConfig { freeze: false, ..SimConfig::default() };
    let (lambda, ext, listener) = ready(config, r#"["platform","function"]"#, 25, Duration::ZERO);
    let inv = Invocation {
        logs: vec!["[INFO] plain".into()],
        outcome: Outcome::Error("Handled.Oops".into()),
        ..Invocation::default()
    };
    let id = inv.request_id.clone();
    let handle = thread::spawn(move || (lambda.invoke(inv).expect("invoke"), lambda));
    ext.next_event();
    let (result, _lambda) = handle.join().expect("thread");
    assert_eq!(
        (result.status.as_str(), result.error_type.as_deref(), result.reset.is_none()),
        ("error", Some("Handled.Oops"), true)
    );
    assert!(listener.wait_type("platform.report"));
    assert!(matches!(listener.record("function", "plain"), Some(Value::String(ref s)) if s == "[INFO] plain"));
    let done = listener.record("platform.runtimeDone", &id).expect("runtimeDone");
    assert_eq!((get_str(&done, "status"), get_str(&done, "errorType")), ("error".into(), "Handled.Oops".into()));
}

#[test]
fn function_timeout_resets_with_shutdown_and_reinits_next_time() {
    let config = SimConfig { timeout_reason: "Timeout".into(), ..SimConfig::default() };
    let (lambda, ext, listener) = ready(config, r#"["platform"]"#, 25, Duration::ZERO);
    let inv = Invocation { timeout: Duration::from_millis(200), outcome: Outcome::Timeout, ..Invocation::default() };
    let id = inv.request_id.clone();
    let handle = thread::spawn(move || {
        let t0 = Instant::now();
        let first = lambda.invoke(inv).expect("invoke");
        (t0.elapsed(), first, lambda.invoke(Invocation::default()).expect("re-init invoke"))
    });
    ext.next_event();
    let (status, content_type, body) = ext.next_event();
    assert_eq!((status, content_type.as_str()), (200, "text/plain; charset=utf-8"));
    assert_eq!(get_str(&parse(&body), "shutdownReason"), "Timeout");
    let (elapsed, first, second) = handle.join().expect("thread");
    assert!(elapsed >= Duration::from_millis(200));
    assert_eq!((first.status.as_str(), first.error_type.as_deref()), ("timeout", Some("Sandbox.Timedout")));
    assert_eq!(first.reset.as_ref().map(|r| r.reason.as_str()), Some("Timeout"));
    assert_eq!(second.init.as_ref().map(|i| i.phase.as_str()), Some("invoke"));
    assert!(listener.wait(|b| b.iter().any(|x| x.body.contains("Sandbox.Timedout"))), "drained during shutdown");
    let report = listener.record("platform.report", &id).expect("timeout report");
    assert_eq!(get_str(&report, "status"), "timeout");
}

#[test]
fn extension_overrunning_the_timeout_times_the_invoke_out() {
    let (lambda, ext, _listener) = ready(SimConfig::default(), r#"["platform"]"#, 25, Duration::from_millis(400));
    let inv = Invocation { timeout: Duration::from_millis(150), ..Invocation::default() };
    let handle = thread::spawn(move || lambda.invoke(inv).expect("invoke"));
    ext.next_event();
    let result = handle.join().expect("thread");
    assert_eq!((result.status.as_str(), result.extensions_done_at), ("timeout", None));
    assert_eq!(result.duration, Duration::from_millis(150));
    assert!(result.reset.is_some());
}

#[test]
fn shutdown_sends_reason_verbatim_with_two_second_deadline() {
    for reason in ["spindown", "SPINDOWN", "SandboxTerminated", "something-new"] {
        let (lambda, ext, _listener) = ready(SimConfig::default(), r#"["platform"]"#, 25, Duration::ZERO);
        let before = lambda_sim::util::now_ms();
        let result = lambda.shutdown(reason);
        let event = parse(&ext.next_event().2);
        assert_eq!(
            (get_str(&event, "eventType"), get_str(&event, "shutdownReason")),
            ("SHUTDOWN".into(), reason.into())
        );
        let deadline = number(&event, "deadlineMs") as u64;
        assert!(deadline >= before + 2_000 && deadline <= before + 2_100, "{deadline} vs {before}");
        assert_eq!(result.deadline_ms, deadline);
        assert!(matches!(lambda.invoke(Invocation::default()), Err(lambda_sim::lambda::SimError::ShutDown)));
    }
}

#[test]
fn event_identifier_header_only_on_invoke_and_runtime_unknown_default() {
    let config = SimConfig { external_names: vec!["raw".into()], ..SimConfig::default() };
    let (lambda, addr) = start(config);
    let id = register_ok(addr, "raw", &["INVOKE", "SHUTDOWN"]);
    let next =
        move || call(addr, "GET", "/2020-01-01/extension/event/next", &[("Lambda-Extension-Identifier", &id)], "");
    let first = thread::spawn(next.clone());
    lambda.wait_init(WAIT).expect("init");
    let inv = Invocation { outcome: Outcome::Error(String::new()), ..Invocation::default() };
    let invoking = thread::spawn(move || (lambda.invoke(inv).expect("invoke"), lambda));
    let (status, headers, body) = first.join().expect("first next");
    assert!(status == 200 && body.contains("INVOKE"), "{body}");
    let event_id = header(&headers, "Lambda-Extension-Event-Identifier").unwrap_or_default();
    assert_eq!(event_id.len(), 36, "{headers:?}");
    let second = thread::spawn(next);
    let (result, lambda) = invoking.join().expect("invoke thread");
    assert_eq!((result.status.as_str(), result.error_type.as_deref()), ("error", Some("Runtime.Unknown")));
    lambda.shutdown("spindown");
    let (status, headers, body) = second.join().expect("second next");
    assert!(status == 200 && body.contains("SHUTDOWN"), "{body}");
    assert_eq!(header(&headers, "Content-Type"), Some("text/plain; charset=utf-8"));
    assert!(header(&headers, "Lambda-Extension-Event-Identifier").is_none(), "{headers:?}");
}
