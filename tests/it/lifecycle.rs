//! The Lambda lifecycle through the real binary: no-op mode, timeouts, odd payloads, glued
//! payloads, zero-length invocations, and a platform that fails.

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lambda_sim::collector::EventKind;
use lambda_sim::http::{Reply, Response, Server};
use lambda_sim::lambda::{Invocation, Outcome};

use crate::support::{assert_each_once, binary, Setup, WAIT};

#[test]
fn no_license_key_means_no_op() {
    let env = Setup::new().without_license_key().start("no-key");
    assert_eq!(env.lambda.registered().len(), 1);
    assert!(env.lambda.telemetry_stats().is_empty(), "a no-op extension subscribes to nothing");
    assert!(!env.pipe.exists(), "a no-op extension creates no pipe");
    for _ in 0..3 {
        env.invoke(Invocation::default());
    }
    let shutdown = env.shutdown("spindown");
    assert_eq!(shutdown.extensions[0].exit_code, Some(0));
    assert_eq!(env.collector.counters().requests, 0);
    let lines: Vec<_> = env.lambda.output().into_iter().filter(|l| l.contains("no-op")).collect();
    assert_eq!(lines.len(), 1, "exactly one clear line: {lines:?}");
    assert!(lines[0].contains("license key"), "{lines:?}");
}

#[test]
fn disabled_means_no_op() {
    let env = Setup::new().env("NEW_RELIC_LAMBDA_EXTENSION_ENABLED", "false").start("disabled");
    assert!(env.lambda.telemetry_stats().is_empty());
    assert!(!env.pipe.exists());
    env.invoke(Invocation::default());
    assert_eq!(env.shutdown("spindown").extensions[0].exit_code, Some(0));
    assert!(env.line("disabled").is_some(), "{}", env.output());
}

#[test]
fn a_function_timeout_produces_exactly_one_task_timed_out_line() {
    let env = Setup::new().start("timeout");
    let first = env.invoke(env.invocation(0)).request_id;
    let timed_out = Invocation {
        timeout: Duration::from_millis(300),
        duration: Duration::from_secs(2),
        outcome: Outcome::Timeout,
        ..env.invocation(1)
    };
    let result = env.invoke(timed_out);
    assert_eq!(result.status, "timeout");
    let reset = result.reset.as_ref().expect("a timeout resets the environment");
    assert_eq!(reset.extensions[0].exit_code, Some(0), "{}", env.output());
    // The environment is reused: the extension is re-initialised during the next invoke.
    let after = env.invoke(env.invocation(2)).request_id;
    assert_eq!(env.shutdown("spindown").extensions[0].exit_code, Some(0));
    let snap = env.collector.snapshot();
    let timeouts: Vec<_> = snap.events_of(EventKind::Timeout).collect();
    assert_eq!(timeouts.len(), 1, "{timeouts:#?}");
    assert_eq!(timeouts[0].request_id.as_deref(), Some(result.request_id.as_str()));
    assert!(timeouts[0].message.contains("Task timed out after"), "{}", timeouts[0].message);
    assert_each_once(&snap, EventKind::AgentPayload, &[first.clone(), after.clone()]);
    assert!(snap.has(EventKind::Report, &first) && snap.has(EventKind::Report, &after));
}

#[test]
fn a_function_error_produces_one_failure_line() {
    let env = Setup::new().config(|c| c.freeze = false).start("error");
    let result = env.invoke(Invocation { outcome: Outcome::Error("Runtime.HandlerError".into()), ..env.invocation(0) });
    env.shutdown("spindown");
    let snap = env.collector.snapshot();
    let failures: Vec<_> = snap.events_of(EventKind::Failure).collect();
    assert_eq!(failures.len(), 1, "{failures:#?}");
    assert_eq!(failures[0].request_id.as_deref(), Some(result.request_id.as_str()));
    assert!(failures[0].message.ends_with("Runtime.HandlerError"), "{}", failures[0].message);
}

