//! Agent payloads as read from the pipe: splitting what one read-to-EOF returned into its
//! top-level JSON values, and reading the request id and trace id embedded in one payload
//! (base64 + gunzip + JSON). Pure: no I/O, no clock. It never rewrites a payload (the
//! extension forwards the text unchanged) and never drops bytes: what does not split cleanly
//! is handed back as its own chunk. Nothing here panics or recurses on input.

use std::borrow::Cow;

use miniserde::json;

mod inflate;
mod scan;

use inflate::{inflate_until, Feed};

/// Most bytes one embedded payload may inflate to. Real payloads inflate to ~10 KB; the cap
/// keeps a gzip bomb from taking the memory of a 128 MB function.
pub const MAX_INFLATED_BYTES: u64 = 16 << 20;

/// Largest single event parsed to read attributes. Real events are 0.5–2 KB (agents cap
/// attribute counts and lengths); the cap bounds parsing memory to a few MB.
pub const MAX_EVENT_BYTES: usize = 256 << 10;

/// Longest request id or trace id read from a payload (real ones have 36 and 32 characters).
/// A trace id is copied into every forwarded log line of its invocation, so an oversized one
/// would multiply memory by the number of lines; one this long is ignored like a missing one.
pub const MAX_ID_BYTES: usize = 256;

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
    scan_pieces(bytes).0
}

/// [`split`], and where the first value that opens but does not close before the end starts.
fn scan_pieces(bytes: &[u8]) -> (Vec<&[u8]>, Option<usize>) {
    let mut pieces = Vec::new();
    // Start and end (exclusive, trailing whitespace excluded) of the pending garbage.
    let mut garbage: Option<(usize, usize)> = None;
    let mut unclosed = None;
    let mut failed_scans = 0;
    let mut i = 0;
    while let Some(&byte) = bytes.get(i) {
        if scan::is_ws(byte) {
            i += 1;
            continue;
        }
        let candidate = match garbage {
            None => byte == b'[' || byte == b'{',
            Some(_) => opens_payload(bytes, i),
        };
        if candidate && failed_scans < MAX_FAILED_SCANS {
            if let Some(end) = scan::container_end(bytes, i) {
                push_range(&mut pieces, bytes, garbage.take());
                push_range(&mut pieces, bytes, Some((i, end)));
                i = end;
                continue;
            }
            failed_scans += 1;
        }
        // A bracket scan only fails by running off the end: the value may still be arriving.
        if candidate {
            unclosed = unclosed.or(Some(i));
        }
        garbage = Some((garbage.map_or(i, |(start, _)| start), i + 1));
        i += 1;
    }
    push_range(&mut pieces, bytes, garbage);
    (pieces, unclosed)
}

/// Like [`split`], for a stream: returns the pieces that are final and how many bytes they
/// cover. What is not final is left for the caller to complete with more bytes: a value that
/// opens but does not close yet, with everything after it (a complete-looking value inside an
/// unfinished payload is not a payload of its own), and trailing text.
pub fn split_complete(bytes: &[u8]) -> (Vec<&[u8]>, usize) {
    let (mut pieces, unclosed) = scan_pieces(bytes);
    let base = bytes.as_ptr() as usize;
    let start = |piece: &[u8]| piece.as_ptr() as usize - base;
    let first_unfinished = match unclosed {
        Some(at) => pieces.iter().position(|p| start(p) + p.len() > at),
        // Without a failed scan, every piece opening with a bracket is a whole value.
        None => pieces.last().is_some_and(|last| !matches!(last.first(), Some(b'[' | b'{'))).then(|| pieces.len() - 1),
    };
    match first_unfinished.and_then(|i| Some((i, start(pieces.get(i)?)))) {
        Some((i, at)) => {
            pieces.truncate(i);
            (pieces, at)
        }
        None => (pieces, bytes.len()),
    }
}

fn push_range<'a>(pieces: &mut Vec<&'a [u8]>, bytes: &'a [u8], range: Option<(usize, usize)>) {
    if let Some(piece) = range.and_then(|(start, end)| bytes.get(start..end)) {
        pieces.push(piece);
    }
}

/// `[` followed by a version: a digit, or a string starting with a digit.
fn opens_payload(bytes: &[u8], at: usize) -> bool {
    if bytes.get(at) != Some(&b'[') {
        return false;
    }
    let rest = bytes.get(at + 1..).unwrap_or_default();
    let mut rest = rest.iter().skip_while(|b| scan::is_ws(**b));
    match rest.next() {
        Some(b'"') => rest.next().is_some_and(u8::is_ascii_digit),
        Some(b) => b.is_ascii_digit(),
        None => false,
    }
}

