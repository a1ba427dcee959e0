//! Self-tests of the harness HTTP server and client: basics, keep-alive,
//! chunked bodies, garbage input and every `Reply` variant seen from a client.

use lambda_sim::http::{request, Reply, Request, Response, Server};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(5);

fn echo_server() -> Server {
    Server::start(
        "127.0.0.1:0",
        Arc::new(|req: Request| {
            let body = format!(
                "{} {} ct={} body={}",
                req.method,
                req.path,
                req.header("CONTENT-type").unwrap_or("-"),
                String::from_utf8_lossy(&req.body)
            );
            Reply::Respond(Response::text(200, &body).with_header("X-Test", "yes"))
        }),
    )
    .expect("bind")
}

/// Reads one response with Content-Length framing from a raw stream.
fn read_one(r: &mut BufReader<TcpStream>) -> (String, String) {
    let mut status = String::new();
    r.read_line(&mut status).expect("status");
    let mut len = 0;
    loop {
        let mut line = String::new();
        r.read_line(&mut line).expect("header");
        if line == "\r\n" {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            len = v.trim().parse().expect("len");
        }
    }
    let mut body = vec![0; len];
    r.read_exact(&mut body).expect("body");
    (status.trim().to_string(), String::from_utf8(body).expect("utf8"))
}

#[test]
fn request_response_basics() {
    let s = echo_server();
    let (status, headers, body) =
        request(s.addr(), "POST", "/a/b?x=1", &[("Content-Type", "application/json")], b"{}", T).expect("req");
    assert_eq!(status, 200);
    assert_eq!(String::from_utf8(body).expect("utf8"), "POST /a/b?x=1 ct=application/json body={}");
    assert!(headers.iter().any(|(k, v)| k == "X-Test" && v == "yes"));
    assert!(headers.iter().any(|(k, v)| k == "Content-Type" && v == "text/plain; charset=utf-8"));
}

#[test]
fn keep_alive_and_chunked_on_one_connection() {
    let s = echo_server();
    let mut w = TcpStream::connect(s.addr()).expect("connect");
    let mut r = BufReader::new(w.try_clone().expect("clone"));
    w.write_all(b"GET /one HTTP/1.1\r\nHost: x\r\n\r\n").expect("write");
    assert_eq!(read_one(&mut r), ("HTTP/1.1 200 OK".into(), "GET /one ct=- body=".into()));
    w.write_all(b"POST /two HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n3\r\nefg\r\n0\r\n\r\n")
        .expect("write");
    assert_eq!(read_one(&mut r).1, "POST /two ct=- body=abcdefg");
    w.write_all(b"PUT /three HTTP/1.1\r\nContent-Length: 3\r\n\r\nxyz").expect("write");
    assert_eq!(read_one(&mut r).1, "PUT /three ct=- body=xyz");
    assert_eq!(s.connection_count(), 1);
}

#[test]
fn garbage_closes_only_that_connection() {
    let s = echo_server();
    for junk in [
        &b"\x00\x01\x02 not http\r\n\r\n"[..],
        b"GET\r\n\r\n",
        b"GET / HTTP/1.1\r\nbad header\r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: zz\r\n\r\n",
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nxyz\r\n",
    ] {
        let mut c = TcpStream::connect(s.addr()).expect("connect");
        c.write_all(junk).expect("write");
        let mut rest = Vec::new();
        c.set_read_timeout(Some(T)).expect("timeout");
        let _ = c.read_to_end(&mut rest); // closed by the server: EOF (or reset)
        assert!(rest.is_empty(), "{junk:?} got {rest:?}");
    }
    let mut long = TcpStream::connect(s.addr()).expect("connect");
    let _ = long.write_all(&vec![b'a'; 40_000]);
    let (status, _, _) = request(s.addr(), "GET", "/still-alive", &[], b"", T).expect("req");
    assert_eq!(status, 200);
}

