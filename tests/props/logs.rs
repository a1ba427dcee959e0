//! Log encoding (`logs::encode`, `logs::map`): any entries encode into a Log API body whose
//! JSON decodes back to them, common attributes included; cut into bodies under a size limit,
//! every body stays under it (unless one entry alone is larger) and no entry is lost or
//! reordered; truncation stays within its limit and says how much it cut; an entry of any size
//! fits one request after the per-entry limits; any record maps without a panic.

use std::collections::BTreeMap;

use miniserde::json::{self, Number, Value};
use proptest::collection::vec;
use proptest::prelude::*;

use newrelic_lambda_extension::config::LogSelection;
use newrelic_lambda_extension::logs::encode::{
    body_from, encoded_len, is_reserved, limit_entry, truncate_with_marker, MAX_ATTRIBUTE_NAME_BYTES,
    MAX_EXTRA_ATTRIBUTES, MAX_MESSAGE_BYTES,
};
use newrelic_lambda_extension::logs::{encode_logs, Attr, Common, LogEntry, Mapper, MAX_BODY_BYTES};
use newrelic_lambda_extension::telemetry::{LogBody, LogStream, Record, ReportMetrics, Status};

use crate::json_gen::{nonempty_text, number, text, value};
use crate::support::config;

fn attr() -> impl Strategy<Value = Attr> {
    prop_oneof![
        text(20).prop_map(Attr::Text),
        number().prop_map(|n| Attr::Literal(json::to_string(&n))),
        any::<bool>().prop_map(|b| Attr::Literal(b.to_string())),
    ]
}

/// An entry whose extra names are distinct and not reserved (what the mapper produces).
fn entry() -> impl Strategy<Value = LogEntry> {
    let extras = vec((nonempty_text(12), attr()), 0..4).prop_map(|extras| {
        let mut seen = std::collections::HashSet::new();
        extras.into_iter().filter(|(k, _)| !is_reserved(k) && seen.insert(k.clone())).collect::<Vec<_>>()
    });
    let parts = (any::<u64>(), text(60), proptest::option::of(text(20)), text(10), proptest::option::of(text(20)));
    (parts, extras).prop_map(|((timestamp_ms, message, request_id, level, trace_id), extra)| LogEntry {
        timestamp_ms,
        message,
        request_id,
        level,
        trace_id,
        extra,
    })
}

fn pairs() -> impl Strategy<Value = Vec<(String, String)>> {
    vec((text(10), text(10)), 0..4)
}

/// `Common::new`'s arguments: function name, ARN, tags, labels.
type CommonArgs = (String, String, Vec<(String, String)>, Vec<(String, String)>);

fn common() -> impl Strategy<Value = CommonArgs> {
    (text(20), text(40), pairs(), pairs())
}

/// The common attributes `Common::new` must produce: ours first, then tags, then labels as
/// `tags.<type>`; empty names skipped; the first of two equal names wins.
fn expected_common(
    name: &str,
    arn: &str,
    tags: &[(String, String)],
    labels: &[(String, String)],
) -> BTreeMap<String, String> {
    let plugin = format!("newrelic-lambda-extension:{}", env!("CARGO_PKG_VERSION"));
    let mut all = vec![("plugin".to_string(), plugin)];
    all.extend(
        [("faas.name", name), ("faas.arn", arn)]
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| (k.to_string(), v.to_string())),
    );
    all.extend(tags.iter().cloned());
    all.extend(labels.iter().map(|(k, v)| (format!("tags.{k}"), v.clone())));
    let mut out = BTreeMap::new();
    for (k, v) in all.into_iter().filter(|(k, _)| !k.is_empty()) {
        out.entry(k).or_insert(v);
    }
    out
}

