//! Table tests of the request reader over in-memory byte streams.

use super::*;

const LIMITS: Limits = Limits { max_head_bytes: 256, max_headers: 4, max_body_bytes: 16 };

/// Reads requests until the first error; one line per request, the error last.
fn read_all(input: &[u8]) -> String {
    let mut reader = input;
    let mut out = Vec::new();
    loop {
        let head = match read_head(&mut reader, &LIMITS) {
            Ok(head) => head,
            Err(e) => {
                out.push(format!("{e:?}"));
                break;
            }
        };
        let body = match read_body(&mut reader, &head, &LIMITS) {
            Ok(Body::Complete(body)) => format!("{:?}", String::from_utf8_lossy(&body)),
            Ok(Body::Oversized) => "oversized".to_string(),
            Err(e) => format!("{e:?}"),
        };
        let flags = match (head.keep_alive, head.expect_continue) {
            (true, true) => " keep-alive continue",
            (true, false) => " keep-alive",
            (false, true) => " continue",
            (false, false) => "",
        };
        out.push(format!("{} {}{flags} {body}", head.method, head.target));
        if body.starts_with("Io") || body.starts_with("Bad") {
            break;
        }
    }
    out.join("\n")
}

#[track_caller]
fn check(input: &[u8], expected: &str) {
    let expected: Vec<&str> = expected.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    assert_eq!(read_all(input), expected.join("\n"));
}

#[test]
fn content_length_and_keep_alive() {
    check(
        b"POST /telemetry HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n[]",
        r#"
        POST /telemetry keep-alive "[]"
        Closed
    "#,
    );
    // Two pipelined requests, bare LF line ends, a stray CRLF between them, case-insensitive names.
    check(b"POST / HTTP/1.1\ncontent-LENGTH: 3\n\nabc\r\nPUT /x HTTP/1.1\r\nConnection: close\r\ncontent-length: 0\r\n\r\n", r#"
        POST / keep-alive "abc"
        PUT /x ""
        Closed
    "#);
    check(
        b"GET / HTTP/1.0\r\n\r\nGET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
        r#"
        GET / ""
        GET / keep-alive ""
        Closed
    "#,
    );
    check(
        b"POST / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n[]",
        r#"
        POST / keep-alive continue "[]"
        Closed
    "#,
    );
}

#[test]
fn chunked_bodies() {
    check(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4;ext=1\r\n[{}]\r\nA\r\n0123456789\r\n0\r\nX-Trailer: 1\r\n\r\n", r#"
        POST / keep-alive "[{}]0123456789"
        Closed
    "#);
    // Chunked wins over Content-Length, and the connection is closed afterwards.
    check(
        b"POST / HTTP/1.1\r\nContent-Length: 99\r\nTransfer-Encoding: gzip, chunked\r\n\r\n2\r\n[]\r\n0\r\n\r\n",
        r#"
        POST / "[]"
        Closed
    "#,
    );
    check(
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        r#"
        POST / keep-alive BadRequest("bad chunk size")
    "#,
    );
    check(
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n[]xx\r\n0\r\n\r\n",
        r#"
        POST / keep-alive BadRequest("chunk not followed by CRLF")
    "#,
    );
    check(
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n[",
        r#"
        POST / keep-alive Io(Kind(UnexpectedEof))
    "#,
    );
}

#[test]
fn oversized_bodies_are_read_and_discarded() {
    let body = [b'x'; 17];
    let mut input = b"POST / HTTP/1.1\r\nContent-Length: 17\r\n\r\n".to_vec();
    input.extend_from_slice(&body);
    input.extend_from_slice(b"POST /next HTTP/1.1\r\nContent-Length: 16\r\n\r\n0123456789abcdef");
    check(
        &input,
        r#"
        POST / keep-alive oversized
        POST /next keep-alive "0123456789abcdef"
        Closed
    "#,
    );
    // Over the cap across chunks: the rest is skipped, framing kept.
    check(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n01234567\r\n9\r\n012345678\r\n3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\n\r\n", r#"
        POST / keep-alive oversized
        GET / keep-alive ""
        Closed
    "#);
    check(
        b"POST / HTTP/1.1\r\nContent-Length: 99999\r\n\r\nshort",
        r#"
        POST / keep-alive Io(Kind(UnexpectedEof))
    "#,
    );
}

#[test]
fn malformed_heads() {
    check(b"", "Closed");
    check(b"\r\n\r\n", "Closed");
    check(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\n", "BadRequestLine");
    check(b"garbage\r\n\r\n", "BadRequestLine");
    check(b"POST / HTTP/2.0\r\n\r\n", "BadRequestLine");
    check(b"POST  / HTTP/1.1\r\n\r\n", "BadRequestLine");
    check(b"PO(ST / HTTP/1.1\r\n\r\n", "BadRequestLine");
    check(b"POST / HTTP/1.1 extra\r\n\r\n", "BadRequestLine");
    check(b"POST /\x7f HTTP/1.1\r\n\r\n", "BadRequestLine");
    check(&[b'A'; 300], "BadRequestLine");
    check(b"\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\n\r\n", "BadRequestLine");
    check(b"POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\nabcde", r#"BadRequest("bad content-length")"#);
    check(b"POST / HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\nabcde", r#"BadRequest("bad content-length")"#);
    check(b"POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n", r#"BadRequest("bad content-length")"#);
    check(
        b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        r#"BadRequest("conflicting content-length")"#,
    );
    check(b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", r#"BadRequest("unsupported transfer-encoding")"#);
    check(b"POST / HTTP/1.1\r\nHost : x\r\n\r\n", r#"BadRequest("bad header")"#);
    check(b"POST / HTTP/1.1\r\nA: 1\r\n folded\r\n\r\n", r#"BadRequest("bad header")"#);
    check(b"POST / HTTP/1.1\r\nNoColon\r\n\r\n", r#"BadRequest("bad header")"#);
    check(b"POST / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n", "POST / keep-alive \"\"\nClosed");
    check(b"POST / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\n\r\n", r#"BadRequest("too many headers")"#);
    let big = format!("POST / HTTP/1.1\r\nA: {}\r\n\r\n", "v".repeat(250));
    check(big.as_bytes(), r#"BadRequest("head too large")"#);
    check(b"POST / HTTP/1.1\r\nA: 1\r\n", r#"BadRequest("eof in headers")"#);
    check(b"POST / HTTP/1.1\r\nA: 1", "Io(Kind(UnexpectedEof))");
}

#[test]
fn chunk_sizes() {
    assert_eq!(parse_chunk_size(b"1f"), Some(31));
    assert_eq!(parse_chunk_size(b"1F ; name=value"), Some(31));
    assert_eq!(parse_chunk_size(b"0"), Some(0));
    assert_eq!(parse_chunk_size(b""), None);
    assert_eq!(parse_chunk_size(b"-1"), None);
    assert_eq!(parse_chunk_size(b"+1"), None);
    assert_eq!(parse_chunk_size(b"ffffffffffffffff"), None);
}