fn one_reply_server(reply: Reply) -> Server {
    Server::start("127.0.0.1:0", Arc::new(move |_req: Request| reply.clone())).expect("bind")
}

#[test]
fn reply_variants_as_seen_by_a_client() {
    let s = one_reply_server(Reply::Reset);
    let err = request(s.addr(), "GET", "/", &[], b"", T).expect_err("reset");
    assert!(matches!(err.kind(), std::io::ErrorKind::ConnectionReset), "{err:?}");

    let s = one_reply_server(Reply::Close);
    let err = request(s.addr(), "GET", "/", &[], b"", T).expect_err("close");
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidData, "{err:?}");

    let s = one_reply_server(Reply::Raw(b"\xff\xfeNOT HTTP AT ALL\r\n\r\n".to_vec()));
    assert!(request(s.addr(), "GET", "/", &[], b"", T).is_err());

    let s = one_reply_server(Reply::StallMidResponse(Duration::from_secs(3)));
    let start = Instant::now();
    let err = request(s.addr(), "GET", "/", &[], b"", Duration::from_millis(300)).expect_err("stall");
    assert!(matches!(err.kind(), std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock), "{err:?}");
    assert!(start.elapsed() < Duration::from_secs(2));

    let s = one_reply_server(Reply::Delayed(Duration::from_millis(200), Response::json(202, "{}")));
    let start = Instant::now();
    let (status, _, body) = request(s.addr(), "POST", "/", &[], b"x", T).expect("delayed");
    assert_eq!((status, body.as_slice()), (202, &b"{}"[..]));
    assert!(start.elapsed() >= Duration::from_millis(200));
}

#[test]
fn close_idle_connections_keeps_busy_ones_and_accepting() {
    // The handler of /block waits for the test's go-ahead: a busy connection.
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let go_rx = Mutex::new(go_rx);
    let (entered_tx, entered_rx) = mpsc::channel::<()>();
    let entered_tx = Mutex::new(entered_tx);
    let s = Server::start(
        "127.0.0.1:0",
        Arc::new(move |req: Request| {
            if req.path == "/block" {
                let _ = entered_tx.lock().map(|t| t.send(()));
                let _ = go_rx.lock().map(|r| r.recv());
            }
            Reply::Respond(Response::text(200, "ok"))
        }),
    )
    .expect("bind");
    let addr = s.addr();
    let busy = std::thread::spawn(move || request(addr, "GET", "/block", &[], b"", T));
    entered_rx.recv_timeout(T).expect("handler entered");

    let mut idle = TcpStream::connect(addr).expect("connect");
    let mut r = BufReader::new(idle.try_clone().expect("clone"));
    idle.write_all(b"GET /x HTTP/1.1\r\n\r\n").expect("write");
    assert_eq!(read_one(&mut r).1, "ok");

    s.close_idle_connections();
    let mut rest = Vec::new();
    r.get_mut().set_read_timeout(Some(T)).expect("timeout");
    assert_eq!(r.read_to_end(&mut rest).map(|_| rest.len()).unwrap_or(0), 0, "idle connection closed");

    go_tx.send(()).expect("go");
    let (status, _, body) = busy.join().expect("join").expect("busy request survived");
    assert_eq!((status, body.as_slice()), (200, &b"ok"[..]));
    assert_eq!(request(addr, "GET", "/new", &[], b"", T).expect("new").0, 200);
}

#[test]
fn shutdown_refuses_then_port_can_be_bound_again() {
    let s = echo_server();
    let addr = s.addr();
    s.shutdown();
    let err = request(addr, "GET", "/", &[], b"", T).expect_err("refused");
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused, "{err:?}");
    let again = echo_server_on(&addr.to_string());
    assert_eq!(request(again.addr(), "GET", "/", &[], b"", T).expect("req").0, 200);
}

fn echo_server_on(bind: &str) -> Server {
    Server::start(bind, Arc::new(|_r: Request| Reply::Respond(Response::new(200)))).expect("rebind")
}
