//! Self-tests of the fake collector seen from a client: decoding of
//! hand-built requests, shape errors, every fault kind, refused mode on the
//! same port, duplicate tracking and `wait_until`.

use lambda_sim::agent::{self, PayloadSpec};
use lambda_sim::collector::{Collector, Endpoint, EventKind, Fault, FaultPlan};
use lambda_sim::http::{request, Answer};
use lambda_sim::util::gzip;
use miniserde::json;
use std::io::ErrorKind;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(5);
const TELEMETRY: &str = "/aws/lambda/v1";

/// A telemetry body in the exact shape of newrelic.md §3.
fn telemetry_body(events: &[(&str, &str)]) -> String {
    let items: Vec<String> = events
        .iter()
        .map(|(id, msg)| {
            format!(
                r#"{{"id":{},"timestamp":1700000000000,"message":{}}}"#,
                json::to_string(*id),
                json::to_string(*msg)
            )
        })
        .collect();
    let entry = format!(
        r#"{{"logEvents":[{}],"logGroup":"/aws/lambda/f","logStream":"","messageType":"","owner":""}}"#,
        items.join(",")
    );
    format!(
        r#"{{"context":{{"function_name":"f","invoked_function_arn":"arn:aws:lambda:us-east-1:1:function:f","log_group_name":"/aws/lambda/f","log_stream_name":"ext:1"}},"entry":{}}}"#,
        json::to_string(&entry)
    )
}

fn headers() -> Vec<(&'static str, &'static str)> {
    vec![
        ("X-License-Key", "k"),
        ("Content-Type", "application/json"),
        ("Content-Encoding", "gzip"),
        ("User-Agent", "t/1"),
    ]
}

fn post(c: &Collector, path: &str, body: &str) -> std::io::Result<Answer> {
    request(c.addr(), "POST", path, &headers(), &gzip(body.as_bytes()), T)
}

#[test]
fn decodes_and_classifies_a_well_formed_request() {
    let c = Collector::start().expect("start");
    assert_eq!(c.telemetry_url(), format!("http://{}/aws/lambda/v1", c.addr()));
    let payload = agent::build(&PayloadSpec::new("req-1").trace_id("tr-1").version(2));
    let payload = String::from_utf8(payload).expect("utf8");
    let body = telemetry_body(&[
        ("e1", &payload),
        ("e2", "REPORT RequestId: req-1\tDuration: 1.50 ms\tBilled Duration: 2 ms"),
        ("e3", "2024-05-01T10:00:00.000Z req-2 Task timed out after 3.00 seconds"),
        ("e4", "RequestId: req-3 AWS Lambda platform fault caused a shutdown"),
        ("e5", "2024-05-01T10:00:00.000Z req-4 Function invocation failed after 0.50 seconds: Boom"),
        ("e6", "[1,\"NR_LAMBDA_MONITORING\",\"a\"][1,\"NR_LAMBDA_MONITORING\",\"b\"]"),
    ]);
    let (status, _, resp) = post(&c, TELEMETRY, &body).expect("post");
    assert_eq!((status, resp.as_slice()), (200, &b"{}"[..]));
    let reqs = c.requests();
    let r = &reqs[0];
    assert!(r.shape_errors.is_empty(), "{:?}", r.shape_errors);
    assert_eq!((r.endpoint, r.delivered, r.gzip, r.items), (Endpoint::Telemetry, true, true, 6));
    assert_eq!(r.decoded_size, body.len());
    assert_eq!(r.header("x-license-key"), Some("k"));
    assert_eq!(r.context.as_ref().map(|x| x.log_stream_name.as_str()), Some("ext:1"));
    let kinds: Vec<(EventKind, Option<String>)> =
        c.telemetry_events().into_iter().map(|e| (e.kind, e.request_id)).collect();
    let id = |s: &str| Some(s.to_string());
    assert_eq!(
        kinds,
        vec![
            (EventKind::AgentPayload, id("req-1")),
            (EventKind::Report, id("req-1")),
            (EventKind::Timeout, id("req-2")),
            (EventKind::PlatformFault, id("req-3")),
            (EventKind::Failure, id("req-4")),
            (EventKind::BadPayload, None),
        ]
    );
    assert_eq!(c.telemetry_events()[0].trace_id.as_deref(), Some("tr-1"));
    assert!(c.with(|s| s.has(EventKind::Report, "req-1")));
    let n = c.counters();
    assert_eq!((n.requests, n.telemetry_requests, n.delivered_requests, n.events_delivered), (1, 1, 1, 6));
}

