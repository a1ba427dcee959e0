//! Sender tests against a tiny scripted HTTP server on 127.0.0.1:0 (one request per
//! connection, `Connection: close`), which records every request it receives.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use miniserde::json::{self, Value};

use super::gzip::gzip_stored;
use super::*;
use crate::retry::XorShift;

/// One scripted answer: status and extra header lines (each ending in `\r\n`).
#[derive(Clone, Copy)]
struct Reply(u16, &'static str);

struct Recorded {
    /// Header names lowercased.
    headers: Vec<(String, String)>,
    /// The gunzipped body.
    json: String,
    compressed_len: usize,
}

impl Recorded {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// The `id` of every log event in the telemetry body, in order.
    fn event_ids(&self) -> Vec<String> {
        let Ok(Value::Object(outer)) = json::from_str::<Value>(&self.json) else { panic!("body") };
        let Some(Value::String(entry)) = outer.get("entry") else { panic!("entry") };
        let Ok(Value::Object(entry)) = json::from_str::<Value>(entry) else { panic!("entry json") };
        let Some(Value::Array(events)) = entry.get("logEvents") else { panic!("logEvents") };
        let id = |e: &Value| match e {
            Value::Object(e) => match e.get("id") {
                Some(Value::String(id)) => id.clone(),
                _ => panic!("id"),
            },
            _ => panic!("event"),
        };
        events.iter().map(id).collect()
    }
}

/// Serves `replies` in order (then 200s) until the test drops the receiver.
fn serve(replies: &[Reply]) -> (String, Receiver<Recorded>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/aws/lambda/v1", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    let script = replies.to_vec();
    std::thread::spawn(move || {
        let mut script = script.into_iter();
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let Some(recorded) = read_request(&stream) else {
                continue;
            };
            let Reply(status, extra) = script.next().unwrap_or(Reply(200, ""));
            // Recorded before answering, so whatever the client saw answered is in the channel.
            if tx.send(recorded).is_err() {
                break;
            }
            let head = format!("HTTP/1.1 {status} X\r\nContent-Length: 2\r\nConnection: close\r\n{extra}\r\n{{}}");
            let _ = (&stream).write_all(head.as_bytes());
        }
    });
    (url, rx)
}

fn read_request(stream: &TcpStream) -> Option<Recorded> {
    let mut reader = BufReader::new(stream);
    let mut headers = Vec::new();
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    loop {
        line.clear();
        reader.read_line(&mut line).ok()?;
        let Some((name, value)) = line.trim_end().split_once(':') else {
            break;
        };
        headers.push((name.to_ascii_lowercase(), value.trim().to_string()));
    }
    let length = headers.iter().find(|(n, _)| n == "content-length")?.1.parse().ok()?;
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    let mut json = String::new();
    flate2::read::GzDecoder::new(&body[..]).read_to_string(&mut json).ok()?;
    Some(Recorded { headers, json, compressed_len: length })
}

fn sender(url: &str) -> Sender {
    Sender::new(SenderConfig {
        telemetry_url: url.to_string(),
        log_url: url.to_string(),
        license_key: "secret-key".into(),
        user_agent: newrelic::user_agent(),
        http_timeout: Duration::from_secs(2),
        network: Default::default(),
    })
}

fn events(n: usize) -> Vec<TelemetryEvent> {
    let mut ids = newrelic::EventIds::new(9);
    (0..n)
        .map(|i| TelemetryEvent {
            id: ids.next_id(),
            timestamp_ms: 1_700_000_000_000 + i as u64,
            message: format!("event {i}"),
        })
        .collect()
}

fn ids(events: &[TelemetryEvent]) -> Vec<String> {
    events.iter().map(|e| e.id.clone()).collect()
}

fn ctx() -> Context {
    Context { function_name: "my-fn".into(), log_group_name: "/aws/lambda/my-fn".into(), ..Context::default() }
}

fn in_secs(s: f64) -> Instant {
    Instant::now() + Duration::from_secs_f64(s)
}

/// Sends `n` events through a server scripted with `replies`; returns the outcome and what the
/// server received.
fn run(replies: &[Reply], n: usize, deadline_s: f64) -> (Outcome, Vec<Recorded>, Vec<TelemetryEvent>) {
    let (url, rx) = serve(replies);
    let batch = events(n);
    let out = sender(&url).send_telemetry(&ctx(), batch.clone(), in_secs(deadline_s));
    (out, rx.try_iter().collect(), batch)
}

