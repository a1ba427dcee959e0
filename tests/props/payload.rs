//! Agent payloads as read from the pipe (`payload::split`, `split_complete`, `inspect`): any
//! bytes split into ordered, disjoint pieces that lose no byte and start and end on something
//! other than whitespace; glued JSON values split back into exactly those values, whether the
//! stream arrives at once or in pieces; any agent payload's request and trace id read back; and
//! nothing panics on mangled payloads.

use miniserde::json::{self, Value};
use proptest::collection::vec;
use proptest::prelude::*;

use lambda_sim::agent::{build, PayloadSpec};
use newrelic_lambda_extension::payload::{inspect, split, split_complete, PayloadInfo, MAX_ID_BYTES};

use crate::json_gen::{json_ws, nonempty_text, value};
use crate::support::config;

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// Offset of `piece` inside `whole` (pieces are sub-slices).
fn offset(whole: &[u8], piece: &[u8]) -> usize {
    piece.as_ptr() as usize - whole.as_ptr() as usize
}

/// The property of every input: ordered disjoint sub-slices covering every non-whitespace byte,
/// trimmed, at most one piece per non-whitespace byte; inspecting each piece never panics.
pub fn check_split(bytes: &[u8]) -> Result<(), TestCaseError> {
    let pieces = split(bytes);
    let mut covered = 0;
    let mut next = 0;
    for piece in &pieces {
        prop_assert!(!piece.is_empty());
        let start = offset(bytes, piece);
        prop_assert!(start >= next && start + piece.len() <= bytes.len(), "pieces overlap or leave the input");
        prop_assert!(bytes[next..start].iter().all(|b| is_ws(*b)), "non-whitespace bytes dropped before {start}");
        prop_assert!(!is_ws(piece[0]) && !is_ws(piece[piece.len() - 1]), "untrimmed piece at {start}");
        covered += piece.iter().filter(|b| !is_ws(**b)).count();
        next = start + piece.len();
        let info = inspect(piece);
        let long = |id: &Option<String>| id.as_ref().is_some_and(|id| id.len() > MAX_ID_BYTES);
        prop_assert!(!long(&info.request_id) && !long(&info.trace_id), "unbounded id from a payload");
    }
    prop_assert!(bytes[next..].iter().all(|b| is_ws(*b)), "non-whitespace bytes dropped at the end");
    prop_assert_eq!(covered, bytes.iter().filter(|b| !is_ws(**b)).count());
    let (complete, consumed) = split_complete(bytes);
    prop_assert!(consumed <= bytes.len() && complete.len() <= pieces.len());
    Ok(())
}

/// Bytes that look like payload pieces: brackets, quotes, escapes, digits, whitespace.
fn jsonish() -> impl Strategy<Value = Vec<u8>> {
    let token = prop::sample::select(vec![
        &b"["[..],
        b"]",
        b"{",
        b"}",
        b"\"",
        b"\\",
        b",",
        b":",
        b"1",
        b"2",
        b" ",
        b"\n",
        b"[1,",
        b"[\"2\",",
        b"\"NR_LAMBDA_MONITORING\"",
        b"H4sI",
        b"x",
        b"\xff",
    ]);
    vec(token, 0..64).prop_map(|tokens| tokens.concat())
}

/// Opening brackets in `bytes`: each may be a value that never closes, costing one scan.
fn brackets(bytes: &[u8]) -> usize {
    bytes.iter().filter(|b| matches!(b, b'[' | b'{')).count()
}

/// A container value (what an agent writes is an array; objects must split the same way).
fn container() -> impl Strategy<Value = Value> {
    value().prop_map(|v| match v {
        v @ (Value::Array(_) | Value::Object(_)) => v,
        scalar => Value::Array(std::iter::once(scalar).collect()),
    })
}

/// A payload spec with random ids, version, version spelling and size.
fn spec() -> impl Strategy<Value = PayloadSpec> {
    let ids = (nonempty_text(40), nonempty_text(40), prop_oneof![Just(1u8), Just(2u8)], any::<bool>(), 0usize..4);
    ids.prop_map(|(request_id, trace_id, version, as_string, spans)| PayloadSpec {
        version,
        version_as_string: as_string,
        spans,
        trace_id,
        ..PayloadSpec::new(&request_id)
    })
}