/// A decoded body: `(common attributes, logs)`.
fn decode(body: &[u8]) -> Result<(BTreeMap<String, String>, Vec<Value>), TestCaseError> {
    let fail = |why: &str| TestCaseError::fail(format!("{why}: {}", String::from_utf8_lossy(body)));
    let text = std::str::from_utf8(body).map_err(|_| fail("not UTF-8"))?;
    let Ok(Value::Array(blocks)) = json::from_str::<Value>(text) else { return Err(fail("not a JSON array")) };
    let [Value::Object(block)] = blocks.as_slice() else { return Err(fail("not one block")) };
    let Some(Value::Object(common)) = block.get("common") else { return Err(fail("no common")) };
    let Some(Value::Object(attributes)) = common.get("attributes") else { return Err(fail("no attributes")) };
    let Some(Value::Array(logs)) = block.get("logs") else { return Err(fail("no logs")) };
    let mut out = BTreeMap::new();
    for (k, v) in attributes.iter() {
        let Value::String(v) = v else { return Err(fail("a non-string common attribute")) };
        out.insert(k.clone(), v.clone());
    }
    Ok((out, logs.to_vec()))
}

/// Checks one decoded log against the entry it came from.
fn check_log(log: &Value, entry: &LogEntry) -> Result<(), TestCaseError> {
    let Value::Object(log) = log else { return Err(TestCaseError::fail("log is not an object")) };
    prop_assert!(matches!(log.get("timestamp"), Some(Value::Number(Number::U64(t))) if *t == entry.timestamp_ms));
    prop_assert!(matches!(log.get("message"), Some(Value::String(m)) if *m == entry.message));
    let Some(Value::Object(attributes)) = log.get("attributes") else {
        return Err(TestCaseError::fail("no attributes"));
    };
    let text = |key: &str| match attributes.get(key) {
        Some(Value::String(s)) => Some(s.clone()),
        _ => None,
    };
    prop_assert_eq!(text("aws.lambda_request_id"), entry.request_id.clone());
    prop_assert_eq!(text("faas.execution"), entry.request_id.clone());
    prop_assert_eq!(text("level"), Some(entry.level.clone()));
    prop_assert_eq!(text("trace.id"), entry.trace_id.clone());
    let ours = 2 * usize::from(entry.request_id.is_some()) + 1 + usize::from(entry.trace_id.is_some());
    prop_assert_eq!(attributes.len(), ours + entry.extra.len());
    for (key, value) in &entry.extra {
        match (value, attributes.get(key)) {
            (Attr::Text(sent), Some(Value::String(got))) => prop_assert_eq!(got, sent),
            (Attr::Literal(sent), Some(got)) => prop_assert_eq!(&json::to_string(got), sent),
            (_, got) => return Err(TestCaseError::fail(format!("{key}: {got:?} for {value:?}"))),
        }
    }
    Ok(())
}

/// Any record a Telemetry API batch can hold.
fn record() -> impl Strategy<Value = Record> {
    let time = proptest::option::of(any::<u64>());
    prop_oneof![
        (time.clone(), text(40)).prop_map(|(time_ms, request_id)| Record::Start { time_ms, request_id }),
        (time.clone(), text(40), text(10)).prop_map(|(time_ms, request_id, s)| Record::RuntimeDone {
            time_ms,
            request_id,
            status: Status::parse(&s),
            error_type: None,
            duration_ms: None,
        }),
        (time.clone(), text(40), proptest::option::of(any::<f64>())).prop_map(|(time_ms, request_id, d)| {
            Record::Report {
                time_ms,
                request_id,
                status: Status::Success,
                error_type: None,
                metrics: ReportMetrics { duration_ms: d, ..ReportMetrics::default() },
            }
        }),
        (time.clone(), any::<bool>(), text(200)).prop_map(|(time_ms, f, line)| Record::Log {
            time_ms,
            stream: if f { LogStream::Function } else { LogStream::Extension },
            body: LogBody::Text(line),
        }),
        (time.clone(), vec((text(12), value()), 0..6)).prop_map(|(time_ms, members)| Record::Log {
            time_ms,
            stream: LogStream::Function,
            body: LogBody::Json(members.into_iter().collect()),
        }),
        (time, text(12), text(60)).prop_map(|(time_ms, kind, record_json)| Record::Platform {
            time_ms,
            kind,
            record_json
        }),
    ]
}

