//! Table tests of `parse_batch` over the real-shaped fixtures in `tests/data/telemetry/`, plus
//! hostile inputs (garbage, invalid UTF-8, deep nesting, mutated fixtures).

use super::*;

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/data/telemetry/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn opt<T: std::fmt::Display>(value: &Option<T>) -> String {
    value.as_ref().map_or("-".to_string(), T::to_string)
}

/// One line per record, every field shown, then the counts: compact enough for a table.
fn describe(batch: &Batch) -> String {
    let mut lines: Vec<String> = batch.records.iter().map(describe_record).collect();
    lines.push(format!("malformed={} unknown={} oversized={}", batch.malformed, batch.unknown, batch.oversized));
    lines.join("\n")
}

fn describe_record(record: &Record) -> String {
    match record {
        Record::Start { time_ms, request_id } => format!("start {} {request_id}", opt(time_ms)),
        Record::RuntimeDone { time_ms, request_id, status, error_type, duration_ms } => format!(
            "runtimeDone {} {request_id} {status:?} err={} dur={}",
            opt(time_ms),
            opt(error_type),
            opt(duration_ms)
        ),
        Record::Report { time_ms, request_id, status, error_type, metrics: m } => format!(
            "report {} {request_id} {status:?} err={} dur={} billed={} mem={} maxmem={} init={} restore={}",
            opt(time_ms),
            opt(error_type),
            opt(&m.duration_ms),
            opt(&m.billed_duration_ms),
            opt(&m.memory_size_mb),
            opt(&m.max_memory_used_mb),
            opt(&m.init_duration_ms),
            opt(&m.restore_duration_ms)
        ),
        Record::Log { time_ms, stream, body } => {
            let body = match body {
                LogBody::Text(text) => format!("text:{text:?}"),
                LogBody::Json(object) => format!("json:{}", json::to_string(object)),
            };
            format!("{stream:?} {} {body}", opt(time_ms))
        }
        Record::Platform { time_ms, kind, record_json } => {
            format!("{kind} {} {record_json}", opt(time_ms))
        }
    }
}

#[track_caller]
fn check(body: &[u8], expected: &str) {
    let actual = describe(&parse_batch(body));
    let expected: Vec<&str> = expected.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    assert_eq!(actual, expected.join("\n"));
}

#[test]
fn init_phase_records_are_platform_records() {
    check(
        &fixture("init.json"),
        r#"
        platform.initStart 1666187535636 {"initializationType":"on-demand","phase":"init","runtimeVersion":"nodejs-14.v3","runtimeVersionArn":"arn"}
        platform.telemetrySubscription 1666187535667 {"name":"my-extension","state":"Subscribed","types":["platform","function"]}
        platform.initRuntimeDone 1666187536136 {"initializationType":"on-demand","phase":"init","status":"success"}
        platform.extension 1666187536140 {"events":["INVOKE","SHUTDOWN"],"name":"my-extension","state":"Ready"}
        platform.initReport 1666187536141 {"initializationType":"on-demand","metrics":{"durationMs":500.0},"phase":"init"}
        malformed=0 unknown=0 oversized=0
    "#,
    );
}

#[test]
fn invoke_records_and_log_lines() {
    check(
        &fixture("invoke.json"),
        r#"
        start 1666361103165 459921b5-681c-4a96-beb0-81e0aa586026
        Function 1665533030000 text:"[INFO] order 42 stored"
        Function 1713962096789 json:{"level":"INFO","message":"order stored","requestId":"79b4f56e-95b1-4643-9700-2807f4e68189","timestamp":"2024-04-24T12:34:56.789Z"}
        Extension 1713962096790 text:"[my-extension] starting"
        runtimeDone 1666361105764 459921b5-681c-4a96-beb0-81e0aa586026 Success err=- dur=2599
        report 1666361105766 459921b5-681c-4a96-beb0-81e0aa586026 Success err=- dur=2599.4 billed=2600 mem=128 maxmem=94 init=549.04 restore=-
        malformed=0 unknown=0 oversized=0
    "#,
    );
}

