//! The Log API request body (`newrelic.md` §6) and the size rules that keep every entry and
//! every body within New Relic's limits: message truncation with a marker, attribute caps, and
//! cutting a run of entries into bodies of at most a given size.
//!
//! Pure and allocation-light: JSON is written by hand into one `String` per body (the shape is
//! fixed, and attribute maps must keep our order), strings escaped by [`crate::json::push_str`]. It
//! never drops an entry: an entry too large for any body is still encoded alone, and the
//! sender's 413 decides (`deliver.rs`).

use std::fmt::Write as _;

use super::{Attr, LogEntry};
use crate::json::push_str as push_json_str;
use crate::newrelic::EXTENSION_NAME;

/// Longest message (and extra attribute value) sent, in bytes, marker included. New Relic's Log
/// event data docs (docs.newrelic.com/docs/logs/log-api/log-event-data): "Any attribute with
/// more than 4,094 characters will have up to 128KB of data stored in a blob … Data beyond
/// 128KB will be truncated." The first 4,094 characters stay searchable; we keep up to the blob
/// limit and cut there ourselves, at 128,000 bytes (under 128 KB whether K is 1,000 or 1,024,
/// and bytes ≥ characters), so the cut is on a character boundary and our marker survives.
pub const MAX_MESSAGE_BYTES: usize = 128_000;

/// Same docs: at most 255 attributes per event. Ours (4) and the common ones (3 + tags + labels)
/// come first; a JSON record's extra fields beyond this many are not sent.
pub const MAX_EXTRA_ATTRIBUTES: usize = 200;

/// Same docs: attribute names of at most 255 characters; longer extra names are not sent.
pub const MAX_ATTRIBUTE_NAME_BYTES: usize = 255;

/// Request ids and levels come from user JSON; nothing that long is a real one.
pub const MAX_SHORT_VALUE_BYTES: usize = 256;

/// Largest encoded entry: with a message at [`MAX_MESSAGE_BYTES`] even fully `\u00XX`-escaped
/// (768,000 bytes), the ids and a common block of up to 100 kB, one entry always fits a
/// [`super::MAX_BODY_BYTES`] body. Extras that do not fit are left out.
pub const MAX_ENTRY_BYTES: usize = 890_000;

/// Attribute names an extra field may not use: ours, the record fields already consumed, and
/// names the Log API drops (`accountId`, `appId`, `eventType`) or treats specially (`entity.*`,
/// `timestamp`, which would override the record's time).
const RESERVED: [&str; 11] = [
    "aws.lambda_request_id",
    "faas.execution",
    "level",
    "trace.id",
    "message",
    "timestamp",
    "requestId",
    "AWSRequestId",
    "accountId",
    "appId",
    "eventType",
];

/// True when an extra attribute may not be called `name`.
pub fn is_reserved(name: &str) -> bool {
    RESERVED.contains(&name) || name.starts_with("entity.")
}

const SUFFIX: &str = "]}]";

/// The `common.attributes` of every request, encoded once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Common {
    attributes: Vec<(String, String)>,
    /// `[{"common":{"attributes":{…}},"logs":[`
    prefix: String,
}

