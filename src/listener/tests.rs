//! End-to-end tests of the listener over real loopback sockets: answers, keep-alive,
//! framing, hostile clients and the connection cap. Synchronised on the channel and on
//! socket reads, never on sleeps (except where a slow client IS the scenario).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;

use super::*;
use crate::telemetry::Record;

const WAIT: Duration = Duration::from_secs(10);

fn start(settings: Settings) -> (SocketAddr, Receiver<Event>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = crossbeam_channel::bounded(64);
    spawn_with(listener, tx, settings).expect("spawn");
    (addr, rx)
}

fn small() -> Settings {
    let mut settings = Settings::default();
    settings.limits.max_body_bytes = 1024;
    settings
}

fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(WAIT)).expect("timeout");
    stream
}

fn post(stream: &mut TcpStream, body: &[u8]) {
    let head = format!(
        "POST /telemetry HTTP/1.1\r\nHost: sandbox.localdomain:1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).expect("write head");
    stream.write_all(body).expect("write body");
}

#[track_caller]
fn expect_bytes(stream: &mut TcpStream, expected: &[u8]) {
    let mut got = vec![0; expected.len()];
    stream.read_exact(&mut got).expect("read answer");
    assert_eq!(String::from_utf8_lossy(&got), String::from_utf8_lossy(expected));
}

#[track_caller]
fn expect_closed(stream: &mut TcpStream) {
    let mut byte = [0u8; 1];
    match stream.read(&mut byte) {
        Ok(0) => {}
        Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {}
        other => panic!("expected the server to close, got {other:?}"),
    }
}

#[track_caller]
fn next_batch(rx: &Receiver<Event>) -> Batch {
    match rx.recv_timeout(WAIT) {
        Ok(Event::Telemetry(batch)) => batch,
        Ok(other) => panic!("unexpected event {other:?}"),
        Err(e) => panic!("no batch: {e}"),
    }
}

fn start_record(id: &str) -> String {
    format!(r#"[{{"time":"2022-10-21T14:05:03.165Z","type":"platform.start","record":{{"requestId":"{id}"}}}}]"#)
}

fn start_id(batch: &Batch) -> &str {
    match batch.records.as_slice() {
        [Record::Start { request_id, .. }] => request_id,
        _ => panic!("expected one start record, got {} records", batch.records.len()),
    }
}

#[test]
fn answers_200_then_delivers_the_parsed_batch() {
    let listener = bind().expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (tx, rx) = crossbeam_channel::bounded(4);
    spawn(listener, tx).expect("spawn");
    let mut client = connect(SocketAddr::from(([127, 0, 0, 1], port)));
    let body = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/telemetry/invoke.json"));
    post(&mut client, &body.expect("fixture"));
    expect_bytes(&mut client, OK);
    let batch = next_batch(&rx);
    assert_eq!((batch.records.len(), batch.malformed, batch.unknown), (6, 0, 0));
}

#[test]
fn keep_alive_serves_several_requests_and_skips_empty_batches() {
    let (addr, rx) = start(small());
    let mut client = connect(addr);
    post(&mut client, start_record("first").as_bytes());
    expect_bytes(&mut client, OK);
    post(&mut client, b"[]");
    expect_bytes(&mut client, OK);
    // Any method and path, and an Expect: 100-continue handshake.
    let body = start_record("third");
    let head = format!("PUT /other?x=1 HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: {}\r\n\r\n", body.len());
    client.write_all(head.as_bytes()).expect("write");
    expect_bytes(&mut client, CONTINUE);
    client.write_all(body.as_bytes()).expect("write");
    expect_bytes(&mut client, OK);
    assert_eq!(start_id(&next_batch(&rx)), "first");
    assert_eq!(start_id(&next_batch(&rx)), "third"); // "[]" sent nothing
}

#[test]
fn chunked_body() {
    let (addr, rx) = start(small());
    let mut client = connect(addr);
    let body = start_record("chunked");
    let (a, b) = body.split_at(10);
    let request = format!(
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{a}\r\n{:x}\r\n{b}\r\n0\r\n\r\n",
        a.len(),
        b.len()
    );
    client.write_all(request.as_bytes()).expect("write");
    expect_bytes(&mut client, OK);
    assert_eq!(start_id(&next_batch(&rx)), "chunked");
}

#[test]
fn garbage_is_answered_or_closed_never_fatal() {
    let (addr, rx) = start(small());
    // No request line at all: that connection is closed, nothing is delivered.
    let mut client = connect(addr);
    client.write_all(b"\x16\x03\x01 hello?\r\n\r\n").expect("write");
    expect_closed(&mut client);
    assert!(rx.try_recv().is_err());
    // A garbage body is still answered 200, then counted malformed.
    let mut client = connect(addr);
    post(&mut client, b"\x00\xffnot json");
    expect_bytes(&mut client, OK);
    assert_eq!(next_batch(&rx).malformed, 1);
    // Unframeable headers after a valid request line: 200, close, counted malformed.
    client.write_all(b"POST / HTTP/1.1\r\nContent-Length: nope\r\n\r\n").expect("write");
    expect_bytes(&mut client, OK_CLOSE);
    expect_closed(&mut client);
    assert_eq!(next_batch(&rx).malformed, 1);
    // The listener is still there.
    let mut client = connect(addr);
    post(&mut client, start_record("after").as_bytes());
    expect_bytes(&mut client, OK);
    assert_eq!(start_id(&next_batch(&rx)), "after");
}

#[test]
fn oversized_bodies_are_answered_and_counted() {
    let (addr, rx) = start(small());
    let mut client = connect(addr);
    post(&mut client, &[b' '; 5000]);
    expect_bytes(&mut client, OK);
    let batch = next_batch(&rx);
    assert_eq!((batch.oversized, batch.malformed, batch.records.len()), (1, 0, 0));
    // The connection stays usable.
    post(&mut client, start_record("next").as_bytes());
    expect_bytes(&mut client, OK);
    assert_eq!(start_id(&next_batch(&rx)), "next");
}

#[test]
fn default_cap_is_max_body_bytes() {
    let (addr, rx) = start(Settings::default());
    let mut client = connect(addr);
    let mut body = start_record("fits").into_bytes();
    body.resize(MAX_BODY_BYTES, b' ');
    post(&mut client, &body);
    expect_bytes(&mut client, OK);
    assert_eq!(start_id(&next_batch(&rx)), "fits");
    body.push(b' ');
    post(&mut client, &body);
    expect_bytes(&mut client, OK);
    assert_eq!(next_batch(&rx).oversized, 1);
}

#[test]
fn a_stalled_client_does_not_block_others_and_is_dropped() {
    let mut settings = small();
    settings.idle = Duration::from_millis(300);
    let (addr, rx) = start(settings);
    let mut stalled = connect(addr);
    stalled.write_all(b"POST / HTTP/1.1\r\nContent-Length: 100\r\n\r\n[{\"ty").expect("write");
    let mut client = connect(addr);
    post(&mut client, start_record("not blocked").as_bytes());
    expect_bytes(&mut client, OK);
    assert_eq!(start_id(&next_batch(&rx)), "not blocked");
    expect_closed(&mut stalled); // by the idle timeout, without an answer
    assert!(rx.try_recv().is_err());
}

#[test]
fn a_dripping_client_is_cut_off_by_the_request_deadline() {
    let mut settings = small();
    settings.idle = Duration::from_millis(500);
    settings.request = Duration::from_millis(800);
    let (addr, _rx) = start(settings);
    let mut client = connect(addr);
    client.write_all(b"POST / HTTP/1.1\r\nContent-Length: 1000\r\n\r\n").expect("write");
    let began = Instant::now();
    // The scenario is a slow sender: one byte every 100 ms, always inside the idle limit.
    let mut sent = 0;
    while sent < 100 && client.write_all(b" ").is_ok() {
        sent += 1;
        thread::sleep(Duration::from_millis(100));
    }
    assert!(sent < 100, "never cut off");
    assert!(began.elapsed() >= Duration::from_millis(700));
}

#[test]
fn many_concurrent_connections() {
    let (addr, rx) = start(small());
    let clients: Vec<_> = (0..24)
        .map(|i| {
            thread::spawn(move || {
                let mut client = connect(addr);
                post(&mut client, start_record(&format!("req-{i:02}")).as_bytes());
                expect_bytes(&mut client, OK);
            })
        })
        .collect();
    for client in clients {
        client.join().expect("client thread");
    }
    let mut ids: Vec<String> = (0..24).map(|_| start_id(&next_batch(&rx)).to_string()).collect();
    ids.sort();
    let expected: Vec<String> = (0..24).map(|i| format!("req-{i:02}")).collect();
    assert_eq!(ids, expected);
}

#[test]
fn when_full_the_connection_stalled_longest_makes_room() {
    let mut settings = small();
    settings.max_connections = 2;
    let (addr, rx) = start(settings);
    // The oldest connection never finishes its request.
    let mut stuck = connect(addr);
    stuck.write_all(b"POST / HTTP/1.1\r\n").expect("write");
    // A connection that keeps delivering stays fresh.
    let mut busy = connect(addr);
    post(&mut busy, start_record("busy").as_bytes());
    expect_bytes(&mut busy, OK);
    assert_eq!(start_id(&next_batch(&rx)), "busy");
    // A newcomer gets the stuck one's slot: it is closed, unanswered, and the newcomer served.
    let mut newcomer = connect(addr);
    post(&mut newcomer, start_record("newcomer").as_bytes());
    expect_bytes(&mut newcomer, OK);
    assert_eq!(start_id(&next_batch(&rx)), "newcomer");
    expect_closed(&mut stuck);
    post(&mut busy, start_record("again").as_bytes());
    expect_bytes(&mut busy, OK);
    assert_eq!(start_id(&next_batch(&rx)), "again");
}

#[test]
fn clients_holding_every_slot_cannot_lock_a_delivery_out() {
    let mut settings = small();
    settings.max_connections = 4;
    let (addr, rx) = start(settings);
    let held: Vec<TcpStream> = (0..40).map(|_| connect(addr)).collect();
    for n in 0..5 {
        let mut client = connect(addr);
        post(&mut client, start_record(&format!("delivery-{n}")).as_bytes());
        expect_bytes(&mut client, OK);
        assert_eq!(start_id(&next_batch(&rx)), format!("delivery-{n}"));
    }
    drop(held);
}

#[test]
fn the_borrowed_buffer_reads_lines_small_reads_and_large_reads_like_a_bufreader() {
    let data: Vec<u8> = b"GET / HTTP/1.1\r\n".iter().copied().chain((0..200u8).cycle().take(10_000)).collect();
    let mut buffer = [0u8; 64];
    let mut reader = Buffered { inner: &data[..], buffer: &mut buffer, start: 0, end: 0 };
    let mut line = String::new();
    reader.read_line(&mut line).expect("line");
    assert_eq!(line, "GET / HTTP/1.1\r\n");
    let mut small = [0u8; 10];
    let n = reader.read(&mut small).expect("small read");
    assert_eq!(&small[..n], &data[16..16 + n]);
    // What is buffered comes first; then reads larger than the buffer go straight through.
    let mut rest = Vec::new();
    reader.read_to_end(&mut rest).expect("rest");
    assert_eq!(rest, &data[16 + n..]);
}
