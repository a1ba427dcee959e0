//! Wire text the simulator produces: Extensions API events and error bodies,
//! Telemetry API envelopes and `platform.*` records (spec §2, §4.4), ISO-8601
//! time. Pure functions of their arguments (plus `epoch_ms_at`, which reads
//! the clock); no state, no I/O.

use crate::util::now_ms;
use miniserde::json::{self, Array, Number, Object, Value};
use std::time::{Duration, Instant};

/// Builds a JSON object from pairs, skipping `Value::Null` (absent fields).
pub(super) fn obj(pairs: Vec<(&str, Value)>) -> Value {
    let mut o = Object::new();
    for (k, v) in pairs {
        if !matches!(v, Value::Null) {
            o.insert(k.to_string(), v);
        }
    }
    Value::Object(o)
}

pub(super) fn s(text: &str) -> Value {
    Value::String(text.to_string())
}

pub(super) fn opt_s(text: Option<&str>) -> Value {
    text.map_or(Value::Null, s)
}

pub(super) fn u(n: u64) -> Value {
    Value::Number(Number::U64(n))
}

/// Milliseconds as a float with microsecond precision, like Lambda's metrics.
pub(super) fn ms(d: Duration) -> Value {
    Value::Number(Number::F64((d.as_micros() as f64) / 1000.0))
}

pub(super) fn strs(items: &[String]) -> Value {
    let mut a = Array::new();
    a.extend(items.iter().map(|i| s(i)));
    Value::Array(a)
}

/// `{"errorMessage":…,"errorType":…}` as every platform error body.
pub(super) fn error_body(error_type: &str, message: &str) -> String {
    json::to_string(&obj(vec![("errorMessage", s(message)), ("errorType", s(error_type))]))
}

/// Wall-clock epoch ms of a monotonic instant (now if it is in the future).
pub(super) fn epoch_ms_at(at: Instant) -> u64 {
    now_ms().saturating_sub(Instant::now().saturating_duration_since(at).as_millis() as u64)
}

/// `1666361103165` → `2022-10-21T14:05:03.165Z`.
pub(super) fn iso(epoch_ms: u64) -> String {
    let secs = epoch_ms / 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Days since 1970-01-01 to a civil date, counting in 400-year eras that
    // start on March 1st so leap days fall at the end of each year.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60,
        epoch_ms % 1000
    )
}

/// The Telemetry API envelope around one record.
pub(super) fn envelope(kind: &str, record: Value) -> String {
    json::to_string(&obj(vec![("time", s(&iso(now_ms()))), ("type", s(kind)), ("record", record)]))
}

/// The subscription type an event belongs to.
pub(super) fn category(kind: &str) -> &str {
    if kind.starts_with("platform.") {
        "platform"
    } else {
        kind
    }
}

/// `8-4-4-4-12` hex digits.
pub(super) fn is_uuid(text: &str) -> bool {
    let lens: Vec<usize> = text.split('-').map(str::len).collect();
    lens == [8, 4, 4, 4, 12] && text.chars().all(|c| c == '-' || c.is_ascii_hexdigit())
}

/// The `tracing` object of events for an invoke that carried a trace header.
pub(super) fn tracing(header: Option<&str>, span_id: Option<&str>) -> Value {
    match header {
        Some(value) => obj(vec![("spanId", opt_s(span_id)), ("type", s("X-Amzn-Trace-Id")), ("value", s(value))]),
        None => Value::Null,
    }
}

/// The INVOKE event body.
pub(super) fn invoke_event(deadline_ms: u64, request_id: &str, arn: &str, trace: Option<&str>) -> String {
    json::to_string(&obj(vec![
        ("eventType", s("INVOKE")),
        ("deadlineMs", u(deadline_ms)),
        ("requestId", s(request_id)),
        ("invokedFunctionArn", s(arn)),
        ("tracing", tracing(trace, None)),
    ]))
}

/// The SHUTDOWN event body.
pub(super) fn shutdown_event(deadline_ms: u64, reason: &str) -> String {
    json::to_string(&obj(vec![
        ("eventType", s("SHUTDOWN")),
        ("deadlineMs", u(deadline_ms)),
        ("shutdownReason", s(reason)),
    ]))
}

/// Status fields shared by `runtimeDone` and `report`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Status {
    pub status: &'static str,
    pub error_type: Option<String>,
}

impl Status {
    pub fn success() -> Status {
        Status { status: "success", error_type: None }
    }

    pub fn new(status: &'static str, error_type: &str) -> Status {
        Status { status, error_type: Some(error_type.to_string()) }
    }
}

