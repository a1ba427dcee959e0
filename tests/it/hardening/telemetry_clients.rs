//! Telemetry API clients that misbehave, connected straight to the extension's listener while
//! the simulated Lambda delivers through the same port: idle and unfinished connections by the
//! hundred, a client trickling one byte at a time, oversized, truncated and garbage bodies, and
//! hundreds of connections at once. Lambda's own batches must still get through (every REPORT
//! line arrives), every batch answered 200 must be delivered, and what is ignored is counted.
//!
//! The sandbox is not frozen between invocations here: in Lambda, a client inside the sandbox
//! is frozen along with the extension, so misbehaviour only ever meets a running extension.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use lambda_sim::collector::EventKind;
use lambda_sim::http;
use lambda_sim::lambda::Invocation;

use super::{assert_not_held, clean_exit, count, listener_addr, reports};
use crate::support::{assert_each_once, Env, Setup};

const TIMEOUT: Duration = Duration::from_millis(1500);

/// A Telemetry API batch with one `platform.report` for `request_id`.
fn report_batch(request_id: &str) -> String {
    format!(
        r#"[{{"time":"2026-01-01T00:00:00.000Z","type":"platform.report","record":{{"requestId":"{request_id}","status":"success","metrics":{{"durationMs":1.5,"billedDurationMs":2,"memorySizeMB":128,"maxMemoryUsedMB":40}}}}}}]"#
    )
}

/// Runs `n` invocations; asserts none was held; returns their request ids.
fn invoke_all(env: &Env, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let result = env.invoke(Invocation { timeout: TIMEOUT, ..env.invocation(i) });
            assert_not_held(&result, TIMEOUT);
            result.request_id
        })
        .collect()
}

/// A running (never frozen) extension.
fn start(tag: &str) -> Env {
    Setup::new().config(|c| c.freeze = false).start(tag)
}

/// A connection whose every read and write gives up after 10 s, so no test can hang on it.
fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).expect("the listener accepts connections");
    stream.set_read_timeout(Some(Duration::from_secs(10))).expect("read timeout");
    stream.set_write_timeout(Some(Duration::from_secs(10))).expect("write timeout");
    stream
}

#[test]
fn idle_and_unfinished_connections_never_block_lambdas_own_deliveries() {
    let env = start("hostile-idle");
    let addr = listener_addr(&env);
    // Held open for the whole run: silent ones, ones stuck in the head, ones stuck in the body.
    let mut held = Vec::new();
    for n in 0..150 {
        let mut stream = connect(addr);
        let stuck: &[u8] = match n % 3 {
            0 => b"",
            1 => b"POST /telemetry HTTP/1.1\r\nContent-Ty",
            _ => b"POST /telemetry HTTP/1.1\r\nContent-Length: 100000\r\n\r\n[{\"type\":",
        };
        let _ = stream.write_all(stuck);
        held.push(stream);
    }
    let ids = invoke_all(&env, 12);
    let summary = clean_exit(&env);
    assert_each_once(&env.collector.snapshot(), EventKind::Report, &ids);
    assert!(summary.contains("dropped 0"), "{summary}");
    drop(held);
}

#[test]
fn a_client_trickling_one_byte_at_a_time_is_served_without_holding_anyone_up() {
    let env = start("hostile-trickle");
    let addr = listener_addr(&env);
    let body = report_batch("trickled-0000-4000-8000-000000000001");
    let request = format!("POST /telemetry HTTP/1.1\r\nContent-Length: {}\r\n\r\n{body}", body.len());
    // The scenario itself is slowness: one byte every 4 ms, about 1.5 s for the request.
    let trickler = thread::spawn(move || {
        let mut stream = connect(addr);
        for byte in request.as_bytes() {
            stream.write_all(&[*byte]).expect("the listener keeps reading");
            thread::sleep(Duration::from_millis(4));
        }
        let mut answer = [0u8; 12];
        stream.read_exact(&mut answer).map(|()| answer.to_vec())
    });
    let mut ids = invoke_all(&env, 10);
    let answer = trickler.join().expect("trickler thread").expect("an answer");
    assert_eq!(&answer, b"HTTP/1.1 200");
    clean_exit(&env);
    ids.push("trickled-0000-4000-8000-000000000001".into());
    assert_each_once(&env.collector.snapshot(), EventKind::Report, &ids);
}

