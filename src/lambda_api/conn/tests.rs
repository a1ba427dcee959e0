//! The Extensions API connection against scripted servers on 127.0.0.1: what goes on the wire,
//! keep-alive reuse, a kept-alive connection closed by the server, every body framing, bad
//! answers and timeouts.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::thread;

use super::*;

/// What one scripted connection does for each request it reads: answer these bytes, then
/// close the connection if `close` is set.
struct Step {
    answer: &'static [u8],
    close: bool,
}

/// Reported by the server once it has closed a connection (on loopback, the close has then
/// reached the client's end).
const CLOSED: &str = "<closed>";

/// A server that serves `connections` (one list of steps each) in turn and reports every
/// request it read (head and body, as text).
fn server(connections: Vec<Vec<Step>>) -> (String, mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let (seen, requests) = mpsc::channel();
    thread::spawn(move || {
        for steps in connections {
            let (stream, _) = listener.accept().expect("accept");
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut writer = stream;
            for step in steps {
                let mut request = String::new();
                let mut length = 0;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).expect("read") == 0 {
                        return;
                    }
                    if let Some(n) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = n.trim().parse().expect("length");
                    }
                    request.push_str(&line);
                    if line == "\r\n" {
                        break;
                    }
                }
                let mut body = vec![0; length];
                reader.read_exact(&mut body).expect("body");
                request.push_str(&String::from_utf8(body).expect("utf-8"));
                let _ = seen.send(request);
                writer.write_all(step.answer).expect("answer");
                if step.close {
                    drop((reader, writer));
                    let _ = seen.send(CLOSED.to_string());
                    break;
                }
            }
        }
    });
    (addr, requests)
}

fn call(conn: &mut Conn, method: &str, headers: &[(&str, &str)], body: &[u8]) -> io::Result<Answer> {
    conn.call(method, "/2020-01-01/extension/x", &Request { headers, body, timeout: Some(Duration::from_secs(5)) })
}

const OK: &[u8] = b"HTTP/1.1 200 OK\r\nLambda-Extension-Identifier: id-1\r\nContent-Length: 2\r\n\r\n{}";

#[test]
fn requests_carry_host_agent_headers_and_length_and_reuse_the_connection() {
    let (addr, requests) = server(vec![vec![Step { answer: OK, close: false }, Step { answer: OK, close: false }]]);
    let mut conn = Conn::new(&addr, "agent/1");
    let answer = call(&mut conn, "POST", &[("X-A", "b\r\nInjected: 1")], b"{\"k\":1}").expect("first");
    assert_eq!((answer.status, answer.id.as_deref(), &answer.body[..]), (200, Some("id-1"), &b"{}"[..]));
    let first = requests.recv().expect("request");
    assert_eq!(
        first,
        format!(
            "POST /2020-01-01/extension/x HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: agent/1\r\nX-A: bInjected: 1\r\nContent-Length: 7\r\n\r\n{{\"k\":1}}"
        )
    );
    // The second request goes over the same connection: the server accepts only one.
    call(&mut conn, "GET", &[], b"").expect("second");
    let second = requests.recv().expect("request");
    assert!(second.starts_with("GET /2020-01-01/extension/x HTTP/1.1\r\n"), "{second}");
    assert!(!second.to_ascii_lowercase().contains("content-length"), "a GET without a body: {second}");
}

#[test]
fn a_kept_alive_connection_closed_by_the_server_is_replaced_before_the_next_request() {
    let (addr, requests) =
        server(vec![vec![Step { answer: OK, close: true }], vec![Step { answer: OK, close: false }]]);
    let mut conn = Conn::new(&addr, "a");
    call(&mut conn, "GET", &[], b"").expect("first");
    requests.recv().expect("first request");
    assert_eq!(requests.recv().expect("closed"), CLOSED);
    // The server closed the first connection after answering; the second request goes out on a
    // new one (the server would not read another request on the first).
    let answer = call(&mut conn, "GET", &[], b"").expect("second, on a new connection");
    assert_eq!(answer.status, 200);
    assert!(requests.recv().expect("second request").starts_with("GET "));
}

#[test]
fn a_request_the_server_drops_is_an_error_and_is_not_sent_again() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let accepted = thread::spawn(move || {
        let (stream, _) = listener.accept().expect("accept");
        let mut reader = BufReader::new(stream.try_clone().expect("clone"));
        let mut line = String::new();
        while reader.read_line(&mut line).expect("first request") > 2 {
            line.clear();
        }
        (&stream).write_all(OK).expect("answer");
        line.clear();
        reader.read_line(&mut line).expect("second request");
        drop((reader, stream)); // closes without answering the second
        listener.set_nonblocking(true).expect("nonblocking");
        listener.accept().is_ok()
    });
    let mut conn = Conn::new(&addr, "a");
    call(&mut conn, "GET", &[], b"").expect("first");
    let err = call(&mut conn, "GET", &[], b"").expect_err("dropped");
    assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof, "{err}");
    assert!(!accepted.join().expect("server"), "no second connection: the request was not sent again");
}

#[test]
fn chunked_and_until_close_bodies_and_interim_answers() {
    let chunked: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\n{\"a\r\n4\r\n\":1}\r\n0\r\n\r\n";
    let until_close: &[u8] = b"HTTP/1.0 403 Forbidden\r\n\r\n{\"errorType\":\"Extension.X\"}";
    let (addr, _requests) =
        server(vec![vec![Step { answer: chunked, close: false }, Step { answer: until_close, close: true }]]);
    let mut conn = Conn::new(&addr, "a");
    let answer = call(&mut conn, "GET", &[], b"").expect("chunked");
    assert_eq!((answer.status, &answer.body[..]), (200, &br#"{"a":1}"#[..]));
    let answer = call(&mut conn, "GET", &[], b"").expect("until close");
    assert_eq!((answer.status, &answer.body[..], answer.id), (403, &br#"{"errorType":"Extension.X"}"#[..], None));
}

#[test]
fn malformed_answers_and_silence_are_errors() {
    let (addr, _requests) = server(vec![vec![Step { answer: b"SMTP ready\r\n\r\n", close: true }]]);
    let err = call(&mut Conn::new(&addr, "a"), "GET", &[], b"").expect_err("not HTTP");
    assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{err}");
    let (addr, _requests) =
        server(vec![vec![Step { answer: b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n{}", close: true }]]);
    let err = call(&mut Conn::new(&addr, "a"), "GET", &[], b"").expect_err("body cut short");
    assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof, "{err}");
    // Accepted, never answered: the timeout ends the wait.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let mut conn = Conn::new(&addr, "a");
    let request = Request { headers: &[], body: b"", timeout: Some(Duration::from_millis(50)) };
    let err = conn.call("GET", "/x", &request).expect_err("timed out");
    assert!(matches!(err.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut), "{err}");
    drop(listener);
}
