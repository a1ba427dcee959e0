//! A Lambda platform that fails in the ways `lifecycle.rs` does not cover: `register` answered
//! 500 or cut off, `event/next` connections closed or answered with garbage (a few times, or
//! for good), and a Telemetry API that answers 500. Transient failures are retried, lasting ones
//! end the process with a clear error and exit 1 after at most three attempts (never a hot
//! loop), and a missing Telemetry API only costs the REPORT lines.

use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lambda_sim::collector::EventKind;
use lambda_sim::http::{Reply, Request, Response, Server};
use lambda_sim::lambda::TelemetryMode;

use crate::support::{assert_each_once, binary, scratch, Setup, WAIT};

const REGISTERED: &str = r#"{"functionName":"f","functionVersion":"$LATEST","handler":"h"}"#;
const SHUTDOWN: &str = r#"{"eventType":"SHUTDOWN","shutdownReason":"spindown","deadlineMs":0}"#;

/// A platform answering `register` with `register` and the n-th `event/next` with `next(n)`.
fn platform(register: Reply, next: impl Fn(usize) -> Reply + Send + Sync + 'static) -> (Server, Arc<AtomicUsize>) {
    let nexts = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&nexts);
    let handler = move |req: Request| {
        if req.path.ends_with("/register") {
            register.clone()
        } else if req.path.ends_with("/event/next") {
            next(counter.fetch_add(1, Ordering::SeqCst))
        } else {
            Reply::Respond(Response::json(202, r#"{"status":"OK"}"#))
        }
    };
    (Server::start("127.0.0.1:0", Arc::new(handler)).expect("server"), nexts)
}

fn registered() -> Reply {
    Reply::Respond(
        Response::json(200, REGISTERED)
            .with_header("Lambda-Extension-Identifier", "0c1b6e2e-0000-4000-8000-000000000001"),
    )
}

/// Runs the extension against `server` until it exits: (exit code, time taken, stdout).
fn run_against(server: &Server, tag: &str) -> (Option<i32>, Duration, String) {
    let dir = scratch(tag);
    let started = Instant::now();
    let mut child = Command::new(binary())
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", server.addr().to_string())
        .env("NEW_RELIC_LICENSE_KEY", "k")
        .env("NEW_RELIC_TELEMETRY_ENDPOINT", "http://127.0.0.1:9/aws/lambda/v1")
        .env("NEW_RELIC_EXTENSION_PIPE_PATH", dir.join("pipe"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let mut stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        let _ = tx.send(text);
    });
    // Stdout reaches EOF when the process exits; only then is waiting for it bounded.
    let Ok(output) = rx.recv_timeout(WAIT) else {
        let _ = child.kill();
        panic!("the extension did not exit within {WAIT:?}");
    };
    let status = child.wait().expect("exit status");
    (status.code(), started.elapsed(), output)
}

#[test]
fn register_answered_500_or_cut_off_is_a_clear_error_and_exit_1() {
    let cases = [
        (Reply::Respond(Response::json(500, r#"{"errorType":"ServiceException"}"#)), "status 500"),
        (Reply::Close, "failed to register"),
        (Reply::Raw(b"\x16\x03 not http\r\n\r\n".to_vec()), "failed to register"),
    ];
    for (n, (reply, expected)) in cases.into_iter().enumerate() {
        let (server, nexts) = platform(reply, |_| Reply::Close);
        let (code, took, output) = run_against(&server, &format!("register-fails-{n}"));
        assert_eq!(code, Some(1), "{output}");
        assert!(output.contains(expected), "{output}");
        assert!(took < Duration::from_secs(3), "took {took:?}");
        assert_eq!(nexts.load(Ordering::SeqCst), 0, "no event/next without a registration");
    }
}

#[test]
fn event_next_cut_off_twice_is_retried_and_the_extension_carries_on() {
    let (server, nexts) = platform(registered(), |n| match n {
        0 => Reply::Close,
        1 => Reply::Raw(b"garbage\r\n\r\n".to_vec()),
        _ => Reply::Respond(Response::text(200, SHUTDOWN)),
    });
    let (code, _, output) = run_against(&server, "next-transient");
    assert_eq!(code, Some(0), "{output}");
    assert_eq!(nexts.load(Ordering::SeqCst), 3);
    assert!(output.contains("summary:"), "{output}");
}

#[test]
fn event_next_cut_off_for_good_gives_up_after_three_attempts_without_a_hot_loop() {
    let (server, nexts) = platform(registered(), |_| Reply::Close);
    let (code, took, output) = run_against(&server, "next-down");
    assert_eq!(code, Some(1), "{output}");
    assert_eq!(nexts.load(Ordering::SeqCst), 3, "{output}");
    // Backoff between attempts (200 ms, 400 ms), and nothing more.
    assert!(took >= Duration::from_millis(500) && took < Duration::from_secs(3), "took {took:?}");
    assert!(output.contains("giving up"), "{output}");
}

#[test]
fn a_telemetry_api_answering_500_costs_the_report_lines_only() {
    let env = Setup::new().config(|c| c.telemetry = TelemetryMode::Error500).start("telemetry-500");
    let ids: Vec<String> = (0..5).map(|n| env.invoke(env.invocation(n)).request_id).collect();
    let shutdown = env.shutdown("spindown");
    assert_eq!(shutdown.extensions[0].exit_code, Some(0), "{}", env.output());
    let snap = env.collector.snapshot();
    assert_each_once(&snap, EventKind::AgentPayload, &ids);
    assert_eq!(snap.events_of(EventKind::Report).count(), 0);
    assert!(env.line("failed to subscribe to the Telemetry API").is_some(), "{}", env.output());
}
