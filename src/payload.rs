//! Agent payloads as read from the pipe: splitting what one read-to-EOF returned into its
//! top-level JSON values, and reading the request id and trace id embedded in one payload
//! (base64 + gunzip + JSON). Pure: no I/O, no clock. It never rewrites a payload (the
//! extension forwards the text unchanged) and never drops bytes: what does not split cleanly
//! is handed back as its own chunk. Nothing here panics or recurses on input.

use std::borrow::Cow;

use flate2::{Decompress, FlushDecompress, Status};
use miniserde::json;

mod scan;

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

/// JSON string → base64 → gunzip (or zlib), whole, with a size cap.
#[cfg(test)]
fn inflate_string(json_string: &[u8]) -> Option<Vec<u8>> {
    let text: String = json::from_str(std::str::from_utf8(json_string).ok()?).ok()?;
    let mut out = None;
    inflate_until(Feed::base64(text.as_bytes()), |json, whole| whole.then(|| out = Some(json.to_vec())));
    out
}

/// What each base64 byte stands for: a sextet, or one of these.
const B64_INVALID: u8 = 0xff;
const B64_SKIP: u8 = 0xfe;
const B64_END: u8 = 0xfd;
const B64: [u8; 256] = {
    let mut table = [B64_INVALID; 256];
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut i = 0;
    while i < 64 {
        table[alphabet[i] as usize] = i as u8;
        i += 1;
    }
    table[b'=' as usize] = B64_END;
    // What `u8::is_ascii_whitespace` accepts.
    table[b' ' as usize] = B64_SKIP;
    table[b'\t' as usize] = B64_SKIP;
    table[b'\n' as usize] = B64_SKIP;
    table[0x0c] = B64_SKIP;
    table[b'\r' as usize] = B64_SKIP;
    table
};