#[test]
fn delivers_on_2xx_with_the_right_headers() {
    let (out, got, batch) = run(&[Reply(202, "")], 2, 5.0);
    assert_eq!((out.delivered, out.requests, out.retries), (2, 1, 0));
    assert!(out.requeue.is_empty() && out.dropped.is_empty());
    let [request] = &got[..] else { panic!("{} requests", got.len()) };
    assert_eq!(request.header("x-license-key"), Some("secret-key"));
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(request.header("content-encoding"), Some("gzip"));
    assert_eq!(request.header("user-agent"), Some(newrelic::user_agent().as_str()));
    assert_eq!(request.json.as_bytes(), newrelic::encode_telemetry(&ctx(), &batch));
}

#[test]
fn retries_a_503_then_delivers() {
    let (out, got, batch) = run(&[Reply(503, "")], 3, 5.0);
    assert_eq!((out.delivered, out.requests, out.retries), (3, 2, 1));
    assert_eq!(got.len(), 2);
    assert!(got.iter().all(|r| r.event_ids() == ids(&batch)));
}

#[test]
fn honours_retry_after() {
    let started = Instant::now();
    let (out, got, _) = run(&[Reply(429, "Retry-After: 1\r\n")], 1, 5.0);
    assert!(started.elapsed() >= Duration::from_secs(1), "{:?}", started.elapsed());
    assert_eq!((out.delivered, out.requests, out.retries, got.len()), (1, 2, 1, 2));
}

#[test]
fn retry_after_past_the_deadline_requeues_at_once() {
    let started = Instant::now();
    let (out, got, batch) = run(&[Reply(503, "Retry-After: 30\r\n")], 2, 3.0);
    assert!(started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());
    assert_eq!((out.delivered, out.requests, got.len()), (0, 1, 1));
    assert_eq!(ids(&out.requeue), ids(&batch));
}

#[test]
fn splits_on_413() {
    let (out, got, batch) = run(&[Reply(413, "")], 2, 5.0);
    assert_eq!((out.delivered, out.requests, out.retries), (2, 3, 0));
    let sent: Vec<Vec<String>> = got.iter().map(Recorded::event_ids).collect();
    assert_eq!(sent, [ids(&batch), ids(&batch[..1]), ids(&batch[1..])]);
}

#[test]
fn a_single_event_rejected_with_413_is_dropped() {
    let (out, got, _) = run(&[Reply(413, ""), Reply(413, "")], 1, 5.0);
    assert_eq!((out.delivered, out.requests, got.len()), (0, 1, 1));
    assert_eq!(out.dropped, [(DropReason::TooLarge, 1)]);
    assert!(out.requeue.is_empty());
}

#[test]
fn drops_a_401_without_retrying() {
    let (out, got, _) = run(&[Reply(401, ""), Reply(401, "")], 3, 5.0);
    assert_eq!((out.delivered, out.requests, out.retries, got.len()), (0, 1, 0, 1));
    assert_eq!(out.dropped, [(DropReason::Rejected(401), 3)]);
    assert!(out.requeue.is_empty());
}

#[test]
fn does_not_follow_redirects() {
    let (out, got, _) = run(&[Reply(307, "Location: http://127.0.0.1:9/elsewhere\r\n")], 1, 5.0);
    assert_eq!((out.requests, got.len()), (1, 1));
    assert_eq!(out.dropped, [(DropReason::Rejected(307), 1)]);
}

#[test]
fn warns_once_per_status() {
    let s = sender("http://127.0.0.1:9/");
    assert_eq!([s.first_time(401), s.first_time(401), s.first_time(403)], [true, false, true]);
    assert_eq!([s.first_time(u16::MAX), s.first_time(600)], [true, false]);
}

#[test]
fn requeues_when_refused_until_the_deadline() {
    let url = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/", listener.local_addr().unwrap())
    };
    let batch = events(4);
    let started = Instant::now();
    let deadline = started + Duration::from_millis(400);
    let out = sender(&url).send_telemetry(&ctx(), batch.clone(), deadline);
    assert!(Instant::now() <= deadline + Duration::from_millis(50), "{:?}", started.elapsed());
    assert!(out.requests >= 3 && out.retries == out.requests - 1, "{out:?}");
    assert_eq!(ids(&out.requeue), ids(&batch));
    assert_eq!(out.delivered, 0);
}

#[test]
fn an_unusable_url_is_held_without_waiting() {
    let started = Instant::now();
    let out = sender("not a url").send_telemetry(&ctx(), events(2), in_secs(5.0));
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!((out.requeue.len(), out.requests, out.retries), (2, 1, 0));
}

