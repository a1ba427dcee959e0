//! Tests for `payload`: real Python agent payloads (tests/data/agent, see its README) alone,
//! glued, truncated, mixed with garbage, re-packed as version 2, and hostile input.

use std::io::Write;

use super::inflate::{base64_decode, inflate};
use super::*;

const FIXTURES: [&[u8]; 5] = [
    include_bytes!("../../tests/data/agent/python-v1-1.json"),
    include_bytes!("../../tests/data/agent/python-v1-2.json"),
    include_bytes!("../../tests/data/agent/python-v1-3.json"),
    include_bytes!("../../tests/data/agent/python-v1-4.json"),
    include_bytes!("../../tests/data/agent/python-v1-5.json"),
];
/// Written by generate.py from what the agent itself reported: file, request id, trace id.
const MANIFEST: &str = include_str!("../../tests/data/agent/manifest.tsv");

/// Expected info per fixture, in FIXTURES order.
fn expected() -> Vec<PayloadInfo> {
    let rows: Vec<PayloadInfo> = MANIFEST
        .lines()
        .filter(|line| !line.starts_with('#'))
        .map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            PayloadInfo { request_id: Some(fields[1].to_string()), trace_id: Some(fields[2].to_string()) }
        })
        .collect();
    assert_eq!(rows.len(), FIXTURES.len());
    rows
}

#[track_caller]
fn check(input: &[u8], expected: &[&[u8]]) {
    let pieces = split(input);
    let show = |p: &[&[u8]]| p.iter().map(|s| String::from_utf8_lossy(s).into_owned()).collect::<Vec<_>>();
    assert_eq!(show(&pieces), show(expected));
}

