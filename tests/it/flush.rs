//! The flush policy through the real binary with real freezing (SIGSTOP/SIGCONT): busy
//! functions deliver in the background without losing anything, sparse ones deliver before
//! `event/next`, overrides force either, and SHUTDOWN after a long freeze delivers everything.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lambda_sim::collector::{EventKind, Fault, FaultPlan};
use lambda_sim::lambda::{Invocation, InvokeResult};

use crate::support::{assert_each_once, Env, Setup};

/// When the collector received the request carrying the agent payload of `request_id`.
fn payload_arrival(env: &Env, request_id: &str) -> Option<Instant> {
    let snap = env.collector.snapshot();
    let seq = snap
        .all_telemetry_events()
        .iter()
        .find(|e| e.delivered && e.kind == EventKind::AgentPayload && e.request_id.as_deref() == Some(request_id))?
        .request_seq;
    snap.requests().iter().find(|r| r.seq == seq).map(|r| r.at)
}

fn back_in_next(result: &InvokeResult) -> Instant {
    result.extensions_done_at.expect("extension back in next")
}

#[test]
fn a_burst_of_200_with_a_50ms_collector_loses_nothing() {
    let env = Setup::new().start("burst-50ms");
    env.collector.set_faults(FaultPlan::Down(Fault::Delay(Duration::from_millis(50))));
    let ids: Vec<String> = (0..200).map(|n| env.invoke(env.invocation(n)).request_id).collect();
    assert_eq!(env.shutdown("spindown").extensions[0].exit_code, Some(0), "{}", env.output());
    let snap = env.collector.snapshot();
    assert_each_once(&snap, EventKind::AgentPayload, &ids);
    assert_each_once(&snap, EventKind::Report, &ids);
    assert!(env.line("dropped 0").is_some(), "{}", env.output());
}

#[test]
fn connections_killed_during_freezes_are_retried_after_the_thaw() {
    let env = Setup::new().start("killed-connections");
    let freezes = Arc::new(AtomicUsize::new(0));
    let (collector, count) = (env.collector.clone(), freezes.clone());
    env.lambda.on_freeze(move || {
        collector.close_idle_connections();
        count.fetch_add(1, Ordering::SeqCst);
    });
    // Slow answers keep requests in flight while the sandbox freezes.
    env.collector.set_faults(FaultPlan::Down(Fault::Delay(Duration::from_millis(20))));
    let ids: Vec<String> = (0..100).map(|n| env.invoke(env.invocation(n)).request_id).collect();
    assert_eq!(env.shutdown("spindown").extensions[0].exit_code, Some(0));
    assert!(freezes.load(Ordering::SeqCst) >= 100, "every invocation ended in a real freeze");
    let snap = env.collector.snapshot();
    assert_each_once(&snap, EventKind::AgentPayload, &ids);
    assert_each_once(&snap, EventKind::Report, &ids);
    let summary = env.line("summary:").expect("summary");
    assert!(summary.contains("dropped 0"), "a connection lost in a freeze is retried, not a loss: {summary}");
}

#[test]
fn a_sparse_function_gets_each_invocations_data_delivered_before_its_next() {
    // An age bound of 50 ms makes 100 ms between invocations a long idle gap.
    let env = Setup::new().env("NEW_RELIC_EXTENSION_MAX_DATA_AGE", "50ms").start("sparse");
    env.collector.set_faults(FaultPlan::Down(Fault::Delay(Duration::from_millis(30))));
    for n in 0..10 {
        let result = env.invoke(Invocation { duration: Duration::from_millis(100), ..env.invocation(n) });
        let arrived = payload_arrival(&env, &result.request_id).expect("delivered before next");
        assert!(arrived < back_in_next(&result), "invocation {n}: delivered after event/next");
    }
    env.shutdown("spindown");
}

#[test]
fn synchronous_flush_delivers_before_next_even_when_busy() {
    let env = Setup::new().env("NEW_RELIC_EXTENSION_SYNCHRONOUS_FLUSH", "true").start("sync");
    for n in 0..20 {
        let result = env.invoke(Invocation { duration: Duration::ZERO, ..env.invocation(n) });
        assert!(payload_arrival(&env, &result.request_id).is_some_and(|t| t < back_in_next(&result)), "invocation {n}");
    }
    env.shutdown("spindown");
}