#[test]
fn decodes_log_requests() {
    let c = Collector::start().expect("start");
    let body = r#"[{"common":{"attributes":{"plugin":"p","faas.name":"f"}},"logs":[{"timestamp":1,"message":"hello","attributes":{"aws.lambda_request_id":"r1","level":"INFO"}}]}]"#;
    assert_eq!(post(&c, "/log/v1", body).expect("post").0, 200);
    let logs = c.logs();
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0].message, "hello");
    assert_eq!(logs[0].attributes.get("aws.lambda_request_id").map(String::as_str), Some("r1"));
    assert_eq!(logs[0].common.get("faas.name").map(String::as_str), Some("f"));
    assert!(c.snapshot().shape_errors().is_empty());
}

#[test]
fn shape_and_header_errors_are_recorded() {
    let c = Collector::start().expect("start");
    let plain = telemetry_body(&[("e", "m")]);
    let (status, _, _) =
        request(c.addr(), "POST", TELEMETRY, &[("Content-Type", "text/plain")], plain.as_bytes(), T).expect("post");
    assert_eq!(status, 200, "the fake ingest still answers; the test reads the errors");
    post(&c, TELEMETRY, r#"{"context":{},"entry":{"logEvents":[]}}"#).expect("post");
    request(c.addr(), "POST", TELEMETRY, &headers(), b"not gzip", T).expect("post");
    let errors = c.snapshot().shape_errors();
    let of = |seq: usize| errors.iter().filter(|(s, _)| *s == seq).map(|(_, e)| e.as_str()).collect::<Vec<_>>();
    assert_eq!(
        of(0),
        vec![
            "header X-License-Key missing",
            "header User-Agent missing",
            "header Content-Type is not application/json",
            "header Content-Encoding is not gzip"
        ]
    );
    assert!(
        of(1).contains(&"context.function_name missing") && of(1).contains(&"body.entry is not a string"),
        "{:?}",
        of(1)
    );
    assert!(of(2).iter().any(|e| e.starts_with("body does not gunzip")), "{:?}", of(2));
    assert_eq!(c.counters().shape_error_requests, 3);
    assert!(c.requests()[1].body_sample.is_some());
}

#[test]
fn scripted_faults_seen_from_a_client() {
    let c = Collector::start().expect("start");
    let body = telemetry_body(&[("e", "m")]);
    c.set_faults(FaultPlan::Script(vec![
        Fault::Status(503),
        Fault::RetryAfter(429, 7),
        Fault::Status413IfBodyOver(10),
        Fault::Redirect,
        Fault::Reset,
        Fault::Close,
        Fault::Garbage,
    ]));
    assert_eq!(post(&c, TELEMETRY, &body).expect("503").0, 503);
    let (s, h, _) = post(&c, TELEMETRY, &body).expect("429");
    assert_eq!(s, 429);
    assert!(h.iter().any(|(k, v)| k == "Retry-After" && v == "7"));
    assert_eq!(post(&c, TELEMETRY, &body).expect("413").0, 413);
    let (s, h, _) = post(&c, TELEMETRY, &body).expect("307");
    assert_eq!(s, 307);
    let location = h.iter().find(|(k, _)| k == "Location").map(|(_, v)| v.clone()).expect("location");
    assert_eq!(location, "/redirected/aws/lambda/v1");
    assert_eq!(post(&c, TELEMETRY, &body).expect_err("reset").kind(), ErrorKind::ConnectionReset);
    assert_eq!(post(&c, TELEMETRY, &body).expect_err("close").kind(), ErrorKind::InvalidData);
    assert!(post(&c, TELEMETRY, &body).is_err(), "garbage");
    assert_eq!(c.pending_faults(), 0);
    assert_eq!(post(&c, &location, &body).expect("redirected").0, 200, "redirect target is served");
    let statuses: Vec<Option<u16>> = c.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![Some(503), Some(429), Some(413), Some(307), None, None, None, Some(200)]);
    let n = c.counters();
    assert_eq!((n.delivered_requests, n.failed_requests, n.events_delivered), (1, 7, 1));
    assert_eq!(c.snapshot().all_telemetry_events().len(), 8);
    assert_eq!(c.requests().last().map(|r| r.endpoint), Some(Endpoint::Telemetry));
}

#[test]
fn slow_faults_delay_and_stall() {
    let c = Collector::start().expect("start");
    let body = telemetry_body(&[("e", "m")]);
    c.push_faults(vec![Fault::Delay(Duration::from_millis(150)), Fault::Stall(Duration::from_secs(2))]);
    let start = Instant::now();
    assert_eq!(post(&c, TELEMETRY, &body).expect("delayed").0, 202);
    assert!(start.elapsed() >= Duration::from_millis(150));
    let short = Duration::from_millis(200);
    let err = request(c.addr(), "POST", TELEMETRY, &headers(), &gzip(body.as_bytes()), short).expect_err("stall");
    assert!(matches!(err.kind(), ErrorKind::TimedOut | ErrorKind::WouldBlock), "{err:?}");
    assert_eq!(c.counters().delivered_requests, 1, "a delayed 202 is delivered, a stall is not");
}