/// Sends `head` then `len` filler bytes in 64 KiB writes; returns the status answered, if any.
fn post_raw(addr: SocketAddr, head: &str, len: usize, then: &[u8]) -> Option<String> {
    let mut stream = connect(addr);
    stream.write_all(head.as_bytes()).ok()?;
    let filler = vec![b'x'; 64 * 1024];
    let mut left = len;
    while left > 0 {
        let n = left.min(filler.len());
        stream.write_all(&filler[..n]).ok()?;
        left -= n;
    }
    stream.write_all(then).ok()?;
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer).into_owned();
    text.split("\r\n").next().filter(|l| !l.is_empty()).map(str::to_string)
}

#[test]
fn oversized_truncated_and_garbage_bodies_are_answered_counted_and_cost_no_memory() {
    let env = start("hostile-bodies");
    let addr = listener_addr(&env);
    let before = env.lambda.peak_rss_kb();
    // 64 MiB announced and sent: read and thrown away as it comes, answered 200, counted.
    let big = 64 << 20;
    let head = format!("POST /telemetry HTTP/1.1\r\nContent-Length: {big}\r\nConnection: close\r\n\r\n");
    assert_eq!(post_raw(addr, &head, big, b"").as_deref(), Some("HTTP/1.1 200 OK"));
    // 16 MiB in one chunk of a chunked body.
    let chunk = 16 << 20;
    let head =
        format!("POST /telemetry HTTP/1.1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{chunk:x}\r\n");
    assert_eq!(post_raw(addr, &head, chunk, b"\r\n0\r\n\r\n").as_deref(), Some("HTTP/1.1 200 OK"));
    // Truncated: the client goes away mid-body. Nothing to answer, nothing delivered.
    let head = "POST /telemetry HTTP/1.1\r\nContent-Length: 1000\r\n\r\n[{\"type\":\"platform.report\"";
    drop(connect(addr).write_all(head.as_bytes()));
    // Not JSON, and JSON of unknown types: answered 200 (Lambda would resend forever), counted.
    let garbage = [("not json at all".to_string(), 1), (r#"[{"type":"vendor.x"},{"type":"other"}]"#.to_string(), 2)];
    for (body, _) in &garbage {
        let answer = http::request(addr, "POST", "/telemetry", &[], body.as_bytes(), Duration::from_secs(5));
        assert_eq!(answer.map(|a| a.0).ok(), Some(200));
    }
    let ids = invoke_all(&env, 5);
    let peak = env.lambda.peak_rss_kb();
    let summary = clean_exit(&env);
    assert_each_once(&env.collector.snapshot(), EventKind::Report, &ids);
    assert_eq!((count(&summary, "oversized"), count(&summary, "unknown")), (2, 2), "{summary}");
    assert!(count(&summary, "malformed") >= 1, "{summary}");
    // 80 MiB went through the listener; what it kept of it is a read buffer or two.
    assert!(peak < before + 8 * 1024, "peak RSS grew from {before} kB to {peak} kB");
}

#[test]
fn hundreds_of_connections_at_once_lose_nothing_that_was_acknowledged() {
    let env = start("hostile-burst");
    let addr = listener_addr(&env);
    let started = Instant::now();
    let clients: Vec<_> = (0..300)
        .map(|n| {
            thread::spawn(move || {
                let id = format!("burst000-0000-4000-8000-{n:012}");
                let body = report_batch(&id);
                let answer = http::request(addr, "POST", "/telemetry", &[], body.as_bytes(), Duration::from_secs(5));
                (id, answer.map(|a| a.0).ok())
            })
        })
        .collect();
    let mut ids = invoke_all(&env, 10);
    let answers: Vec<(String, Option<u16>)> = clients.into_iter().map(|c| c.join().expect("client thread")).collect();
    assert!(started.elapsed() < Duration::from_secs(20), "the burst took {:?}", started.elapsed());
    let acknowledged: Vec<String> = answers.iter().filter(|(_, s)| *s == Some(200)).map(|(id, _)| id.clone()).collect();
    assert!(acknowledged.len() >= 32, "only {} of 300 connections were served", acknowledged.len());
    clean_exit(&env);
    let snap = env.collector.snapshot();
    // Every Lambda REPORT, and every burst batch the listener said 200 to, delivered once.
    ids.extend(acknowledged);
    let delivered = reports(&snap);
    let missing: Vec<_> = ids.iter().filter(|id| !delivered.contains(id)).collect();
    assert!(missing.is_empty(), "{} acknowledged reports never delivered: {missing:?}", missing.len());
    assert!(snap.duplicate_deliveries().is_empty(), "{:?}", snap.duplicate_deliveries());
}