#[test]
fn shutdown_for_failure_produces_a_platform_fault_line() {
    let env = Setup::new().config(|c| c.freeze = false).start("failure");
    let id = env.invoke(env.invocation(0)).request_id;
    assert_eq!(env.shutdown("FAILURE").extensions[0].exit_code, Some(0));
    let snap = env.collector.snapshot();
    let faults: Vec<_> = snap.events_of(EventKind::PlatformFault).collect();
    assert_eq!(faults.len(), 1);
    assert_eq!(faults[0].message, format!("RequestId: {id} AWS Lambda platform fault caused a shutdown"));
}

#[test]
fn malformed_agent_payloads_are_forwarded_without_a_crash() {
    let env = Setup::new().start("malformed");
    let odd: Vec<Vec<u8>> = vec![
        b"this is not json".to_vec(),
        b"[1,\"NR_LAMBDA_MONITORING\",\"%%%not-base64%%%\"]".to_vec(),
        b"[2,\"NR_LAMBDA_MONITORING\",{\"arn\":1},\"H4sI\"]".to_vec(),
        vec![0xff, 0xfe, b'[', b'1'],
    ];
    let mut sent = Vec::new();
    for (n, payload) in odd.into_iter().enumerate() {
        let inv = Invocation { payloads: vec![payload.clone()], ..env.invocation(n) };
        env.invoke(inv);
        sent.push(String::from_utf8_lossy(&payload).into_owned());
    }
    let good = env.invoke(env.invocation(10)).request_id;
    assert_eq!(env.shutdown("spindown").extensions[0].exit_code, Some(0), "{}", env.output());
    let snap = env.collector.snapshot();
    for text in &sent {
        let copies = snap.telemetry_events().filter(|e| &e.message == text).count();
        assert_eq!(copies, 1, "malformed payload {text:?} must be forwarded once as is");
    }
    assert_each_once(&snap, EventKind::AgentPayload, &[good]);
}

#[test]
fn glued_and_zero_length_invocations_attribute_every_payload_once() {
    let env = Setup::new().start("glued");
    let mut ids = Vec::new();
    for n in 0..60 {
        let mut inv = Invocation { duration: Duration::ZERO, ..env.invocation(n) };
        if n % 3 == 0 {
            // A late payload of an earlier request lands in the same read as this one's.
            let late = format!("11111111-0000-4000-8000-{n:012}");
            inv.payloads.insert(0, env.payload(&late, n + 1));
            inv.glued = true;
            ids.push(late);
        }
        ids.push(env.invoke(inv).request_id);
    }
    assert_eq!(env.shutdown("spindown").extensions[0].exit_code, Some(0));
    let snap = env.collector.snapshot();
    assert_eq!(snap.events_of(EventKind::BadPayload).count(), 0, "glued payloads must be split");
    assert_each_once(&snap, EventKind::AgentPayload, &ids);
}