#[test]
fn timeout_error_and_dropped_records() {
    check(
        &fixture("timeout.json"),
        r#"
        start 1677748500000 c6af9ac6-7b61-11e6-9a41-93e812345678
        Function 1677748500500 text:"working..."
        runtimeDone 1677748503002 c6af9ac6-7b61-11e6-9a41-93e812345678 Timeout err=Sandbox.Timedout dur=3000
        report 1677748503010 c6af9ac6-7b61-11e6-9a41-93e812345678 Timeout err=Sandbox.Timedout dur=3000 billed=3000 mem=128 maxmem=60 init=- restore=-
        malformed=0 unknown=0 oversized=0
    "#,
    );
    check(
        &fixture("error.json"),
        r#"
        start 1677748800000 0a1b2c3d-0000-4000-8000-000000000001
        Function 1677748800010 text:"Traceback (most recent call last):"
        Function 1677748800011 json:{"errorType":"ValueError","level":"ERROR","message":"boom","requestId":"0a1b2c3d-0000-4000-8000-000000000001","timestamp":"2023-03-02T09:20:00.011Z"}
        runtimeDone 1677748800050 0a1b2c3d-0000-4000-8000-000000000001 Error err=Runtime.ExitError dur=50.25
        report 1677748800060 0a1b2c3d-0000-4000-8000-000000000001 Error err=Runtime.ExitError dur=51.1 billed=52 mem=256 maxmem=70 init=- restore=-
        platform.initRuntimeDone 1677748800300 {"errorType":"Runtime.ExitError","initializationType":"on-demand","phase":"invoke","status":"failure"}
        malformed=0 unknown=0 oversized=0
    "#,
    );
    check(
        &fixture("logs_dropped.json"),
        r#"
        platform.logsDropped 1665532955000 {"droppedBytes":12345,"droppedRecords":123,"reason":"Consumer seems to have fallen behind as it has not acknowledged receipt of logs."}
        malformed=0 unknown=0 oversized=0
    "#,
    );
}

#[test]
fn snapstart_and_lmi() {
    check(
        &fixture("snapstart.json"),
        r#"
        platform.restoreStart 1666187535636 {}
        platform.restoreRuntimeDone 1666187536136 {"status":"success"}
        platform.restoreReport 1666187536136 {"metrics":{"durationMs":150.5},"status":"success"}
        start 1666187536200 6d68ca91-49c9-448d-89b8-7ca3e6dc66aa
        runtimeDone 1666187536410 6d68ca91-49c9-448d-89b8-7ca3e6dc66aa Success err=- dur=209.8
        report 1666187536412 6d68ca91-49c9-448d-89b8-7ca3e6dc66aa Success err=- dur=210.3 billed=361 mem=512 maxmem=80 init=- restore=150.5
        malformed=0 unknown=0 oversized=0
    "#,
    );
    check(
        &fixture("lmi.json"),
        r#"
        platform.initStart 1758310600100 {"functionName":"orders","functionVersion":"3","initializationType":"lambda-managed-instances","instanceId":"2025/09/19/[3]0f1e2d3c4b5a69788796a5b4c3d2e1f0","instanceMaxMemory":2147483648,"phase":"init","runtimeVersion":"python:3.13.v20","runtimeVersionArn":"arn:aws:lambda:us-east-1::runtime:abc"}
        start 1758310610879 13d1305b-a2f5-440c-bfbe-686ccff3d3e0
        Function 1758310610880 json:{"level":"INFO","message":"handling","requestId":"13d1305b-a2f5-440c-bfbe-686ccff3d3e0","timestamp":"2025-09-19T19:36:50.880Z"}
        Function 1758310610880 json:{"level":"INFO","message":"handling","requestId":"5f0c9e2a-1111-4c2d-9e3f-000000000002","timestamp":"2025-09-19T19:36:50.880Z"}
        report 1758310610881 13d1305b-a2f5-440c-bfbe-686ccff3d3e0 Success err=- dur=1.148 billed=- mem=- maxmem=- init=- restore=-
        malformed=0 unknown=0 oversized=0
    "#,
    );
}

#[test]
fn tolerant_of_missing_and_wrong_typed_fields() {
    check(
        &fixture("tolerant.json"),
        r#"
        start - no-time
        start - bad-time
        start - numeric-time
        runtimeDone 1666361105764 r1 Success err=- dur=2599
        runtimeDone 1666361105764 r2 Timeout err=- dur=-
        runtimeDone 1666361105764 r3 Other("") err=- dur=-
        report 1666361105766 r4 Failure err=Sandbox.Failure dur=- billed=13 mem=-1 maxmem=- init=100 restore=-
        report 1666361105766 r5 Other("degraded") err=- dur=- billed=- mem=- maxmem=- init=- restore=-
        report 1666361105766 r6 Other("") err=- dur=- billed=- mem=- maxmem=- init=- restore=-
        Function 1666361105770 text:"two lines\n"
        Function 1666361105770 text:"crlf line"
        Function 1666361105770 text:""
        Extension 1666361105770 json:{}
        platform.initReport 1666361105780 {}
        platform.futureEvent 1666361105780 "a string record"
        malformed=12 unknown=3 oversized=0
    "#,
    );
}

