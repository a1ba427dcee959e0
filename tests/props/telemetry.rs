//! Telemetry API batches (`telemetry::parse_batch`): any bytes are parsed or counted, never a
//! panic, and what comes out is bounded by what went in; a batch of well-formed events of every
//! kind reads back as exactly the records it was built from.

use miniserde::json::{self, Value};
use proptest::collection::vec;
use proptest::prelude::*;

use newrelic_lambda_extension::telemetry::{parse_batch, Batch, LogBody, LogStream, Record, ReportMetrics, Status};
use newrelic_lambda_extension::timefmt::format_rfc3339_ms;

use crate::json_gen::{json_ws, nonempty_text, text, value};
use crate::support::config;

/// Output text per input byte, at most: re-serializing a platform record can lengthen a number
/// (`1e15` → `1000000000000000.0`, 4.5×); nothing else grows.
const GROWTH: usize = 5;

/// Bytes of text the records of `batch` hold.
fn output_bytes(batch: &Batch) -> usize {
    let status = |s: &Status| if let Status::Other(t) = s { t.len() } else { 0 };
    let opt = |o: &Option<String>| o.as_ref().map_or(0, String::len);
    batch
        .records
        .iter()
        .map(|record| match record {
            Record::Start { request_id, .. } => request_id.len(),
            Record::RuntimeDone { request_id, status: s, error_type, .. } => {
                request_id.len() + status(s) + opt(error_type)
            }
            Record::Report { request_id, status: s, error_type, .. } => request_id.len() + status(s) + opt(error_type),
            Record::Log { body: LogBody::Text(text), .. } => text.len(),
            Record::Log { body: LogBody::Json(object), .. } => json::to_string(object).len(),
            Record::Platform { kind, record_json, .. } => kind.len() + record_json.len(),
        })
        .sum()
}

/// The property of every body: no panic, every event accounted for once, output bounded.
pub fn check_body(body: &[u8]) -> Result<(), TestCaseError> {
    let batch = parse_batch(body);
    let accounted = batch.records.len() + batch.malformed + batch.unknown;
    prop_assert!(accounted <= body.len().max(1), "{accounted} events from {} bytes", body.len());
    prop_assert_eq!(batch.oversized, 0);
    let out = output_bytes(&batch);
    prop_assert!(out <= GROWTH * body.len() + 16, "{out} bytes of records from {} bytes", body.len());
    Ok(())
}

/// One well-formed event and the record it must become.
#[derive(Debug, Clone)]
struct Case {
    event: Value,
    expected: Record,
}

fn object_of(members: Vec<(&str, Value)>) -> Value {
    Value::Object(members.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}

fn num(v: f64) -> Value {
    Value::Number(miniserde::json::Number::F64(v))
}

/// A status as Lambda spells it (any case) or anything else.
fn status_text() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec!["success", "error", "failure", "timeout", "Success", "TIMEOUT", " error "])
            .prop_map(str::to_string),
        text(10),
    ]
}

/// A metric value with two decimals, as Lambda writes them.
fn metric() -> impl Strategy<Value = f64> {
    (0u64..100_000_000).prop_map(|n| n as f64 / 100.0)
}

fn report_metrics() -> impl Strategy<Value = ReportMetrics> {
    let m = || proptest::option::of(metric());
    (m(), m(), m(), m(), m(), m()).prop_map(|(d, b, mem, max, init, restore)| ReportMetrics {
        duration_ms: d,
        billed_duration_ms: b,
        memory_size_mb: mem,
        max_memory_used_mb: max,
        init_duration_ms: init,
        restore_duration_ms: restore,
    })
}

fn metrics_value(m: &ReportMetrics) -> Value {
    let fields = [
        ("durationMs", m.duration_ms),
        ("billedDurationMs", m.billed_duration_ms),
        ("memorySizeMB", m.memory_size_mb),
        ("maxMemoryUsedMB", m.max_memory_used_mb),
        ("initDurationMs", m.init_duration_ms),
        ("restoreDurationMs", m.restore_duration_ms),
    ];
    object_of(fields.into_iter().filter_map(|(k, v)| v.map(|v| (k, num(v)))).collect())
}

/// The text log line the parser must keep: one trailing `\n` or `\r\n` removed.
fn without_line_end(line: &str) -> String {
    line.strip_suffix("\r\n").or_else(|| line.strip_suffix('\n')).unwrap_or(line).to_string()
}

/// (`type`, `record` if any, the record it must parse to, without its time).
type Parts = (String, Option<Value>, Record);

fn start() -> impl Strategy<Value = Parts> {
    nonempty_text(40).prop_map(|id| {
        let record = object_of(vec![("requestId", Value::String(id.clone()))]);
        ("platform.start".into(), Some(record), Record::Start { time_ms: None, request_id: id })
    })
}

fn runtime_done() -> impl Strategy<Value = Parts> {
    let parts = (nonempty_text(40), status_text(), proptest::option::of(text(20)), proptest::option::of(metric()));
    parts.prop_map(|(id, status, error, duration)| {
        let mut members = vec![("requestId", Value::String(id.clone())), ("status", Value::String(status.clone()))];
        members.extend(error.clone().map(|e| ("errorType", Value::String(e))));
        members.extend(duration.map(|d| ("metrics", object_of(vec![("durationMs", num(d))]))));
        let error_type = error.filter(|e| !e.is_empty());
        let status = Status::parse(&status);
        let expected = Record::RuntimeDone { time_ms: None, request_id: id, status, error_type, duration_ms: duration };
        ("platform.runtimeDone".into(), Some(object_of(members)), expected)
    })
}