/// `platform.runtimeDone` with the two response spans of schema 2022-12-13.
pub(super) fn runtime_done(
    request_id: &str,
    st: &Status,
    started: Instant,
    responded: Instant,
    trace: &Value,
) -> Value {
    let latency = responded.saturating_duration_since(started);
    let spans = vec![
        obj(vec![
            ("name", s("responseLatency")),
            ("start", s(&iso(epoch_ms_at(started)))),
            ("durationMs", ms(latency)),
        ]),
        obj(vec![
            ("name", s("responseDuration")),
            ("start", s(&iso(epoch_ms_at(responded)))),
            ("durationMs", ms(Duration::ZERO)),
        ]),
    ];
    obj(vec![
        ("requestId", s(request_id)),
        ("status", s(st.status)),
        ("errorType", opt_s(st.error_type.as_deref())),
        ("metrics", obj(vec![("durationMs", ms(latency)), ("producedBytes", u(2))])),
        ("spans", Value::Array(spans.into_iter().collect())),
        ("tracing", trace.clone()),
    ])
}

/// Numbers of a `platform.report`.
pub(super) struct ReportMetrics {
    pub duration: Duration,
    pub memory_mb: u32,
    pub max_memory_used_mb: u64,
    pub init_duration: Option<Duration>,
    /// LMI: `durationMs` only.
    pub reduced: bool,
}

/// `platform.report`; billed duration is the duration rounded up to 1 ms.
pub(super) fn report(request_id: &str, st: &Status, m: &ReportMetrics, trace: &Value) -> Value {
    let billed = m.duration.as_micros().div_ceil(1000) as u64;
    let metrics = if m.reduced {
        obj(vec![("durationMs", ms(m.duration))])
    } else {
        obj(vec![
            ("durationMs", ms(m.duration)),
            ("billedDurationMs", u(billed.max(1))),
            ("memorySizeMB", u(u64::from(m.memory_mb))),
            ("maxMemoryUsedMB", u(m.max_memory_used_mb)),
            ("initDurationMs", m.init_duration.map_or(Value::Null, ms)),
        ])
    };
    obj(vec![
        ("requestId", s(request_id)),
        ("status", s(st.status)),
        ("errorType", opt_s(st.error_type.as_deref())),
        ("metrics", metrics),
        ("tracing", trace.clone()),
    ])
}

/// `initRuntimeDone` / `initReport` share these fields.
pub(super) fn init_done(init_type: &str, phase: &str, duration: Option<Duration>) -> Value {
    obj(vec![
        ("initializationType", s(init_type)),
        ("phase", s(phase)),
        ("status", s("success")),
        ("metrics", duration.map_or(Value::Null, |d| obj(vec![("durationMs", ms(d))]))),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(epoch_ms: u64, expected: &str) {
        assert_eq!(iso(epoch_ms), expected, "{epoch_ms}");
    }

    #[test]
    fn formats_iso_times() {
        check(0, "1970-01-01T00:00:00.000Z");
        check(1_666_361_103_165, "2022-10-21T14:05:03.165Z");
        check(951_782_400_000, "2000-02-29T00:00:00.000Z");
        check(4_102_444_799_999, "2099-12-31T23:59:59.999Z");
    }

    #[test]
    fn recognises_uuids_and_categories() {
        assert!(is_uuid("fe814ff9-2749-4b1d-84c4-e3636d692ff0"));
        assert!(!is_uuid("fe814ff9-2749-4b1d-84c4-e3636d692ff"));
        assert!(!is_uuid("not-a-uuid"));
        assert!(!is_uuid("ge814ff9-2749-4b1d-84c4-e3636d692ff0"));
        assert_eq!(category("platform.report"), "platform");
        assert_eq!(category("function"), "function");
    }

    #[test]
    fn events_omit_absent_fields() {
        assert_eq!(
            invoke_event(5, "r", "arn", None),
            r#"{"deadlineMs":5,"eventType":"INVOKE","invokedFunctionArn":"arn","requestId":"r"}"#
        );
        assert_eq!(
            shutdown_event(7, "spindown"),
            r#"{"deadlineMs":7,"eventType":"SHUTDOWN","shutdownReason":"spindown"}"#
        );
        let m = ReportMetrics {
            duration: Duration::from_micros(2_599_400),
            memory_mb: 128,
            max_memory_used_mb: 50,
            init_duration: None,
            reduced: false,
        };
        let text = json::to_string(&report("r", &Status::success(), &m, &Value::Null));
        assert!(text.contains(r#""billedDurationMs":2600"#), "{text}");
        assert!(!text.contains("initDurationMs") && !text.contains("errorType"), "{text}");
        let lmi = ReportMetrics { reduced: true, ..m };
        let text = json::to_string(&report("r", &Status::success(), &lmi, &Value::Null));
        assert!(text.contains(r#""metrics":{"durationMs":2599.4}"#), "{text}");
    }
}