/// Standard-alphabet base64. Whitespace is skipped, padding is optional and ends the data;
/// any other byte outside the alphabet makes the input invalid.
fn base64_decode(text: &[u8]) -> Option<Vec<u8>> {
    let mut out = vec![0u8; text.len() / 4 * 3 + 2];
    let mut written = 0;
    let mut rest = text;
    // Four plain alphabet bytes at a time (all of an agent's base64 but its end).
    for (quad, triple) in text.chunks_exact(4).zip(out.chunks_exact_mut(3)) {
        let [a, b, c, d] = [quad[0], quad[1], quad[2], quad[3]].map(|byte| B64[usize::from(byte)]);
        if (a | b | c | d) >= 64 {
            break;
        }
        let n = (u32::from(a) << 18) | (u32::from(b) << 12) | (u32::from(c) << 6) | u32::from(d);
        let [_, x, y, z] = n.to_be_bytes();
        triple.copy_from_slice(&[x, y, z]);
        written += 3;
        rest = rest.get(4..).unwrap_or_default();
    }
    out.truncate(written);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &c in rest {
        let sextet = B64[usize::from(c)];
        match sextet {
            B64_END => break,
            B64_SKIP => continue,
            B64_INVALID => return None,
            _ => {}
        }
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

/// Inflates gzip (what the agents write) or zlib whole, reading at most [`MAX_INFLATED_BYTES`].
#[cfg(test)]
fn inflate(compressed: &[u8]) -> Option<Vec<u8>> {
    let mut out = None;
    inflate_until(Feed::raw(compressed), |json, whole| whole.then(|| out = Some(json.to_vec())));
    out
}

/// The compressed bytes of a payload, base64-decoded only as far as the inflater gets: a
/// payload whose first transaction event is early never has most of its base64 decoded.
struct Feed<'a> {
    decoded: Vec<u8>,
    /// How much of `decoded` the inflater has taken.
    taken: usize,
    /// Base64 text not decoded yet.
    text: &'a [u8],
}

impl<'a> Feed<'a> {
    fn base64(text: &'a [u8]) -> Feed<'a> {
        Feed { decoded: Vec::with_capacity(text.len() / 4 * 3 + 3), taken: 0, text }
    }

    #[cfg(test)]
    fn raw(bytes: &[u8]) -> Feed<'static> {
        Feed { decoded: bytes.to_vec(), taken: 0, text: &[] }
    }

    /// At least `want` bytes not taken yet (fewer only at the end of the input); `None` if
    /// the base64 is invalid.
    fn ensure(&mut self, want: usize) -> Option<&[u8]> {
        let target = self.taken.saturating_add(want);
        while self.decoded.len() < target {
            // Four plain alphabet bytes at a time (all of an agent's base64 but its end).
            let Some((&[a, b, c, d], after)) = self.text.split_first_chunk::<4>() else { break };
            let [a, b, c, d] = [a, b, c, d].map(|byte| B64[usize::from(byte)]);
            if (a | b | c | d) >= 64 {
                break;
            }
            let n = (u32::from(a) << 18) | (u32::from(b) << 12) | (u32::from(c) << 6) | u32::from(d);
            let [_, x, y, z] = n.to_be_bytes();
            self.decoded.extend_from_slice(&[x, y, z]);
            self.text = after;
        }
        if self.decoded.len() < target && !self.text.is_empty() {
            // The end, padding or whitespace: the careful decoder, for everything left.
            self.decoded.extend(base64_decode(self.text)?);
            self.text = &[];
        }
        self.decoded.get(self.taken..)
    }

    fn take(&mut self, n: usize) {
        self.taken = self.taken.saturating_add(n).min(self.decoded.len());
    }
}

/// Output inflated before the first look; each later look comes after twice as much, so the
/// looks cost at most about twice one pass over what was inflated.
const FIRST_LOOK_BYTES: usize = 2048;

thread_local! {
    /// The inflate state of this thread, reused: a fresh one is ~40 KB to allocate and zero,
    /// more than inflating a typical payload's first transaction event costs.
    static INFLATE: std::cell::RefCell<Option<Decompress>> = const { std::cell::RefCell::new(None) };
}

/// Compressed bytes handed to the inflater per step. It inflates as much as its 32 KiB window
/// takes from what it is given, so the input is what must be metered for the looks to save
/// work: 512 bytes of an agent's gzip are ~2–3 KB of JSON.
const INPUT_STEP: usize = 512;

/// Inflates gzip (one or more members) or zlib, calling `look(output so far, whole)` each time
/// the output has doubled and once at the end (`whole` = true), until `look` answers. `None`
/// if it never does: corrupt or truncated input, or more than [`MAX_INFLATED_BYTES`].
fn inflate_until<T>(mut feed: Feed, mut look: impl FnMut(&[u8], bool) -> Option<T>) -> Option<T> {
    INFLATE.with(|cell| {
        let mut slot = cell.borrow_mut();
        let state = slot.get_or_insert_with(|| Decompress::new(false));
        let gzip = feed.ensure(2)?.starts_with(&[0x1f, 0x8b]);
        if gzip {
            skip_gzip_header(&mut feed)?;
        }
        state.reset(!gzip);
        let mut out = Vec::with_capacity(FIRST_LOOK_BYTES);
        let mut next_look = FIRST_LOOK_BYTES;
        loop {
            if out.len() == out.capacity() {
                out.reserve(next_look.saturating_sub(out.len()).max(1024));
            }
            let (in_before, out_before) = (state.total_in(), out.len());
            let input = feed.ensure(INPUT_STEP)?;
            let step = input.get(..input.len().min(INPUT_STEP))?;
            let status = state.decompress_vec(step, &mut out, FlushDecompress::None).ok()?;
            let consumed = usize::try_from(state.total_in() - in_before).ok()?;
            feed.take(consumed);
            if out.len() as u64 > MAX_INFLATED_BYTES {
                return None;
            }
            if status == Status::StreamEnd {
                // Another gzip member may follow its 8-byte trailer (CRC-32 and size).
                let next = feed.ensure(8 + 2)?.get(8..).is_some_and(|rest| gzip && rest.starts_with(&[0x1f, 0x8b]));
                if !next {
                    return look(&out, true);
                }
                feed.take(8);
                skip_gzip_header(&mut feed)?;
                state.reset(false);
                continue;
            }
            if consumed == 0 && out.len() == out_before && out.len() < out.capacity() {
                // No progress with room to write: the input is cut short (or corrupt).
                return None;
            }
            if out.len() >= next_look {
                if let Some(found) = look(&out, false) {
                    return Some(found);
                }
                next_look = next_look.saturating_mul(2);
            }
        }
    })
}

/// Takes one gzip member header from `feed` (almost always 10 bytes; names and comments are
/// read to their end).
fn skip_gzip_header(feed: &mut Feed) -> Option<()> {
    let length = match gzip_header_len(feed.ensure(64)?) {
        Some(length) => length,
        None => gzip_header_len(feed.ensure(usize::MAX)?)?,
    };
    feed.take(length);
    Some(())
}

/// The length of a gzip member's header (RFC 1952 §2.3): the fixed part and the optional
/// extra field, name, comment and header CRC its flags announce.
fn gzip_header_len(member: &[u8]) -> Option<usize> {
    const FHCRC: u8 = 2;
    const FEXTRA: u8 = 4;
    const FNAME: u8 = 8;
    const FCOMMENT: u8 = 16;
    let (&[0x1f, 0x8b, 8, flags], rest) = member.split_first_chunk::<4>()? else {
        return None;
    };
    // MTIME (4), XFL, OS.
    let mut rest = rest.get(6..)?;
    if flags & FEXTRA != 0 {
        let (&[lo, hi], after) = rest.split_first_chunk::<2>()?;
        rest = after.get(usize::from(u16::from_le_bytes([lo, hi]))..)?;
    }
    for flag in [FNAME, FCOMMENT] {
        if flags & flag != 0 {
            rest = rest.get(rest.iter().position(|&b| b == 0)? + 1..)?;
        }
    }
    if flags & FHCRC != 0 {
        rest = rest.get(2..)?;
    }
    Some(member.len() - rest.len())
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