fn report() -> impl Strategy<Value = Parts> {
    (nonempty_text(40), status_text(), report_metrics()).prop_map(|(id, status, metrics)| {
        let members = vec![
            ("requestId", Value::String(id.clone())),
            ("status", Value::String(status.clone())),
            ("metrics", metrics_value(&metrics)),
        ];
        let status = Status::parse(&status);
        let expected = Record::Report { time_ms: None, request_id: id, status, error_type: None, metrics };
        ("platform.report".into(), Some(object_of(members)), expected)
    })
}

fn text_log() -> impl Strategy<Value = Parts> {
    (text(60), any::<bool>(), prop::sample::select(vec!["", "\n", "\r\n"])).prop_map(|(line, function, end)| {
        let (stream, kind) =
            if function { (LogStream::Function, "function") } else { (LogStream::Extension, "extension") };
        let sent = format!("{line}{end}");
        let expected = Record::Log { time_ms: None, stream, body: LogBody::Text(without_line_end(&sent)) };
        (kind.into(), Some(Value::String(sent)), expected)
    })
}

fn json_log() -> impl Strategy<Value = Parts> {
    vec((text(8), value()), 0..5).prop_map(|members| {
        let object: miniserde::json::Object = members.into_iter().collect();
        let expected = Record::Log { time_ms: None, stream: LogStream::Function, body: LogBody::Json(object.clone()) };
        ("function".into(), Some(Value::Object(object)), expected)
    })
}

fn other_platform() -> impl Strategy<Value = Parts> {
    let kind = "[a-zA-Z]{1,12}"
        .prop_filter("a kind parsed on its own", |k| !matches!(k.as_str(), "start" | "runtimeDone" | "report"));
    (kind, proptest::option::of(value())).prop_map(|(kind, record)| {
        let kind = format!("platform.{kind}");
        let record_json = record.as_ref().map_or_else(|| "{}".to_string(), json::to_string);
        (kind.clone(), record, Record::Platform { time_ms: None, kind, record_json })
    })
}

/// A record of a known kind with random content, and what it must parse to.
fn case() -> impl Strategy<Value = Case> {
    let parts = prop_oneof![start(), runtime_done(), report(), text_log(), json_log(), other_platform()];
    (parts, proptest::option::of(0u64..253_402_300_799_999)).prop_map(|((kind, record, mut expected), time_ms)| {
        let mut members = vec![("type", Value::String(kind))];
        members.extend(record.map(|r| ("record", r)));
        members.extend(time_ms.map(|ms| ("time", Value::String(format_rfc3339_ms(ms)))));
        set_time(&mut expected, time_ms);
        Case { event: object_of(members), expected }
    })
}

fn set_time(record: &mut Record, time: Option<u64>) {
    match record {
        Record::Start { time_ms, .. }
        | Record::RuntimeDone { time_ms, .. }
        | Record::Report { time_ms, .. }
        | Record::Log { time_ms, .. }
        | Record::Platform { time_ms, .. } => *time_ms = time,
    }
}

/// Records compared through their Debug form, JSON bodies through their serialization (the
/// order of an object's members is the map's, on both sides).
fn same(got: &Record, expected: &Record) -> bool {
    match (got, expected) {
        (
            Record::Log { time_ms: t1, stream: s1, body: LogBody::Json(a) },
            Record::Log { time_ms: t2, stream: s2, body: LogBody::Json(b) },
        ) => t1 == t2 && s1 == s2 && json::to_string(a) == json::to_string(b),
        _ => format!("{got:?}") == format!("{expected:?}"),
    }
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn any_bytes_are_parsed_or_counted(body in vec(any::<u8>(), 0..512)) {
        check_body(&body)?;
    }

    #[test]
    fn any_json_is_parsed_or_counted(values in vec(value(), 0..6), ws in json_ws()) {
        let array = Value::Array(values.clone().into_iter().collect());
        let body = format!("{ws}{}{ws}", json::to_string(&array));
        check_body(body.as_bytes())?;
        let batch = parse_batch(body.as_bytes());
        // Inside an array, every element is exactly one of: a record, malformed, unknown.
        prop_assert_eq!(batch.records.len() + batch.malformed + batch.unknown, values.len());
    }

    #[test]
    fn well_formed_events_read_back_as_built(cases in vec(case(), 0..8)) {
        let body = json::to_string(&Value::Array(cases.iter().map(|c| c.event.clone()).collect()));
        check_body(body.as_bytes())?;
        let batch = parse_batch(body.as_bytes());
        prop_assert_eq!((batch.malformed, batch.unknown), (0, 0), "{}", body);
        prop_assert_eq!(batch.records.len(), cases.len());
        for (got, case) in batch.records.iter().zip(&cases) {
            prop_assert!(same(got, &case.expected), "got {:?}\nexpected {:?}\nfrom {}", got, case.expected, body);
        }
    }

    #[test]
    fn events_cut_anywhere_never_panic(cases in vec(case(), 1..4), cut in any::<prop::sample::Index>()) {
        let body = json::to_string(&Value::Array(cases.iter().map(|c| c.event.clone()).collect()));
        let bytes = body.as_bytes();
        check_body(&bytes[..cut.index(bytes.len())])?;
    }
}
