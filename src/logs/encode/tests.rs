//! The exact §6 body over a real stream, the size rules (truncation, attribute caps, body
//! cutting) and JSON escaping, checked by parsing what we produce.

use miniserde::json::{self, Value};

use super::*;
use crate::config::LogSelection;
use crate::json::push_str as push_json_str;
use crate::logs::{Mapper, MAX_BODY_BYTES};
use crate::telemetry::parse_batch;

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/data/logs/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn common() -> Common {
    let pairs = |list: &[(&str, &str)]| list.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>();
    Common::new(
        "orders-fn",
        "arn:aws:lambda:eu-west-1:123456789012:function:orders-fn",
        &pairs(&[("env", "prod"), ("team", "orders")]),
        &pairs(&[("owner", "alice")]),
    )
}

/// The messages in a body, after checking it is one `{common, logs}` block of valid JSON.
fn messages(body: &[u8]) -> Vec<String> {
    let text = std::str::from_utf8(body).unwrap_or_else(|e| panic!("body is not UTF-8: {e}"));
    let Ok(Value::Array(blocks)) = json::from_str::<Value>(text) else { panic!("body is not a JSON array") };
    let [Value::Object(block)] = blocks.as_slice() else { panic!("one block") };
    assert!(matches!(block.get("common"), Some(Value::Object(_))));
    let Some(Value::Array(logs)) = block.get("logs") else { panic!("logs array") };
    logs.iter()
        .map(|log| match log {
            Value::Object(o) => match o.get("message") {
                Some(Value::String(m)) => m.clone(),
                _ => panic!("message string"),
            },
            _ => panic!("log object"),
        })
        .collect()
}

#[test]
fn encodes_the_exact_log_api_shape() {
    let batch = parse_batch(fixture("json-format.batch.json").as_bytes());
    let mut mapper = Mapper::new(LogSelection { function: true, ..LogSelection::default() });
    let mut entries: Vec<LogEntry> = batch.records.iter().filter_map(|r| mapper.map(r, 0)).collect();
    for entry in &mut entries {
        if entry.request_id.is_some() {
            entry.trace_id = Some("4bf92f3577b34da6a3ce929d0e0e4736".into());
        }
    }
    let expected = fixture("json-format.body.json").trim_end().replace("{version}", env!("CARGO_PKG_VERSION"));
    assert_eq!(String::from_utf8_lossy(&encode_logs(&common(), &entries)), expected);
}

#[test]
fn common_attributes_skip_unknowns_and_duplicates() {
    let tags = vec![
        ("plugin".to_string(), "mine".to_string()),
        ("env".to_string(), "prod".to_string()),
        ("blank".to_string(), String::new()),
    ];
    let labels = vec![("env".to_string(), "staging".to_string())];
    let common = Common::new("fn", "", &tags, &labels);
    let names: Vec<String> = common.attributes().iter().map(|(k, v)| format!("{k}={v}")).collect();
    let plugin = format!("plugin=newrelic-lambda-extension:{}", env!("CARGO_PKG_VERSION"));
    assert_eq!(names, [plugin.as_str(), "faas.name=fn", "env=prod", "blank=", "tags.env=staging"]);
}

#[test]
fn hand_built_extras_never_repeat_our_names() {
    let mut entry = LogEntry::text(1, "m", Some("r"));
    entry.extra = vec![("level".into(), Attr::Text("x".into())), ("faas.execution".into(), Attr::Literal("1".into()))];
    let mut out = String::new();
    encode_entry(&entry, &mut out);
    assert_eq!(
        out,
        r#"{"timestamp":1,"message":"m","attributes":{"aws.lambda_request_id":"r","faas.execution":"r","level":"INFO"}}"#
    );
}

#[track_caller]
fn check_escape(text: &str, expected: &str) {
    let mut out = String::new();
    push_json_str(&mut out, text);
    assert_eq!(out, expected);
    assert_eq!(json::from_str::<String>(&out).ok().as_deref(), Some(text), "round trip");
}