/// Decodes a payload enough to read its request id and trace id. Never panics.
///
/// Version 1 (`[1,"NR_LAMBDA_MONITORING","<base64 gzip {metadata,data}>"]`) and version 2
/// (`[2,"NR_LAMBDA_MONITORING",{metadata},"<base64 gzip data>"]`) are told apart by the
/// shape of element 2, so the version may be a number or a string.
///
/// Only structure is scanned, nothing is parsed into a tree, and inflating stops as soon as
/// the first transaction event is whole and carries both ids: the agents write
/// `analytic_event_data` first, so a typical payload is read a few KB into its ~10 KB of JSON
/// and its metrics are never inflated. Otherwise the whole data is read (capped at
/// [`MAX_INFLATED_BYTES`]) and span events fill in what is missing.
pub fn inspect(payload: &[u8]) -> PayloadInfo {
    let mut elements = scan::elements(payload).skip(2);
    let (encoded, wrapped) = match elements.next() {
        Some(v1) if v1.starts_with(b"\"") => (v1, true),
        Some(metadata) if metadata.starts_with(b"{") => match elements.next() {
            Some(v2) => (v2, false),
            None => return PayloadInfo::default(),
        },
        _ => return PayloadInfo::default(),
    };
    // Base64 needs no escapes and the agents write none; unescape only if there are some.
    let raw = encoded.get(1..encoded.len().saturating_sub(1)).unwrap_or_default();
    let unescaped: String;
    let text = if raw.contains(&b'\\') {
        match std::str::from_utf8(encoded).ok().and_then(|e| json::from_str::<String>(e).ok()) {
            Some(text) => {
                unescaped = text;
                unescaped.as_bytes()
            }
            None => return PayloadInfo::default(),
        }
    } else {
        raw
    };
    let found = inflate_until(Feed::base64(text), |json, whole| {
        // Version 1 wraps data with its metadata (taken as the data if it has no `data`).
        if whole {
            let data = if wrapped { scan::member(json, "data").unwrap_or(json) } else { json };
            return Some(info_from_data(data));
        }
        let data = if wrapped { scan::member_open(json, "data")? } else { json };
        early_info(data)
    });
    found.unwrap_or_default()
}

/// The ids, as soon as the first transaction event of `data` (which may still be cut short)
/// is whole and carries both: span events would not change them.
fn early_info(data: &[u8]) -> Option<PayloadInfo> {
    let transaction = first_transaction(data)?;
    let request_id = request_id(transaction)?;
    let trace_id = trace_id(transaction)?;
    Some(PayloadInfo { request_id: Some(request_id.into_owned()), trace_id: Some(trace_id.into_owned()) })
}

fn first_transaction(data: &[u8]) -> Option<&[u8]> {
    events(scan::member(data, "analytic_event_data"))
        .find(|event| attribute(event, 0, "type").as_deref() == Some("Transaction"))
}

/// Request id and trace id from the first transaction event; span events fill what is
/// missing (e.g. when transaction events are disabled).
fn info_from_data(data: &[u8]) -> PayloadInfo {
    let transaction = first_transaction(data);
    let mut request = transaction.and_then(request_id);
    let mut trace = transaction.and_then(trace_id);
    if request.is_none() || trace.is_none() {
        if let Some(span) = events(scan::member(data, "span_event_data")).next() {
            request = request.or_else(|| request_id(span));
            trace = trace.or_else(|| trace_id(span));
        }
    }
    PayloadInfo { request_id: request.map(Cow::into_owned), trace_id: trace.map(Cow::into_owned) }
}

/// Agent attributes are where the agents put `aws.requestId`; intrinsics and user attributes
/// are accepted for agents that do otherwise.
fn request_id(event: &[u8]) -> Option<Cow<'_, str>> {
    [2, 0, 1].iter().find_map(|&i| attribute(event, i, "aws.requestId"))
}

fn trace_id(event: &[u8]) -> Option<Cow<'_, str>> {
    attribute(event, 0, "traceId")
}

/// The events of one event-data section, `[agent_run_id, {sampling}, [[intrinsics, user,
/// agent], …]]`, as byte ranges. The event list is the last array element, so a missing run
/// id or sampling object does not hide it. Events that are not arrays, or larger than
/// [`MAX_EVENT_BYTES`], are skipped.
fn events(section: Option<&[u8]>) -> impl Iterator<Item = &[u8]> + '_ {
    let list = section.and_then(|s| scan::elements(s).filter(|v| v.starts_with(b"[")).last());
    list.into_iter().flat_map(scan::elements).filter(|event| event.len() <= MAX_EVENT_BYTES && event.starts_with(b"["))
}

/// A non-empty string attribute of at most [`MAX_ID_BYTES`] from element `index` (an object)
/// of one event.
fn attribute<'a>(event: &'a [u8], index: usize, key: &str) -> Option<Cow<'a, str>> {
    let attributes = scan::elements(event).nth(index).filter(|a| a.starts_with(b"{"))?;
    let text = json_string(scan::member(attributes, key)?)?;
    (!text.is_empty() && text.len() <= MAX_ID_BYTES).then_some(text)
}

/// The text of a JSON string value (quotes included in `value`); `None` for other values.
/// Invalid UTF-8 becomes U+FFFD, as everywhere else a payload is read.
fn json_string(value: &[u8]) -> Option<Cow<'_, str>> {
    let inner = value.strip_prefix(b"\"")?.strip_suffix(b"\"")?;
    if !inner.contains(&b'\\') {
        return Some(String::from_utf8_lossy(inner));
    }
    json::from_str::<String>(&String::from_utf8_lossy(value)).ok().map(Cow::Owned)
}

#[cfg(test)]
mod tests;