fn glue(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

#[test]
fn real_fixtures_carry_their_request_and_trace_ids() {
    for (fixture, expected) in FIXTURES.iter().zip(expected()) {
        check(fixture, &[fixture]);
        assert_eq!(inspect(fixture), expected);
    }
    // The distributed-tracing invocation continued the incoming W3C trace.
    assert_eq!(inspect(FIXTURES[2]).trace_id.as_deref(), Some("4bf92f3577b34da6a3ce929d0e0e4736"));
}

#[test]
fn glued_payloads_split_into_each_payload() {
    let [a, b, c, d, e] = FIXTURES;
    check(&glue(&[a, b]), &[a, b]);
    check(&glue(&[a, b, c, d, e]), &FIXTURES);
    check(&glue(&[b"\n", a, b"\n", b, b" \r\n\t", c, b"\n"]), &[a, b, c]);
    let expected = expected();
    for (piece, info) in split(&glue(&FIXTURES)).into_iter().zip(&expected) {
        assert_eq!(&inspect(piece), info);
    }
}

#[test]
fn strings_with_brackets_and_escaped_quotes_do_not_confuse_splitting() {
    check(br#"["a]\"b[{",{"k":"}\\"}]  [2]"#, &[br#"["a]\"b[{",{"k":"}\\"}]"#, b"[2]"]);
    check(br#"{"a":"\\\\"}{"b":[]}"#, &[br#"{"a":"\\\\"}"#, br#"{"b":[]}"#]);
}

#[test]
fn empty_and_whitespace_give_nothing() {
    check(b"", &[]);
    check(b" \n\r\t\n", &[]);
}

#[test]
fn garbage_is_kept_as_its_own_chunks() {
    let [a, b, ..] = FIXTURES;
    check(b"hello world\n", &[b"hello world"]);
    check(&glue(&[b"START\n", a]), &[b"START", a]);
    check(&glue(&[a, b"\n]] junk } ", b]), &[a, b"]] junk }", b]);
    check(b"null true 42", &[b"null true 42"]);
    check(b"\xff\xfe[1]", &[b"\xff\xfe", b"[1]"]);
    assert_eq!(inspect(b"hello"), PayloadInfo::default());
}

#[test]
fn truncated_payload_is_kept_and_the_next_one_still_splits() {
    let [a, b, ..] = FIXTURES;
    let cut = &a[..a.len() / 2];
    check(cut, &[cut]);
    check(&glue(&[cut, b]), &[cut, b]);
    check(&glue(&[b, cut]), &[b, cut]);
    assert_eq!(inspect(cut), PayloadInfo::default());
    // A truncated version 2 payload: its metadata object is not taken for a payload.
    let cut_v2 = br#"[2,"NR_LAMBDA_MONITORING",{"arn":"x"},"H4sI"#;
    check(&glue(&[cut_v2, b]), &[cut_v2, b]);
}

#[test]
fn deep_nesting_and_bracket_storms_stay_linear_and_safe() {
    let deep = "[".repeat(1_000_000);
    check(deep.as_bytes(), &[deep.as_bytes()]);
    assert_eq!(inspect(deep.as_bytes()), PayloadInfo::default());
    let balanced = format!("{}{}", "[".repeat(200_000), "]".repeat(200_000));
    check(balanced.as_bytes(), &[balanced.as_bytes()]);
    assert_eq!(inspect(balanced.as_bytes()), PayloadInfo::default());
    // Every `[1,` looks like a payload opening; the failed-scan cap keeps this linear.
    // A huge flat event list is walked, not parsed into one tree.
    let zeros = "0,".repeat(1_000_000);
    let flat = format!(
        r#"{{"analytic_event_data":[null,{{}},[{zeros}[{{"type":"Transaction","traceId":"t"}},{{}},{{"aws.requestId":"r"}}]]]}}"#
    );
    let info = inspect(&v2("{}", &flat));
    assert_eq!(info.request_id.as_deref(), Some("r"));
    let storm = "[1,\"".repeat(500_000);
    check(storm.as_bytes(), &[storm.as_bytes()]);
}

#[test]
fn splitting_loses_no_bytes_on_mangled_input() {
    let glued = glue(&FIXTURES);
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for round in 0..300 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let mut input = glued.clone();
        input.truncate(seed as usize % glued.len());
        if let Some(byte) = input.get_mut((seed >> 20) as usize % glued.len().max(1)) {
            *byte = b"[]{}\"\\ x"[round % 8];
        }
        let pieces = split(&input);
        let non_ws = |bytes: &[u8]| bytes.iter().copied().filter(|b| !scan::is_ws(*b)).collect::<Vec<u8>>();
        assert_eq!(non_ws(&pieces.concat()), non_ws(&input));
        for piece in pieces {
            let _ = inspect(piece);
        }
    }
}

/// JSON string → base64 → gunzip (or zlib), whole, with a size cap.
fn inflate_string(json_string: &[u8]) -> Option<Vec<u8>> {
    let text: String = json::from_str(std::str::from_utf8(json_string).ok()?).ok()?;
    inflate(&base64_decode(text.as_bytes())?)
}

fn base64_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            let c = if i <= chunk.len() { ALPHABET[(n >> (18 - 6 * i) & 63) as usize] } else { b'=' };
            out.push(c as char);
        }
    }
    out
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// A version 2 payload with the given data JSON.
fn v2(metadata: &str, data: &str) -> Vec<u8> {
    let encoded = base64_encode(&gzip(data.as_bytes()));
    format!(r#"[2,"NR_LAMBDA_MONITORING",{metadata},"{encoded}"]"#).into_bytes()
}

#[test]
fn base64_is_tolerant_of_padding_and_whitespace() {
    #[track_caller]
    fn check_b64(text: &str, expected: Option<&[u8]>) {
        assert_eq!(base64_decode(text.as_bytes()).as_deref(), expected, "{text}");
    }
    check_b64("aGVsbG8=", Some(b"hello"));
    check_b64("aGVsbG8", Some(b"hello"));
    check_b64("aGVs\nbG8 gd29y\r\nbGQ=", Some(b"hello world"));
    check_b64("", Some(b""));
    check_b64("+/+/", Some(&[0xfb, 0xff, 0xbf]));
    check_b64("aGV$", None);
    check_b64("aGVs-_", None);
    let all: Vec<u8> = (0..=255).collect();
    assert_eq!(base64_decode(base64_encode(&all).as_bytes()), Some(all));
}

#[test]
fn version_2_rebuilt_from_a_real_version_1_payload() {
    let expected = expected();
    for (fixture, info) in FIXTURES.iter().zip(&expected) {
        let encoded = scan::elements(fixture).nth(2).unwrap();
        let wrapper = inflate_string(encoded).unwrap();
        let metadata = std::str::from_utf8(scan::member(&wrapper, "metadata").unwrap()).unwrap();
        let data = std::str::from_utf8(scan::member(&wrapper, "data").unwrap()).unwrap();
        let payload = v2(metadata, data);
        check(&payload, &[&payload]);
        assert_eq!(&inspect(&payload), info);
        let as_string = String::from_utf8(payload).unwrap().replacen("[2,", "[\"2\",", 1);
        assert_eq!(&inspect(as_string.as_bytes()), info);
    }
}

#[test]
fn escaped_slashes_in_the_base64_string_are_unescaped() {
    let text = std::str::from_utf8(FIXTURES[1]).unwrap();
    assert!(text.contains('/'));
    let escaped = text.replace('/', "\\/");
    assert_eq!(inspect(escaped.as_bytes()), expected()[1]);
}

#[test]
fn version_as_string_in_a_real_payload() {
    let expected = expected();
    let text = std::str::from_utf8(FIXTURES[0]).unwrap().replacen("[1,", "[\"1\",", 1);
    check(text.as_bytes(), &[text.as_bytes()]);
    assert_eq!(inspect(text.as_bytes()), expected[0]);
}

#[test]
fn span_events_fill_in_what_transaction_events_lack() {
    let info = |request_id: &str, trace_id: &str| PayloadInfo {
        request_id: Some(request_id.into()),
        trace_id: Some(trace_id.into()),
    };
    let spans =
        r#""span_event_data":[null,{},[[{"type":"Span","traceId":"span-trace"},{},{"aws.requestId":"span-req"}]]]"#;
    let data = format!("{{{spans}}}");
    assert_eq!(inspect(&v2("{}", &data)), info("span-req", "span-trace"));
    // Only the first *transaction* event counts; the request id may sit in intrinsics.
    let analytic = r#""analytic_event_data":[null,{},[[{"type":"Other","traceId":"no"},{},{}],[{"type":"Transaction","aws.requestId":"tx-req"},{},{}]]]"#;
    let data = format!("{{{analytic},{spans}}}");
    assert_eq!(inspect(&v2("{}", &data)), info("tx-req", "span-trace"));
    // An oversized event is skipped, not parsed: the next transaction is used.
    let big = "x".repeat(MAX_EVENT_BYTES);
    let analytic = format!(
        r#""analytic_event_data":[null,{{}},[[{{"type":"Transaction","traceId":"big"}},{{"pad":"{big}"}},{{}}],[{{"type":"Transaction","traceId":"t2"}},{{}},{{"aws.requestId":"r2"}}]]]"#
    );
    assert_eq!(inspect(&v2("{}", &format!("{{{analytic}}}"))), info("r2", "t2"));
    assert_eq!(inspect(&v2("{}", "{}")), PayloadInfo::default());
    assert_eq!(inspect(&v2("{}", "[1,2]")), PayloadInfo::default());
}

#[test]
fn gzip_bomb_is_refused_within_the_cap() {
    let bomb = gzip(&vec![b' '; (MAX_INFLATED_BYTES + 1) as usize]);
    assert!(inflate(&bomb).is_none());
    let payload = format!(r#"[2,"NR_LAMBDA_MONITORING",{{}},"{}"]"#, base64_encode(&bomb));
    assert_eq!(inspect(payload.as_bytes()), PayloadInfo::default());
    let inside_cap = gzip(&vec![b' '; 1 << 20]);
    assert_eq!(inflate(&inside_cap).map(|v| v.len()), Some(1 << 20));
}

#[test]
fn malformed_payloads_give_no_info() {
    for text in [
        "[1,\"NR_LAMBDA_MONITORING\"]",
        "[1,\"NR_LAMBDA_MONITORING\",\"not base64!\"]",
        "[1,\"NR_LAMBDA_MONITORING\",\"aGVsbG8=\"]",
        "[1,\"NR_LAMBDA_MONITORING\",42]",
        "[2,\"NR_LAMBDA_MONITORING\",{}]",
        "[2,\"NR_LAMBDA_MONITORING\",{},{}]",
        "{\"a\":1}",
        "",
    ] {
        assert_eq!(inspect(text.as_bytes()), PayloadInfo::default(), "{text}");
    }
}

#[test]
fn split_complete_keeps_an_unfinished_tail_for_more_bytes() {
    let whole = b"[1,\"NR_LAMBDA_MONITORING\",\"abc\"]";
    let glued = [&whole[..], b"\n", &whole[..], b" [1,\"NR_LAMB"].concat();
    let (pieces, consumed) = split_complete(&glued);
    assert_eq!(pieces, vec![&whole[..], &whole[..]]);
    assert_eq!(&glued[consumed..], b"[1,\"NR_LAMB");
    let (pieces, consumed) = split_complete(whole);
    assert_eq!((pieces.len(), consumed), (1, whole.len()));
    let (pieces, consumed) = split_complete(b"text then [1,\"x\"]");
    assert_eq!((pieces, consumed), (vec![&b"text then"[..], &b"[1,\"x\"]"[..]], 17));
    let (pieces, consumed) = split_complete(b"only text");
    assert_eq!((pieces.len(), consumed), (0, 0));
    assert_eq!(split_complete(b"  \n"), (vec![], 3));
}

#[test]
fn inflating_stops_once_the_first_transaction_has_both_ids() {
    let analytic =
        r#""analytic_event_data":[null,{},[[{"type":"Transaction","traceId":"t1"},{},{"aws.requestId":"r1"}]]]"#;
    // Past the cap, read whole, this data would give nothing: the ids must come from the part
    // inflated before it.
    let pad = " ".repeat(MAX_INFLATED_BYTES as usize + 1);
    let data = format!(r#"{{{analytic},"metric_data":"{pad}"}}"#);
    let expected = PayloadInfo { request_id: Some("r1".into()), trace_id: Some("t1".into()) };
    assert_eq!(inspect(&v2("{}", &data)), expected);
    let wrapper = format!(r#"{{"metadata":{{}},"data":{data}}}"#);
    let v1 = format!(r#"[1,"NR_LAMBDA_MONITORING","{}"]"#, base64_encode(&gzip(wrapper.as_bytes())));
    assert_eq!(inspect(v1.as_bytes()), expected);
    // Without a trace id on the transaction, the span events (after the padding) are needed:
    // the whole data is read, and it is over the cap.
    let analytic = r#""analytic_event_data":[null,{},[[{"type":"Transaction"},{},{"aws.requestId":"r1"}]]]"#;
    let spans = r#""span_event_data":[null,{},[[{"traceId":"s1"},{},{}]]]"#;
    let data = format!(r#"{{{analytic},"metric_data":"{pad}",{spans}}}"#);
    assert_eq!(inspect(&v2("{}", &data)), PayloadInfo::default());
    let data = format!(r#"{{{analytic},"metric_data":"small",{spans}}}"#);
    assert_eq!(inspect(&v2("{}", &data)), PayloadInfo { request_id: Some("r1".into()), trace_id: Some("s1".into()) });
}

#[test]
fn gzip_headers_with_optional_fields_and_several_members_inflate() {
    let data =
        br#"{"analytic_event_data":[null,{},[[{"type":"Transaction","traceId":"t"},{},{"aws.requestId":"r"}]]]}"#;
    // FEXTRA, FNAME, FCOMMENT and FHCRC all set; the deflate data is that of a plain member.
    let plain = gzip(data);
    let mut fancy = vec![0x1f, 0x8b, 8, 2 | 4 | 8 | 16, 0, 0, 0, 0, 0, 255, 3, 0, b'x', b'y', b'z'];
    fancy.extend_from_slice(b"name\0comment\0\xab\xcd");
    fancy.extend_from_slice(&plain[10..]);
    assert_eq!(inflate(&fancy).as_deref(), Some(&data[..]));
    let (head, tail) = data.split_at(40);
    assert_eq!(inflate(&[gzip(head), gzip(tail)].concat()).as_deref(), Some(&data[..]));
    let mut zlib = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    zlib.write_all(data).unwrap();
    assert_eq!(inflate(&zlib.finish().unwrap()).as_deref(), Some(&data[..]));
    assert_eq!(inflate(&plain[..plain.len() / 2]), None, "cut short");
    assert_eq!(inflate(&fancy[..12]), None, "header cut short");
}

#[test]
fn base64_broken_into_lines_is_decoded_as_the_inflater_needs_it() {
    let expected = expected();
    for (fixture, info) in FIXTURES.iter().zip(&expected) {
        let text = std::str::from_utf8(fixture).unwrap();
        let encoded = std::str::from_utf8(scan::elements(fixture).nth(2).unwrap()).unwrap();
        let inner = &encoded[1..encoded.len() - 1];
        let wrapped: Vec<&str> = inner.as_bytes().chunks(76).map(|c| std::str::from_utf8(c).unwrap()).collect();
        let reflowed = text.replacen(inner, &wrapped.join("\\r\\n"), 1);
        assert_eq!(&inspect(reflowed.as_bytes()), info);
        // Cut in the middle of its base64: nothing can be read, nothing panics.
        let cut = text.replacen(inner, &inner[..inner.len() / 3], 1);
        let _ = inspect(cut.as_bytes());
    }
}
