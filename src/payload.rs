//! Agent payloads as read from the pipe: splitting what one read-to-EOF returned into its
//! top-level JSON values, and reading the request id and trace id embedded in one payload
//! (base64 + gunzip + JSON). Pure: no I/O, no clock. It never rewrites a payload (the
//! extension forwards the text unchanged) and never drops bytes: what does not split cleanly
//! is handed back as its own chunk. Nothing here panics or recurses on input.

use std::io::Read;

use miniserde::json::{self, Array, Object, Value};

/// Most bytes one embedded payload may inflate to. Real payloads inflate to ~10 KB; the cap
/// keeps a gzip bomb from taking the memory of a 128 MB function.
pub const MAX_INFLATED_BYTES: u64 = 16 << 20;

/// How many value scans that ran to the end of the input without closing are tolerated per
/// [`split`] call. Each costs one pass over the rest of the input, so this bounds `split` to
/// a constant number of passes (linear time) whatever the input.
const MAX_FAILED_SCANS: usize = 16;

/// What could be read from inside one agent payload.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PayloadInfo {
    /// `aws.requestId` of the first transaction event.
    pub request_id: Option<String>,
    /// `traceId` of the first transaction event, else of the first span event.
    pub trace_id: Option<String>,
}

/// Splits what one read-to-EOF returned into its top-level JSON values.
///
/// Whitespace between values is dropped. Bytes that are not part of a complete value
/// (plain text, a truncated payload) come back as chunks of their own, adjacent ones merged,
/// so they are still forwarded. Once in such garbage, a new value is only looked for where
/// something like a payload opens (`[1,`, `["2",`): a truncated payload's inner objects are
/// not mistaken for payloads.
pub fn split(bytes: &[u8]) -> Vec<&[u8]> {
    let mut pieces = Vec::new();
    // Start and end (exclusive, trailing whitespace excluded) of the pending garbage.
    let mut garbage: Option<(usize, usize)> = None;
    let mut failed_scans = 0;
    let mut i = 0;
    while let Some(&byte) = bytes.get(i) {
        if is_json_whitespace(byte) {
            i += 1;
            continue;
        }
        let candidate = match garbage {
            None => byte == b'[' || byte == b'{',
            Some(_) => opens_payload(bytes, i),
        };
        if candidate && failed_scans < MAX_FAILED_SCANS {
            if let Some(end) = value_end(bytes, i) {
                push_range(&mut pieces, bytes, garbage.take());
                push_range(&mut pieces, bytes, Some((i, end)));
                i = end;
                continue;
            }
            failed_scans += 1;
        }
        garbage = Some((garbage.map_or(i, |(start, _)| start), i + 1));
        i += 1;
    }
    push_range(&mut pieces, bytes, garbage);
    pieces
}

fn push_range<'a>(pieces: &mut Vec<&'a [u8]>, bytes: &'a [u8], range: Option<(usize, usize)>) {
    if let Some(piece) = range.and_then(|(start, end)| bytes.get(start..end)) {
        pieces.push(piece);
    }
}

fn is_json_whitespace(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | b'\r')
}

/// `[` followed by a version: a digit, or a string starting with a digit.
fn opens_payload(bytes: &[u8], at: usize) -> bool {
    if bytes.get(at) != Some(&b'[') {
        return false;
    }
    let rest = bytes.get(at + 1..).unwrap_or_default();
    let mut rest = rest.iter().skip_while(|b| is_json_whitespace(**b));
    match rest.next() {
        Some(b'"') => rest.next().is_some_and(u8::is_ascii_digit),
        Some(b) => b.is_ascii_digit(),
        None => false,
    }
}

/// End (exclusive) of the array or object opening at `start`, tracking strings and escapes;
/// `None` if the input ends first. A depth counter instead of recursion: nesting is free.
fn value_end(bytes: &[u8], start: usize) -> Option<usize> {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for (offset, &byte) in bytes.get(start..)?.iter().enumerate() {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => depth += 1,
            b']' | b'}' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return Some(start + offset + 1);
                }
            }
            _ => {}
        }
    }
    None
}