#[test]
fn splits_batches_above_the_compressed_limit() {
    // 4 × 400 KB of random base64-alphabet text: ~1.2 MB compressed together, ~600 KB per half.
    let mut rng = XorShift::new(3);
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut batch = events(4);
    for event in &mut batch {
        event.message = (0..400_000).map(|_| alphabet[(rng.next_u64() % 64) as usize] as char).collect();
    }
    let whole = gzip(&newrelic::encode_telemetry(&ctx(), &batch), STORE_TELEMETRY_BELOW).unwrap();
    assert!(whole.len() > MAX_COMPRESSED_BYTES, "{}", whole.len());
    let (url, rx) = serve(&[]);
    let out = sender(&url).send_telemetry(&ctx(), batch.clone(), in_secs(10.0));
    let got: Vec<Recorded> = rx.try_iter().collect();
    assert_eq!((out.delivered, out.requests), (4, 2));
    assert!(got.iter().all(|r| r.compressed_len <= MAX_COMPRESSED_BYTES));
    let sent: Vec<Vec<String>> = got.iter().map(Recorded::event_ids).collect();
    assert_eq!(sent, [ids(&batch[..2]), ids(&batch[2..])]);
}

#[test]
fn drop_counts_merge_by_reason() {
    let mut out = Outcome::default();
    out.drop_events(DropReason::Rejected(401), 2);
    out.drop_events(DropReason::TooLarge, 1);
    out.drop_events(DropReason::Rejected(401), 3);
    assert_eq!(out.dropped, [(DropReason::Rejected(401), 5), (DropReason::TooLarge, 1)]);
}

#[test]
fn send_logs_posts_gzip_to_the_log_url() {
    let (url, rx) = serve(&[Reply(500, "")]);
    let result = sender(&url).send_logs(br#"[{"logs":[]}]"#, in_secs(5.0));
    assert_eq!(result, PostResult { delivery: Delivery::Delivered, requests: 2, retries: 1 });
    let got: Vec<Recorded> = rx.try_iter().collect();
    assert_eq!(got.last().map(|r| r.json.as_str()), Some(r#"[{"logs":[]}]"#));
}

#[test]
fn agent_is_configured_for_new_relic() {
    let s = sender("http://127.0.0.1:9/");
    let config = s.agent.config();
    assert!(config.proxy().is_none(), "no implicit proxy from the environment");
    assert_eq!(config.max_redirects(), 0);
    assert!(!config.http_status_as_error());
    assert_eq!(config.max_idle_age(), POOL_IDLE_AGE);
    assert_eq!(config.max_idle_connections(), POOL_SIZE);
    assert_eq!(config.timeouts().global, Some(Duration::from_secs(2)));
}

#[test]
fn gzip_round_trips_and_reuses_its_state() {
    use std::io::Read;
    let inputs: Vec<Vec<u8>> = vec![
        Vec::new(),
        b"{\"a\":1}".to_vec(),
        (0..200_000u32).flat_map(|n| n.to_le_bytes()).collect(),
        "REPORT RequestId: x\tDuration: 1.00 ms\n".repeat(5000).into_bytes(),
        // Just below the stored threshold, and a full stored block's worth (deflated).
        vec![b'x'; STORE_LOGS_BELOW - 1],
        vec![b'y'; 65_535],
    ];
    // Twice each, so the second use of the reused deflate state is checked too.
    for input in inputs.iter().chain(inputs.iter()) {
        let packed = gzip(input, STORE_LOGS_BELOW).expect("gzip");
        let mut unpacked = Vec::new();
        flate2::read::GzDecoder::new(&packed[..]).read_to_end(&mut unpacked).expect("valid gzip");
        assert_eq!(&unpacked, input);
    }
}

#[test]
fn small_bodies_are_stored_and_large_ones_deflated() {
    for limit in [STORE_LOGS_BELOW, STORE_TELEMETRY_BELOW] {
        let small = vec![b'a'; limit - 1];
        let stored_len = small.len() + 10 + small.len().div_ceil(65_535) * 5 + 8;
        assert_eq!(gzip(&small, limit).unwrap().len(), stored_len, "header, stored blocks, trailer");
        let large = vec![b'a'; limit];
        assert!(gzip(&large, limit).unwrap().len() < limit / 100, "deflated");
    }
    // Stored framing across several blocks (the deflated path is not taken for these sizes in
    // production, but the framing must hold for any length).
    for len in [0, 1, 65_535, 65_536, 200_000] {
        let input: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
        let mut packed = Vec::new();
        gzip_stored(&input, &mut packed);
        let mut unpacked = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&packed[..]), &mut unpacked).expect("valid gzip");
        assert_eq!(unpacked, input, "{len} bytes");
    }
}