/// Feeds `stream` in pieces of the given sizes the way the pipe reader does; returns the
/// values forwarded while streaming and what is left unfinished at the end.
fn stream_in(stream: &[u8], cuts: &[usize]) -> (Vec<Vec<u8>>, Vec<u8>) {
    let mut pending = Vec::new();
    let mut forwarded = Vec::new();
    let mut rest = stream;
    for &cut in cuts.iter().chain(std::iter::once(&usize::MAX)) {
        let (now, later) = rest.split_at(cut.min(rest.len()));
        rest = later;
        pending.extend_from_slice(now);
        let (pieces, consumed) = split_complete(&pending);
        forwarded.extend(pieces.into_iter().map(<[u8]>::to_vec));
        pending.drain(..consumed);
    }
    (forwarded, pending)
}

/// Values arriving in pieces of any size come out as they do from the whole stream at once:
/// each forwarded once, whole, and only whitespace stays behind. For streams of whole values.
pub fn check_stream(stream: &[u8], cuts: &[usize]) -> Result<(), TestCaseError> {
    let expected: Vec<Vec<u8>> = split(stream).into_iter().map(<[u8]>::to_vec).collect();
    let (forwarded, left) = stream_in(stream, cuts);
    prop_assert_eq!(forwarded, expected, "cuts {:?}", cuts);
    prop_assert!(left.iter().all(|b| is_ws(*b)));
    Ok(())
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn any_bytes_split_without_losing_a_byte(bytes in vec(any::<u8>(), 0..512)) {
        check_split(&bytes)?;
    }

    #[test]
    fn jsonish_bytes_split_without_losing_a_byte(bytes in jsonish()) {
        check_split(&bytes)?;
        let _ = inspect(&bytes);
    }

    #[test]
    fn glued_values_split_into_each_value(values in vec((container(), json_ws()), 0..6), cuts in vec(0usize..64, 0..8)) {
        let texts: Vec<String> = values.iter().map(|(v, _)| json::to_string(v)).collect();
        let stream: String = values.iter().zip(&texts).map(|((_, ws), text)| format!("{text}{ws}")).collect();
        check_split(stream.as_bytes())?;
        let pieces: Vec<&[u8]> = split(stream.as_bytes());
        let expected: Vec<&[u8]> = texts.iter().map(|t| t.as_bytes()).collect();
        prop_assert_eq!(&pieces, &expected);
        check_stream(stream.as_bytes(), &cuts)?;
    }

    #[test]
    fn any_payload_gives_back_its_request_and_trace_id(spec in spec(), garbage in jsonish().prop_filter("within the scan budget", |g| brackets(g) < 16)) {
        let payload = build(&spec);
        let info = inspect(&payload);
        prop_assert_eq!(info, PayloadInfo { request_id: Some(spec.request_id.clone()), trace_id: Some(spec.trace_id.clone()) });
        // Glued behind garbage, the payload still comes out whole and readable. (Behind 16 or
        // more brackets that never close, the scans that keep splitting linear are used up and
        // the garbage swallows what follows: forwarded unchanged, but not as a payload.)
        let stream = [garbage.as_slice(), b"\n", &payload].concat();
        check_split(&stream)?;
        let pieces = split(&stream);
        prop_assert!(pieces.contains(&payload.as_slice()), "payload lost behind {:?}", String::from_utf8_lossy(&garbage));
    }

    #[test]
    fn oversized_ids_are_ignored(spec in spec(), extra in 1usize..2048) {
        let long = "a".repeat(MAX_ID_BYTES + extra);
        let payload = build(&PayloadSpec { trace_id: long.clone(), request_id: long, ..spec });
        prop_assert_eq!(inspect(&payload), PayloadInfo::default());
        check_split(&payload)?;
    }

    #[test]
    fn mangled_payloads_never_panic(spec in spec(), edits in vec((any::<prop::sample::Index>(), any::<u8>()), 1..8), cut in any::<prop::sample::Index>()) {
        let mut payload = build(&spec);
        for (at, byte) in edits {
            let i = at.index(payload.len());
            payload[i] = byte;
        }
        let end = cut.index(payload.len() + 1);
        check_split(&payload[..end])?;
        let _ = inspect(&payload[..end]);
    }
}