#[test]
fn down_random_and_scoped_plans() {
    let c = Collector::start().expect("start");
    let body = telemetry_body(&[("e", "m")]);
    c.set_faults(FaultPlan::Down(Fault::Status(500)));
    assert!((0..3).all(|_| post(&c, TELEMETRY, &body).map(|r| r.0).ok() == Some(500)));
    c.set_faults_on(Endpoint::Log, FaultPlan::Down(Fault::Status(403)));
    assert_eq!(post(&c, TELEMETRY, &body).expect("telemetry").0, 200);
    assert_eq!(post(&c, "/log/v1", "[]").expect("log").0, 403);
    c.set_faults(FaultPlan::Random { seed: 3, rate: 0.5, mix: vec![Fault::Status(502)] });
    let failed = (0..40).filter(|_| post(&c, TELEMETRY, &body).map(|r| r.0).ok() == Some(502)).count();
    assert!((8..32).contains(&failed), "{failed}");
    c.clear_faults();
    assert_eq!(post(&c, TELEMETRY, &body).expect("ok").0, 200);
}

#[test]
fn refused_then_resumed_on_the_same_port() {
    let c = Collector::start().expect("start");
    let addr = c.addr();
    c.refuse();
    assert!(!c.is_listening());
    let err = post(&c, TELEMETRY, "{}").expect_err("refused");
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
    c.resume().expect("resume");
    assert_eq!(c.addr(), addr);
    assert_eq!(post(&c, TELEMETRY, &telemetry_body(&[])).expect("back").0, 200);
}

#[test]
fn duplicates_are_counted_and_wait_until_wakes() {
    let c = Collector::start().expect("start");
    let addr = c.addr();
    let sender = std::thread::spawn(move || {
        let body = telemetry_body(&[("same", "REPORT RequestId: r9\tDuration: 1.00 ms"), ("other", "hi")]);
        for _ in 0..2 {
            request(addr, "POST", TELEMETRY, &headers(), &gzip(body.as_bytes()), T).expect("post");
        }
    });
    assert!(c.wait_until(T, |s| s.telemetry_events().count() == 4));
    sender.join().expect("sender");
    let snap = c.snapshot();
    assert_eq!(snap.duplicate_ids(), vec![("other".to_string(), 2), ("same".to_string(), 2)]);
    assert_eq!(snap.duplicate_deliveries(), vec![(("r9".to_string(), EventKind::Report), 2)]);
    let start = Instant::now();
    assert!(!c.wait_until(Duration::from_millis(100), |s| s.requests().len() > 2));
    assert!(start.elapsed() >= Duration::from_millis(100));
}

#[test]
fn real_agent_payload_is_attributed_by_its_embedded_request_id() {
    let c = Collector::start().expect("start");
    let fixtures = agent::fixtures();
    let (_, bytes) = fixtures.first().expect("tests/data/agent fixtures present");
    let real = String::from_utf8(bytes.clone()).expect("utf8");
    let retargeted = String::from_utf8(agent::retarget(bytes, "req-77", "abc").expect("retarget")).expect("utf8");
    post(&c, TELEMETRY, &telemetry_body(&[("a", &real), ("b", &retargeted)])).expect("post");
    let events = c.telemetry_events();
    let ids: Vec<(EventKind, Option<&str>)> = events.iter().map(|e| (e.kind, e.request_id.as_deref())).collect();
    assert_eq!(
        ids,
        vec![
            (EventKind::AgentPayload, Some("7f1c0d2a-0001-4c5e-9a7b-000000000001")),
            (EventKind::AgentPayload, Some("req-77"))
        ]
    );
    assert_eq!(events.get(1).and_then(|e| e.trace_id.as_deref()), Some("abc"));
}

#[test]
fn decoding_when_read_records_as_usual_and_in_arrival_order() {
    let c = Collector::start().expect("collector");
    c.decode_when_read();
    for n in 0..3 {
        let line = format!("REPORT RequestId: r{n}\tDuration: 1.00 ms");
        let answer = post(&c, TELEMETRY, &telemetry_body(&[("a", &line)]));
        assert_eq!(answer.expect("post").0, 200);
    }
    // A waiter sees what was answered although nothing was decoded before it asked.
    assert!(c.wait_until(Duration::from_secs(30), |s| s.requests().len() == 3));
    let snap = c.snapshot();
    let seqs: Vec<usize> = snap.requests().iter().map(|r| r.seq).collect();
    assert_eq!(seqs, vec![0, 1, 2]);
    let ids: Vec<Option<String>> = snap.telemetry_events().map(|e| e.request_id.clone()).collect();
    assert_eq!(ids, vec![Some("r0".into()), Some("r1".into()), Some("r2".into())]);
}