impl Common {
    /// `plugin`, `faas.name`, `faas.arn` (both left out while unknown), `NR_TAGS` unprefixed,
    /// `NEW_RELIC_LABELS` as `tags.<type>`. The first of two equal names wins.
    pub fn new(
        function_name: &str,
        function_arn: &str,
        tags: &[(String, String)],
        labels: &[(String, String)],
    ) -> Common {
        let mut attributes: Vec<(String, String)> = Vec::new();
        let mut add = |key: String, value: &str| {
            if !key.is_empty() && !attributes.iter().any(|(k, _)| *k == key) {
                attributes.push((key, value.to_string()));
            }
        };
        add("plugin".into(), &format!("{EXTENSION_NAME}:{}", env!("CARGO_PKG_VERSION")));
        // Until the first INVOKE the ARN is unknown: better absent than empty.
        for (key, value) in [("faas.name", function_name), ("faas.arn", function_arn)] {
            if !value.is_empty() {
                add(key.into(), value);
            }
        }
        for (key, value) in tags {
            add(key.clone(), value);
        }
        for (kind, value) in labels {
            add(format!("tags.{kind}"), value);
        }
        let mut prefix = String::from(r#"[{"common":{"attributes":{"#);
        for (i, (key, value)) in attributes.iter().enumerate() {
            if i > 0 {
                prefix.push(',');
            }
            push_json_str(&mut prefix, key);
            prefix.push(':');
            push_json_str(&mut prefix, value);
        }
        prefix.push_str(r#"}},"logs":["#);
        Common { attributes, prefix }
    }

    pub fn attributes(&self) -> &[(String, String)] {
        &self.attributes
    }
}

/// The whole body for `entries`, whatever its size.
pub fn encode_logs(common: &Common, entries: &[LogEntry]) -> Vec<u8> {
    body_from(common, entries.iter(), usize::MAX).1
}

/// The body of as many leading `entries` as fit in `max_bytes` (at least one, even if that one
/// alone is larger), and how many that is.
pub fn body_from<'a>(
    common: &Common,
    entries: impl IntoIterator<Item = &'a LogEntry>,
    max_bytes: usize,
) -> (usize, Vec<u8>) {
    let mut body = common.prefix.clone();
    let mut one = String::new();
    let mut count = 0;
    for entry in entries {
        one.clear();
        encode_entry(entry, &mut one);
        let comma = usize::from(count > 0);
        if count > 0 && body.len() + comma + one.len() + SUFFIX.len() > max_bytes {
            break;
        }
        if count > 0 {
            body.push(',');
        }
        body.push_str(&one);
        count += 1;
    }
    body.push_str(SUFFIX);
    (count, body.into_bytes())
}

/// Bytes `entry` takes in a body (without the separating comma).
pub fn encoded_len(entry: &LogEntry) -> usize {
    let mut one = String::new();
    encode_entry(entry, &mut one);
    one.len()
}

/// `{"timestamp":…,"message":…,"attributes":{…}}`. Extras whose name we write ourselves are
/// skipped, so no name appears twice even for entries built by hand.
pub fn encode_entry(entry: &LogEntry, out: &mut String) {
    let _ = write!(out, r#"{{"timestamp":{},"message":"#, entry.timestamp_ms);
    push_json_str(out, &entry.message);
    out.push_str(r#","attributes":{"#);
    if let Some(id) = &entry.request_id {
        out.push_str(r#""aws.lambda_request_id":"#);
        push_json_str(out, id);
        out.push_str(r#","faas.execution":"#);
        push_json_str(out, id);
        out.push(',');
    }
    out.push_str(r#""level":"#);
    push_json_str(out, &entry.level);
    if let Some(trace) = &entry.trace_id {
        out.push_str(r#","trace.id":"#);
        push_json_str(out, trace);
    }
    for (key, value) in &entry.extra {
        if is_reserved(key) {
            continue;
        }
        push_extra(out, key, value);
    }
    out.push_str("}}");
}

/// `,"key":value`, as it follows the attributes before it.
fn push_extra(out: &mut String, key: &str, value: &Attr) {
    out.push(',');
    push_json_str(out, key);
    out.push(':');
    match value {
        Attr::Text(text) => push_json_str(out, text),
        Attr::Literal(literal) => out.push_str(literal),
    }
}

/// Applies the per-entry limits: message and extra values cut at [`MAX_MESSAGE_BYTES`], request
/// id and level at [`MAX_SHORT_VALUE_BYTES`], at most [`MAX_EXTRA_ATTRIBUTES`] extras with valid
/// names, and extras that would take the entry past [`MAX_ENTRY_BYTES`] left out.
pub fn limit_entry(entry: &mut LogEntry) {
    truncate_with_marker(&mut entry.message, MAX_MESSAGE_BYTES);
    truncate_with_marker(&mut entry.level, MAX_SHORT_VALUE_BYTES);
    if let Some(id) = &mut entry.request_id {
        truncate_with_marker(id, MAX_SHORT_VALUE_BYTES);
    }
    entry.extra.retain(|(key, _)| !key.is_empty() && key.len() <= MAX_ATTRIBUTE_NAME_BYTES && !is_reserved(key));
    entry.extra.truncate(MAX_EXTRA_ATTRIBUTES);
    for (_, value) in &mut entry.extra {
        if let Attr::Text(text) = value {
            truncate_with_marker(text, MAX_MESSAGE_BYTES);
        }
    }
    // Each part is measured once (an entry can be megabytes): keep extras in order while they
    // fit, so one huge field does not push out the small ones after it.
    let extras = std::mem::take(&mut entry.extra);
    let mut size = encoded_len(entry);
    let mut scratch = String::new();
    for (key, value) in extras {
        scratch.clear();
        push_extra(&mut scratch, &key, &value);
        if size + scratch.len() <= MAX_ENTRY_BYTES {
            size += scratch.len();
            entry.extra.push((key, value));
        }
    }
}

/// Cuts `text` to at most `limit` bytes, marker included, on a character boundary, ending it
/// with `…[truncated N bytes]` (N = bytes removed). Returns whether it cut.
pub fn truncate_with_marker(text: &mut String, limit: usize) -> bool {
    if text.len() <= limit {
        return false;
    }
    // The marker for the whole length is at least as long as the real one (N ≤ len).
    let reserve = marker(text.len()).len();
    let mut cut = limit.saturating_sub(reserve);
    while cut > 0 && !text.is_char_boundary(cut) {
        cut -= 1;
    }
    let removed = text.len() - cut;
    text.truncate(cut);
    text.push_str(&marker(removed));
    true
}

fn marker(removed: usize) -> String {
    format!("…[truncated {removed} bytes]")
}

#[cfg(test)]
mod tests;