/// Decodes a payload enough to read its request id and trace id. Never panics.
///
/// Version 1 (`[1,"NR_LAMBDA_MONITORING","<base64 gzip {metadata,data}>"]`) and version 2
/// (`[2,"NR_LAMBDA_MONITORING",{metadata},"<base64 gzip data>"]`) are told apart by the
/// shape of element 2, so the version may be a number or a string.
pub fn inspect(payload: &[u8]) -> PayloadInfo {
    match decode_data(payload) {
        Some(Value::Object(data)) => info_from_data(&data),
        _ => PayloadInfo::default(),
    }
}

/// The `data` object of a payload, decoded.
fn decode_data(payload: &[u8]) -> Option<Value> {
    let text = std::str::from_utf8(payload).ok()?;
    let outer = match json::from_str::<Value>(text).ok()? {
        Value::Array(outer) => outer,
        _ => return None,
    };
    match outer.get(2)? {
        Value::String(encoded) => match decode_embedded(encoded)? {
            // Version 1 wraps data with its metadata.
            Value::Object(mut wrapper) => match wrapper.remove("data") {
                Some(data) => Some(data),
                None => Some(Value::Object(wrapper)),
            },
            _ => None,
        },
        Value::Object(_) => match outer.get(3)? {
            Value::String(encoded) => decode_embedded(encoded),
            _ => None,
        },
        _ => None,
    }
}

/// base64 → gunzip (or zlib) with a size cap → JSON.
fn decode_embedded(encoded: &str) -> Option<Value> {
    let compressed = base64_decode(encoded.as_bytes())?;
    let inflated = inflate(&compressed)?;
    let text = String::from_utf8_lossy(&inflated);
    json::from_str(&text).ok()
}

/// Standard-alphabet base64. Whitespace is skipped, padding is optional and ends the data;
/// any other byte outside the alphabet makes the input invalid.
fn base64_decode(text: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3 + 2);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &c in text {
        let sextet = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            _ if c.is_ascii_whitespace() => continue,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(sextet);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// Inflates gzip (what the agents write) or zlib, reading at most [`MAX_INFLATED_BYTES`].
fn inflate(compressed: &[u8]) -> Option<Vec<u8>> {
    fn read_capped(reader: impl Read) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        reader.take(MAX_INFLATED_BYTES + 1).read_to_end(&mut out).ok()?;
        (out.len() as u64 <= MAX_INFLATED_BYTES).then_some(out)
    }
    if compressed.starts_with(&[0x1f, 0x8b]) {
        read_capped(flate2::read::MultiGzDecoder::new(compressed))
    } else {
        read_capped(flate2::read::ZlibDecoder::new(compressed))
    }
}

/// Request id and trace id from the first transaction event; span events fill what is
/// missing (e.g. when transaction events are disabled).
fn info_from_data(data: &Object) -> PayloadInfo {
    let transaction =
        events(data.get("analytic_event_data")).find(|event| attribute(event, 0, "type") == Some("Transaction"));
    let span = events(data.get("span_event_data")).next();
    PayloadInfo {
        request_id: transaction.and_then(request_id).or_else(|| span.and_then(request_id)).map(str::to_owned),
        trace_id: transaction.and_then(trace_id).or_else(|| span.and_then(trace_id)).map(str::to_owned),
    }
}

/// Agent attributes are where the agents put `aws.requestId`; intrinsics and user attributes
/// are accepted for agents that do otherwise.
fn request_id(event: &Array) -> Option<&str> {
    [2, 0, 1].iter().find_map(|&i| attribute(event, i, "aws.requestId"))
}

fn trace_id(event: &Array) -> Option<&str> {
    attribute(event, 0, "traceId")
}

/// The events of one event-data section: `[agent_run_id, {sampling}, [[intrinsics, user,
/// agent], …]]`. The event list is taken as the last array element, so a missing run id or
/// sampling object does not hide the events.
fn events(section: Option<&Value>) -> impl Iterator<Item = &Array> {
    let list = match section {
        Some(Value::Array(section)) => section.iter().rev().find_map(|v| match v {
            Value::Array(list) => Some(list),
            _ => None,
        }),
        _ => None,
    };
    list.into_iter().flat_map(|list| list.iter()).filter_map(|event| match event {
        Value::Array(event) => Some(event),
        _ => None,
    })
}

/// A non-empty string attribute from element `index` (an object) of one event.
fn attribute<'a>(event: &'a Array, index: usize, key: &str) -> Option<&'a str> {
    match event.get(index)? {
        Value::Object(attributes) => match attributes.get(key)? {
            Value::String(text) if !text.is_empty() => Some(text),
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests;