#[test]
fn bodies_that_are_not_arrays() {
    check(&fixture("not_array.json"), "malformed=1 unknown=0 oversized=0");
    check(b"", "malformed=1 unknown=0 oversized=0");
    check(b"   ", "malformed=1 unknown=0 oversized=0");
    check(b"garbage \x00\x01\x02", "malformed=1 unknown=0 oversized=0");
    check(b"\xff\xfe[]", "malformed=1 unknown=0 oversized=0");
    check(b"[{\"type\":\"function\",\"record\":\"a\"},", "malformed=1 unknown=0 oversized=0");
    check(b"null", "malformed=1 unknown=0 oversized=0");
    check(b"[]", "malformed=0 unknown=0 oversized=0");
    check(b" [ ] \n", "malformed=0 unknown=0 oversized=0");
}

#[test]
fn invalid_utf8_inside_a_record_is_replaced_not_rejected() {
    check(
        b"[{\"time\":\"2022-10-21T14:05:03.165Z\",\"type\":\"function\",\"record\":\"bad \xff byte\\n\"}]",
        "Function 1666361103165 text:\"bad \u{fffd} byte\"\nmalformed=0 unknown=0 oversized=0",
    );
}

fn nested(open: &str, close: &str, depth: usize, inner: &str) -> String {
    format!("{}{inner}{}", open.repeat(depth), close.repeat(depth))
}

#[test]
fn deep_nesting_does_not_overflow_the_stack() {
    // miniserde parses, serializes and drops with heap stacks; these would overflow the
    // 2 MiB test-thread stack if any step recursed.
    let unclosed = "[".repeat(100_000);
    check(unclosed.as_bytes(), "malformed=1 unknown=0 oversized=0");
    let closed = nested("[", "]", 100_000, "");
    check(closed.as_bytes(), "malformed=1 unknown=0 oversized=0");
    let deep_object = nested("{\"a\":", "}", 100_000, "1");
    let body = format!("[{{\"type\":\"function\",\"record\":{deep_object}}},{{\"type\":\"platform.x\",\"record\":{deep_object}}},{{\"type\":\"other\",\"record\":{deep_object}}}]");
    let batch = parse_batch(body.as_bytes());
    assert_eq!((batch.malformed, batch.unknown, batch.records.len()), (0, 1, 2));
    match &batch.records[..] {
        [Record::Log { body: LogBody::Text(text), .. }, Record::Platform { record_json, .. }] => {
            assert_eq!(text, &deep_object);
            assert_eq!(record_json, &deep_object);
        }
        other => panic!("unexpected records: {}", other.len()),
    }
}

#[test]
fn json_log_depth_limit() {
    let just_over = nested("{\"a\":", "}", MAX_LOG_DEPTH, "[]");
    let over = nested("{\"a\":", "}", MAX_LOG_DEPTH, "[[]]");
    for (record, want_json) in
        [(&just_over, false), (&nested("{\"a\":", "}", MAX_LOG_DEPTH, "1"), true), (&over, false)]
    {
        let body = format!("[{{\"type\":\"function\",\"record\":{record}}}]");
        match &parse_batch(body.as_bytes()).records[..] {
            [Record::Log { body: LogBody::Json(object), .. }] if want_json => {
                assert_eq!(&json::to_string(object), record)
            }
            [Record::Log { body: LogBody::Text(text), .. }] if !want_json => assert_eq!(text, record),
            _ => panic!("wrong body kind for depth test (want_json={want_json})"),
        }
    }
    assert!(!depth_exceeds(&Object::new(), 1));
    assert!(depth_exceeds(&Object::new(), 0));
}

#[test]
fn mutated_fixtures_never_panic() {
    // Deterministic xorshift mutations: flip, delete and truncate bytes of every fixture.
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let names = ["init.json", "invoke.json", "lmi.json", "tolerant.json", "error.json"];
    for name in names {
        let original = fixture(name);
        for _ in 0..300 {
            let mut body = original.clone();
            for _ in 0..(next() % 4 + 1) {
                let at = (next() as usize) % body.len().max(1);
                match next() % 3 {
                    0 if at < body.len() => body[at] = next() as u8,
                    1 if at < body.len() => drop(body.remove(at)),
                    _ => body.truncate(at),
                }
            }
            // Every element is accounted for exactly once, or the whole body is one malformed.
            let batch = parse_batch(&body);
            let counted = batch.records.len() + batch.malformed + batch.unknown;
            match json::from_str::<Value>(&String::from_utf8_lossy(&body)) {
                Ok(Value::Array(events)) => assert_eq!(counted, events.len()),
                _ => assert_eq!((batch.records.len(), batch.malformed, batch.unknown), (0, 1, 0)),
            }
        }
    }
}