/// A long message: a random piece repeated, so escaping can multiply its size.
fn long_text() -> impl Strategy<Value = String> {
    (text(4), 0usize..80_000).prop_map(|(piece, n)| piece.repeat(n))
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn bodies_decode_back(c in common(), entries in vec(entry(), 0..6)) {
        let common = Common::new(&c.0, &c.1, &c.2, &c.3);
        let body = encode_logs(&common, &entries);
        let (attributes, logs) = decode(&body)?;
        prop_assert_eq!(attributes, expected_common(&c.0, &c.1, &c.2, &c.3));
        prop_assert_eq!(logs.len(), entries.len());
        for (log, entry) in logs.iter().zip(&entries) {
            check_log(log, entry)?;
        }
    }

    #[test]
    fn cut_bodies_stay_under_the_limit_and_lose_nothing(entries in vec(entry(), 0..20), limit in 64usize..3000) {
        let common = Common::new("f", "arn", &[], &[]);
        let (mut rest, mut decoded) = (entries.as_slice(), Vec::new());
        while !rest.is_empty() {
            let (count, body) = body_from(&common, rest, limit);
            prop_assert!(count >= 1 && count <= rest.len());
            prop_assert!(count == 1 || body.len() <= limit, "{} entries in {} bytes over {}", count, body.len(), limit);
            decoded.extend(decode(&body)?.1);
            rest = &rest[count..];
        }
        prop_assert_eq!(decoded.len(), entries.len());
        for (log, entry) in decoded.iter().zip(&entries) {
            check_log(log, entry)?;
        }
    }

    #[test]
    fn truncation_stays_within_its_limit(original in text(300), limit in 40usize..400) {
        let mut cut = original.clone();
        let changed = truncate_with_marker(&mut cut, limit);
        prop_assert_eq!(changed, original.len() > limit);
        if !changed {
            prop_assert_eq!(&cut, &original);
            return Ok(());
        }
        prop_assert!(cut.len() <= limit, "{} > {}", cut.len(), limit);
        let (kept, marker) = cut.split_once("…[truncated ").ok_or_else(|| TestCaseError::fail("no marker"))?;
        prop_assert!(original.starts_with(kept));
        prop_assert_eq!(marker, format!("{} bytes]", original.len() - kept.len()));
    }

    #[test]
    fn any_record_maps_within_the_limits(records in vec(record(), 0..8), now in any::<u64>()) {
        let mut all = Mapper::new(LogSelection { function: true, extension: true, platform: true });
        let mut none = Mapper::new(LogSelection::default());
        for record in &records {
            if let Some(entry) = all.map(record, now) {
                prop_assert!(entry.message.len() <= MAX_MESSAGE_BYTES && entry.level.len() <= 256);
                prop_assert!(entry.extra.len() <= MAX_EXTRA_ATTRIBUTES);
                prop_assert!(entry.extra.iter().all(|(k, _)| !k.is_empty() && k.len() <= MAX_ATTRIBUTE_NAME_BYTES && !is_reserved(k)));
                let body = encode_logs(&Common::new("f", "", &[], &[]), std::slice::from_ref(&entry));
                prop_assert_eq!(decode(&body)?.1.len(), 1);
            }
            prop_assert!(none.map(record, now).is_none());
        }
        prop_assert_eq!(all.current_request_id(), none.current_request_id());
    }
}

proptest! {
    // Entries of up to a few megabytes: fewer cases.
    #![proptest_config(config(24))]

    #[test]
    fn any_entry_fits_one_request_after_the_limits(
        message in long_text(),
        level in long_text(),
        id in long_text(),
        extras in vec((text(300), long_text()), 0..3),
        tags in vec(("[a-z]{1,8}", "[a-z]{0,40}"), 0..2000),
    ) {
        let extra = extras.into_iter().map(|(k, v)| (k, Attr::Text(v))).collect();
        let mut entry = LogEntry { timestamp_ms: u64::MAX, message, request_id: Some(id), level, trace_id: None, extra };
        limit_entry(&mut entry);
        prop_assert!(entry.message.len() <= MAX_MESSAGE_BYTES);
        // The common block is documented as up to 100 kB of tags.
        let mut tag_bytes = 0;
        let tags: Vec<(String, String)> = tags.into_iter().take_while(|(k, v)| { tag_bytes += k.len() + v.len() + 6; tag_bytes <= 100_000 }).collect();
        let common = Common::new("f", "arn", &tags, &[]);
        let (count, body) = body_from(&common, std::slice::from_ref(&entry), MAX_BODY_BYTES);
        prop_assert_eq!(count, 1);
        prop_assert!(body.len() <= MAX_BODY_BYTES, "one entry of {} bytes makes a body of {}", encoded_len(&entry), body.len());
    }
}