/// A fake Extensions API that registers the extension, then answers `event/next` with `status`
/// and `body`. Counts `event/next` calls and records `exit/error` reports.
fn failing_platform(status: u16) -> (Server, Arc<AtomicUsize>) {
    let (server, nexts, _) = platform(status, r#"{"errorMessage":"boom","errorType":"Extension.Test"}"#);
    (server, nexts)
}

type Reports = Arc<std::sync::Mutex<Vec<(String, Option<String>, String)>>>;

fn platform(status: u16, next_body: &'static str) -> (Server, Arc<AtomicUsize>, Reports) {
    let nexts = Arc::new(AtomicUsize::new(0));
    let reports: Reports = Arc::default();
    let (counter, seen) = (nexts.clone(), reports.clone());
    let server = Server::start(
        "127.0.0.1:0",
        Arc::new(move |req| {
            if req.path.ends_with("/register") {
                let body = r#"{"functionName":"f","functionVersion":"$LATEST","handler":"h"}"#;
                Reply::Respond(
                    Response::json(200, body)
                        .with_header("Lambda-Extension-Identifier", "0c1b6e2e-6a7b-4d8e-9f00-000000000001"),
                )
            } else if req.path.ends_with("/event/next") {
                counter.fetch_add(1, Ordering::SeqCst);
                Reply::Respond(Response::json(status, next_body))
            } else {
                let header = req.header("Lambda-Extension-Function-Error-Type").map(str::to_string);
                let body = String::from_utf8_lossy(&req.body).into_owned();
                seen.lock().expect("lock").push((req.path.clone(), header, body));
                Reply::Respond(Response::json(202, r#"{"status":"OK"}"#))
            }
        }),
    )
    .expect("server");
    (server, nexts, reports)
}

fn run_against(runtime_api: &str, tag: &str) -> (std::process::ExitStatus, Duration, String) {
    let dir = crate::support::scratch(tag);
    let started = Instant::now();
    let mut child = Command::new(binary())
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", runtime_api)
        .env("NEW_RELIC_LICENSE_KEY", "k")
        .env("NEW_RELIC_TELEMETRY_ENDPOINT", "http://127.0.0.1:9/aws/lambda/v1")
        .env("NEW_RELIC_EXTENSION_PIPE_PATH", dir.join("pipe"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let (tx, rx) = std::sync::mpsc::channel();
    let mut stdout = child.stdout.take().expect("stdout");
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut stdout, &mut text);
        let _ = tx.send(text);
    });
    // Stdout reaches EOF when the process exits; only then is waiting for it bounded.
    let Ok(output) = rx.recv_timeout(WAIT) else {
        let _ = child.kill();
        panic!("the extension did not exit within {WAIT:?}");
    };
    let status = child.wait().expect("exit status");
    (status, started.elapsed(), output)
}

#[test]
fn event_next_500_or_403_ends_the_process_cleanly_without_a_hot_loop() {
    for status in [500, 403] {
        let (server, nexts) = failing_platform(status);
        let (exit, elapsed, output) = run_against(&server.addr().to_string(), &format!("next-{status}"));
        assert_eq!(exit.code(), Some(1), "{output}");
        assert!(elapsed < Duration::from_secs(5));
        assert_eq!(nexts.load(Ordering::SeqCst), 1, "no retry loop on {status}");
        assert!(output.contains(&format!("status {status}")), "{output}");
        assert!(!output.contains("panicked"), "{output}");
    }
}

#[test]
fn unknown_events_are_skipped_and_a_platform_that_keeps_sending_them_gets_an_exit_error() {
    let (server, nexts, reports) = platform(200, r#"{"eventType":"RESTORE","deadlineMs":1}"#);
    let (exit, _, output) = run_against(&server.addr().to_string(), "unknown-events");
    assert_eq!(exit.code(), Some(1), "{output}");
    assert_eq!(nexts.load(Ordering::SeqCst), 3, "two unknown events are skipped, the third ends it");
    assert_eq!(output.matches("ignored").count(), 2, "{output}");
    let reports = reports.lock().expect("lock");
    let exit_errors: Vec<_> = reports.iter().filter(|(path, _, _)| path.ends_with("/extension/exit/error")).collect();
    assert_eq!(exit_errors.len(), 1, "{reports:?}");
    assert_eq!(exit_errors[0].1.as_deref(), Some("Extension.UnexpectedEvent"));
    assert!(exit_errors[0].2.contains("\"errorType\":\"Extension.UnexpectedEvent\""), "{}", exit_errors[0].2);
}

#[test]
fn an_unreachable_runtime_api_is_a_clear_error() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = closed.local_addr().expect("addr").to_string();
    drop(closed);
    let (exit, _, output) = run_against(&addr, "unreachable");
    assert_eq!(exit.code(), Some(1));
    assert!(output.contains("failed to register"), "{output}");
}
