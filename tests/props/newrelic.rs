//! New Relic request shapes and lines (`newrelic`): any request id and any metric value (NaN,
//! infinities and extremes included) give a REPORT line of bounded length whose fields read
//! back; any events encode into a telemetry body whose JSON decodes back to them; error lines
//! carry their time, id and seconds; event ids never repeat.

use std::collections::HashSet;

use miniserde::json::{self, Value};
use proptest::collection::vec;
use proptest::prelude::*;

use newrelic_lambda_extension::newrelic::{
    encode_telemetry, failure_line, platform_fault_line, report_line, timeout_line, Context, EventIds, TelemetryEvent,
};
use newrelic_lambda_extension::telemetry::ReportMetrics;
use newrelic_lambda_extension::timefmt::format_rfc3339_ms;

use crate::json_gen::text;
use crate::support::config;

/// Most characters `{:.2}` writes for one f64 (309 integer digits, a sign, `.00`).
const MAX_NUMBER_CHARS: usize = 313;

fn any_f64() -> impl Strategy<Value = f64> {
    prop_oneof![
        4 => (0u64..100_000_000).prop_map(|n| n as f64 / 100.0),
        1 => any::<f64>(),
        1 => prop::sample::select(vec![f64::NAN, f64::INFINITY, f64::NEG_INFINITY, f64::MAX, f64::MIN, -0.0, 0.004, 0.005]),
    ]
}

fn metrics() -> impl Strategy<Value = ReportMetrics> {
    let m = || proptest::option::of(any_f64());
    (m(), m(), m(), m(), m(), m()).prop_map(|(d, b, mem, max, init, restore)| ReportMetrics {
        duration_ms: d,
        billed_duration_ms: b,
        memory_size_mb: mem,
        max_memory_used_mb: max,
        init_duration_ms: init,
        restore_duration_ms: restore,
    })
}

/// The value after `label` up to its unit, parsed as f64.
fn field(line: &str, label: &str) -> Option<f64> {
    let start = line.find(&format!("\t{label}: "))? + label.len() + 3;
    let rest = &line[start..];
    rest.split(' ').next()?.parse().ok()
}

fn get<'a>(object: &'a Value, key: &str) -> Option<&'a Value> {
    match object {
        Value::Object(members) => members.get(key),
        _ => None,
    }
}

fn string(value: Option<&Value>) -> Option<&str> {
    match value {
        Some(Value::String(text)) => Some(text),
        _ => None,
    }
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn report_lines_are_bounded_and_read_back(id in text(40), m in metrics()) {
        let line = report_line(&id, &m);
        let prefix = format!("REPORT RequestId: {id}");
        prop_assert!(line.starts_with(&prefix));
        prop_assert!(line.len() <= prefix.len() + 5 * (24 + MAX_NUMBER_CHARS), "{} bytes", line.len());
        let fields = [
            ("Duration", m.duration_ms, 2),
            ("Billed Duration", m.billed_duration_ms, 0),
            ("Memory Size", m.memory_size_mb, 0),
            ("Max Memory Used", m.max_memory_used_mb, 0),
            ("Init Duration", m.init_duration_ms, 2),
        ];
        for (label, value, decimals) in fields {
            let written = field(&line[prefix.len()..], label);
            match value {
                None => prop_assert!(written.is_none(), "{} written without a value: {}", label, line),
                Some(v) if v.is_nan() => prop_assert!(written.is_some_and(f64::is_nan), "{}", line),
                Some(v) if v.is_finite() && v.abs() < 1e12 => {
                    let tolerance = 0.5 * 10f64.powi(-decimals) + 1e-9;
                    prop_assert!(written.is_some_and(|w| (w - v).abs() <= tolerance), "{}: {} vs {:?}", label, v, written);
                }
                Some(_) => prop_assert!(written.is_some(), "{}", line),
            }
        }
        prop_assert!(!line.contains("Restore"), "restore duration is not part of the line");
    }

    #[test]
    fn telemetry_bodies_decode_back(
        ctx in (text(20), text(40), text(20), text(20)),
        events in vec((text(16), any::<u64>(), text(80)), 0..8),
    ) {
        let ctx = Context { function_name: ctx.0, invoked_function_arn: ctx.1, log_group_name: ctx.2, log_stream_name: ctx.3 };
        let events: Vec<TelemetryEvent> =
            events.into_iter().map(|(id, timestamp_ms, message)| TelemetryEvent { id, timestamp_ms, message }).collect();
        let body = encode_telemetry(&ctx, &events);
        let text_body = String::from_utf8(body).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let decoded: Value = json::from_str(&text_body).map_err(|_| TestCaseError::fail(format!("not JSON: {text_body}")))?;
        let context = get(&decoded, "context");
        prop_assert_eq!(string(context.and_then(|c| get(c, "function_name"))), Some(ctx.function_name.as_str()));
        prop_assert_eq!(string(context.and_then(|c| get(c, "invoked_function_arn"))), Some(ctx.invoked_function_arn.as_str()));
        let entry = string(get(&decoded, "entry")).ok_or_else(|| TestCaseError::fail("no entry string"))?;
        let entry: Value = json::from_str(entry).map_err(|_| TestCaseError::fail("entry is not JSON"))?;
        prop_assert_eq!(string(get(&entry, "logGroup")), Some(ctx.log_group_name.as_str()));
        let Some(Value::Array(log_events)) = get(&entry, "logEvents") else { return Err(TestCaseError::fail("no logEvents")) };
        prop_assert_eq!(log_events.len(), events.len());
        for (got, sent) in log_events.iter().zip(&events) {
            prop_assert_eq!(string(get(got, "id")), Some(sent.id.as_str()));
            prop_assert_eq!(string(get(got, "message")), Some(sent.message.as_str()));
            let timestamp = match get(got, "timestamp") {
                Some(Value::Number(n)) => json::to_string(n),
                _ => String::new(),
            };
            prop_assert_eq!(timestamp, sent.timestamp_ms.to_string());
        }
    }

    #[test]
    fn error_lines_carry_time_id_and_seconds(now in 0u64..253_402_300_799_999, id in text(40), secs in 0u64..1_000_000, error in text(20)) {
        let seconds = secs as f64 / 100.0;
        let time = format_rfc3339_ms(now);
        prop_assert_eq!(timeout_line(now, &id, seconds), format!("{time} {id} Task timed out after {seconds:.2} seconds"));
        let failure = failure_line(now, &id, seconds, &error);
        let expected_start = format!("{time} {id} Function invocation failed after {seconds:.2} seconds: ");
        prop_assert!(failure.starts_with(&expected_start), "{}", failure);
        prop_assert!(failure.ends_with(&error));
        prop_assert_eq!(platform_fault_line(&id), format!("RequestId: {id} AWS Lambda platform fault caused a shutdown"));
    }

    #[test]
    fn event_ids_never_repeat(seeds in vec(any::<u64>(), 1..6), per_seed in 1usize..200) {
        let mut seen = HashSet::new();
        let distinct: HashSet<u64> = seeds.iter().copied().collect();
        for seed in &distinct {
            let mut ids = EventIds::new(*seed);
            for _ in 0..per_seed {
                let id = ids.next_id();
                prop_assert!(id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()), "{}", id);
                prop_assert!(seen.insert(id.clone()), "repeated id {}", id);
            }
        }
    }
}