#[test]
fn escapes_json_strings() {
    check_escape("plain", r#""plain""#);
    check_escape("a\"b\\c", r#""a\"b\\c""#);
    check_escape("l1\nl2\r\tx", r#""l1\nl2\r\tx""#);
    check_escape("\u{0}\u{1f}\u{7f}", "\"\\u0000\\u001f\u{7f}\"");
    check_escape("héllo 日本 🦀", "\"héllo 日本 🦀\"");
    check_escape("", r#""""#);
}

#[track_caller]
fn check_truncate(text: &str, limit: usize, expected: &str) {
    let mut s = text.to_string();
    assert_eq!(truncate_with_marker(&mut s, limit), text != expected);
    assert_eq!(s, expected);
    assert!(s.len() <= limit || s == text);
}

#[test]
fn truncates_on_char_boundaries_with_a_marker() {
    let marker_len = "…[truncated 40 bytes]".len(); // 23
    check_truncate("short", 10, "short");
    check_truncate(&"a".repeat(50), 50, &"a".repeat(50));
    check_truncate(&"a".repeat(51), 40, &format!("{}…[truncated {} bytes]", "a".repeat(40 - marker_len), 51 - 17));
    // "é" is two bytes: a cut in the middle of one moves back to its start.
    let accents = "é".repeat(30); // 60 bytes
    let mut s = accents.clone();
    truncate_with_marker(&mut s, 40); // room for 17 bytes → 8 accents (16 bytes)
    assert_eq!(s, format!("{}…[truncated 44 bytes]", "é".repeat(8)));
    assert!(s.len() <= 40);
}

#[test]
fn limits_extras_by_count_name_and_size() {
    let mut entry = LogEntry::text(1, "m", None);
    entry.extra = (0..300).map(|i| (format!("k{i:03}"), Attr::Literal(i.to_string()))).collect();
    entry.extra.push(("n".repeat(256), Attr::Text("long name".into())));
    entry.extra.push(("eventType".into(), Attr::Text("reserved".into())));
    limit_entry(&mut entry);
    assert_eq!(entry.extra.len(), MAX_EXTRA_ATTRIBUTES);
    assert_eq!(entry.extra.first().map(|(k, _)| k.as_str()), Some("k000"));

    // Worst case: a message of control characters (6 bytes each escaped) and many huge extras.
    let mut entry = LogEntry::text(1, "\u{1}".repeat(500_000), Some(&"r".repeat(10_000)));
    entry.level = "\u{1}".repeat(10_000);
    entry.extra = (0..50).map(|i| (format!("k{i}"), Attr::Text("\u{2}".repeat(200_000)))).collect();
    limit_entry(&mut entry);
    assert!(encoded_len(&entry) <= MAX_ENTRY_BYTES, "{}", encoded_len(&entry));
    assert!(entry.message.ends_with("bytes]"));
    let (count, body) = body_from(&common(), [&entry], MAX_BODY_BYTES);
    assert!(entry.extra.is_empty());
    assert_eq!(count, 1);
    assert!(body.len() <= MAX_BODY_BYTES);
    assert_eq!(messages(&body).len(), 1);
}

#[test]
fn a_huge_extra_does_not_push_out_the_small_ones_after_it() {
    let mut entry = LogEntry::text(1, "m", None);
    let huge = || Attr::Text("\u{2}".repeat(200_000)); // cut to 128,000 bytes, ~768 kB escaped
    entry.extra = vec![("a".into(), huge()), ("b".into(), huge()), ("c".into(), Attr::Literal("7".into()))];
    limit_entry(&mut entry);
    let names: Vec<&str> = entry.extra.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(names, ["a", "c"]);
    assert!(encoded_len(&entry) <= MAX_ENTRY_BYTES);
}

/// Deterministic pseudo-random sizes, so the cuts land everywhere.
fn entries(count: usize, seed: u64) -> Vec<LogEntry> {
    let mut state = seed;
    (0..count)
        .map(|i| {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            let len = (state >> 33) as usize % 3000;
            LogEntry::text(i as u64, format!("{i}:{}", "x\"é\n".repeat(len / 4)), Some("req"))
        })
        .collect()
}

#[test]
fn cuts_bodies_within_the_limit_keeping_every_entry_in_order() {
    for (max, seed) in [(2_000, 1), (10_000, 2), (MAX_BODY_BYTES, 3)] {
        let all = entries(2_000, seed);
        let mut rest: &[LogEntry] = &all;
        let mut seen = Vec::new();
        while !rest.is_empty() {
            let (count, body) = body_from(&common(), rest, max);
            assert!(count >= 1);
            // Only a single entry larger than the limit may exceed it.
            assert!(body.len() <= max || count == 1, "{} > {max} with {count} entries", body.len());
            let got = messages(&body);
            assert_eq!(got.len(), count);
            seen.extend(got);
            rest = rest.get(count..).unwrap_or(&[]);
        }
        let want: Vec<String> = all.iter().map(|e| e.message.clone()).collect();
        assert_eq!(seen, want);
    }
}

#[test]
fn a_full_body_compresses_under_the_compressed_limit() {
    let all = entries(5_000, 9);
    let (count, body) = body_from(&common(), &all, MAX_BODY_BYTES);
    assert!(count < all.len() && body.len() > MAX_BODY_BYTES - 6_000);
    let gz = crate::sender::gzip(&body, crate::sender::STORE_LOGS_BELOW).unwrap_or_default();
    assert!(!gz.is_empty() && gz.len() <= crate::sender::MAX_COMPRESSED_BYTES);
}
