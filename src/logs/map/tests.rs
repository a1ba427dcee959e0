//! The record → log mapping as a table over real Telemetry API records: `cases.json` (one
//! record each, with the selection and the current invocation), and two whole streams exactly
//! as Lambda POSTs them (`*.batch.json`: text and JSON log format, Init through REPORT) with
//! every entry expected in order (`*.expected.json`). All in `tests/data/logs/`.

use miniserde::json::{self, Value};

use super::*;
use crate::telemetry::parse_batch;

const NOW_MS: u64 = 1_700_000_000_000;

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/data/logs/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn parse(text: &str) -> Value {
    json::from_str(text).unwrap_or_else(|e| panic!("fixture is not JSON: {e}"))
}

fn field<'a>(value: &'a Value, key: &str) -> &'a Value {
    match value {
        Value::Object(object) => object.get(key).unwrap_or_else(|| panic!("fixture lacks {key:?}")),
        _ => panic!("fixture: expected an object around {key:?}"),
    }
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => panic!("fixture: expected a string or null, got {}", json::to_string(other)),
    }
}

fn selection(list: &str) -> LogSelection {
    LogSelection {
        function: list.contains("function"),
        extension: list.contains("extension"),
        platform: list.contains("platform"),
    }
}

/// `{"timestamp","level","request_id","message","extra":[[name, value]…]}` or `null`; an
/// extra given as a JSON string is [`Attr::Text`], anything else its literal.
fn expected_entry(value: &Value) -> Option<LogEntry> {
    if let Value::Null = value {
        return None;
    }
    let timestamp_ms = match field(value, "timestamp") {
        Value::Number(n) => n.to_string().parse().unwrap_or_else(|e| panic!("timestamp: {e}")),
        _ => panic!("fixture: timestamp must be a number"),
    };
    let Value::Array(pairs) = field(value, "extra") else { panic!("fixture: extra must be an array") };
    let extra = pairs
        .iter()
        .map(|pair| match pair {
            Value::Array(kv) => match kv.as_slice() {
                [Value::String(key), Value::String(v)] => (key.clone(), Attr::Text(v.clone())),
                [Value::String(key), v] => (key.clone(), Attr::Literal(json::to_string(v))),
                _ => panic!("fixture: extra pairs are [name, value]"),
            },
            _ => panic!("fixture: extra pairs are arrays"),
        })
        .collect();
    Some(LogEntry {
        timestamp_ms,
        message: text(field(value, "message")).unwrap_or_default(),
        request_id: text(field(value, "request_id")),
        level: text(field(value, "level")).unwrap_or_default(),
        trace_id: None,
        extra,
    })
}

/// The records of one Telemetry API delivery body; the fixture must parse cleanly.
fn records(body: &str) -> Vec<Record> {
    let batch = parse_batch(body.as_bytes());
    assert_eq!((batch.malformed, batch.unknown), (0, 0), "fixture batch must parse cleanly");
    batch.records
}

#[track_caller]
fn check(mapper: &mut Mapper, record: &Record, expected: Option<LogEntry>, name: &str) {
    assert_eq!(mapper.map(record, NOW_MS), expected, "{name}");
}

#[test]
fn maps_each_real_record_per_the_table() {
    let Value::Array(cases) = parse(&fixture("cases.json")) else { panic!("cases.json is an array") };
    assert!(cases.len() >= 20);
    for case in &cases {
        let name = text(field(case, "name")).unwrap_or_default();
        let mut mapper = Mapper::new(selection(&text(field(case, "select")).unwrap_or_default()));
        if let Some(id) = text(field(case, "current")) {
            mapper.map(&Record::Start { time_ms: Some(0), request_id: id }, NOW_MS);
        }
        let event = json::to_string(field(case, "event"));
        let [record] = records(&format!("[{event}]")).try_into().unwrap_or_else(|_| panic!("{name}: one record"));
        check(&mut mapper, &record, expected_entry(field(case, "expected")), &name);
    }
}

fn check_stream(name: &str) {
    let records = records(&fixture(&format!("{name}.batch.json")));
    let Value::Array(expected) = parse(&fixture(&format!("{name}.expected.json"))) else { panic!("array") };
    let mut mapper = Mapper::new(selection("function,extension,platform"));
    let actual: Vec<LogEntry> = records.iter().filter_map(|r| mapper.map(r, NOW_MS)).collect();
    let expected: Vec<LogEntry> = expected.iter().filter_map(expected_entry).collect();
    assert_eq!(actual.len(), expected.len(), "{name}: entry count");
    for (i, (a, e)) in actual.iter().zip(&expected).enumerate() {
        assert_eq!(a, e, "{name}: entry {i}");
    }
}

#[test]
fn maps_a_text_format_stream_from_init_to_report() {
    check_stream("text-format");
}

#[test]
fn maps_a_json_format_stream_from_init_to_report() {
    check_stream("json-format");
}

#[test]
fn start_moves_the_current_id_even_when_platform_logs_are_off() {
    let mut mapper = Mapper::new(selection("function"));
    let start = Record::Start { time_ms: Some(1), request_id: "a".into() };
    check(&mut mapper, &start, None, "start not forwarded");
    assert_eq!(mapper.current_request_id(), Some("a"));
    let line = Record::Log { time_ms: Some(2), stream: LogStream::Function, body: LogBody::Text("x".into()) };
    check(&mut mapper, &line, Some(LogEntry::text(2, "x", Some("a"))), "attributed to a");
}

#[test]
fn counts_own_lines_it_skips() {
    let mut mapper = Mapper::new(selection("extension"));
    for line in ["[NR_EXT] DEBUG a", "[NR_EXT] TRACE b", "[NR_EXT] INFO c", "[NR_EXT]DEBUG d"] {
        let record = Record::Log { time_ms: Some(1), stream: LogStream::Extension, body: LogBody::Text(line.into()) };
        mapper.map(&record, NOW_MS);
    }
    assert_eq!(mapper.own_lines_skipped, 3);
    // The function stream is the user's: a user line that looks like ours is still theirs.
    let mut mapper = Mapper::new(selection("function"));
    let record =
        Record::Log { time_ms: Some(1), stream: LogStream::Function, body: LogBody::Text("[NR_EXT] DEBUG x".into()) };
    assert!(mapper.map(&record, NOW_MS).is_some());
}

#[test]
fn a_huge_message_is_truncated_never_dropped() {
    let mut mapper = Mapper::new(selection("function"));
    let line = "é".repeat(100_000); // 200,000 bytes, two per character
    let record = Record::Log { time_ms: Some(5), stream: LogStream::Function, body: LogBody::Text(line) };
    let entry = mapper.map(&record, NOW_MS).unwrap_or_else(|| panic!("kept"));
    assert!(entry.message.len() <= crate::logs::encode::MAX_MESSAGE_BYTES);
    assert!(entry.message.starts_with("éé"));
    let kept = entry.message.find('…').unwrap_or(0);
    assert!(entry.message.ends_with(&format!("…[truncated {} bytes]", 200_000 - kept)), "{}", &entry.message[kept..]);
}