#[test]
fn a_busy_function_does_not_wait_for_a_slow_new_relic() {
    for (tag, env) in [
        ("adaptive", Setup::new().start("busy-adaptive")),
        ("pipeline", Setup::new().env("NEW_RELIC_EXTENSION_PIPELINE_FLUSH", "true").start("busy-pipeline")),
    ] {
        // Answers take 400 ms: an extension waiting for them would be back in next >= 400 ms
        // after the request reached the collector.
        env.collector.set_faults(FaultPlan::Down(Fault::Delay(Duration::from_millis(400))));
        let mut results = Vec::new();
        for n in 0..6 {
            results.push(env.invoke(Invocation { duration: Duration::ZERO, ..env.invocation(n) }));
        }
        assert_eq!(env.shutdown("spindown").extensions[0].exit_code, Some(0));
        // The first invocation is sparse by definition (adaptive waits for it); later ones are busy.
        let skip = usize::from(tag == "adaptive");
        for (n, result) in results.iter().enumerate().skip(skip) {
            let next = back_in_next(result);
            if let Some(arrived) = payload_arrival(&env, &result.request_id) {
                assert!(next < arrived + Duration::from_millis(400), "{tag} invocation {n} waited for New Relic");
            }
        }
        let ids: Vec<String> = results.iter().map(|r| r.request_id.clone()).collect();
        assert_each_once(&env.collector.snapshot(), EventKind::AgentPayload, &ids);
    }
}

#[test]
fn shutdown_after_a_long_freeze_still_delivers_everything_in_time() {
    let env = Setup::new().start("long-freeze");
    env.collector.set_faults(FaultPlan::Down(Fault::Delay(Duration::from_millis(50))));
    let ids: Vec<String> = (0..30).map(|n| env.invoke(env.invocation(n)).request_id).collect();
    // The scenario itself: the sandbox stays frozen longer than any pooled connection lives.
    env.collector.close_idle_connections();
    std::thread::sleep(Duration::from_millis(2500));
    assert!(env.lambda.extensions_stopped(), "the extension is frozen");
    let shutdown = env.shutdown("spindown");
    let exit = &shutdown.extensions[0];
    assert_eq!(exit.exit_code, Some(0), "{}", env.output());
    assert!(!exit.killed && exit.time_to_exit.is_some_and(|t| t < Duration::from_millis(1800)), "{exit:?}");
    let snap = env.collector.snapshot();
    assert_each_once(&snap, EventKind::AgentPayload, &ids);
    assert_each_once(&snap, EventKind::Report, &ids);
}

#[test]
fn a_busy_function_with_a_fast_new_relic_sends_batches_not_a_request_per_invocation() {
    let started = Instant::now();
    let env = Setup::new().start("batches");
    let ids: Vec<String> =
        (0..100).map(|n| env.invoke(Invocation { duration: Duration::ZERO, ..env.invocation(n) }).request_id).collect();
    let requests_before_shutdown = env.collector.requests().len();
    let elapsed = started.elapsed();
    assert_eq!(env.shutdown("spindown").extensions[0].exit_code, Some(0));
    assert_each_once(&env.collector.snapshot(), EventKind::AgentPayload, &ids);
    // Background requests start at most once per 20 ms; only the first invocation (sparse:
    // telemetry, then logs) waits for delivery. Holds however slow the machine is.
    let bound = elapsed.as_millis() as usize / 20 + 1 + 2;
    assert!(
        requests_before_shutdown <= bound,
        "{requests_before_shutdown} requests for 100 invocations in {elapsed:?} (at most {bound})"
    );
}

#[test]
fn a_busy_function_queueing_telemetry_before_every_job_still_gets_its_logs_out() {
    let env = Setup::new().env("NEW_RELIC_EXTENSION_SEND_LOGS", "function").start("logs-not-starved");
    let line = |n: usize| format!("line of invocation {n}");
    let mut n = 0;
    // Each invocation queues an agent payload and a REPORT line; telemetry goes first, but
    // never twice in a row while logs wait, so the first invocation's line goes out while the
    // function keeps running (a frozen sandbox sends nothing, so the test keeps invoking).
    while !env.collector.logs().iter().any(|l| l.message.contains(&line(0))) {
        assert!(n < 200, "no log line delivered in {n} busy invocations");
        env.invoke(Invocation { duration: Duration::ZERO, logs: vec![line(n)], ..env.invocation(n) });
        n += 1;
    }
    assert_eq!(env.shutdown("spindown").extensions[0].exit_code, Some(0));
}
