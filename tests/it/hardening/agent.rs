//! An agent that abuses the pipe: one that opens it and never closes it (after writing half a
//! payload), and one that writes tens of megabytes at once. The function must never block on
//! the pipe, real payloads written around the abuse must still be delivered once each, and what
//! cannot be delivered is counted.

use std::fs::OpenOptions;
use std::io::Write;
use std::time::Duration;

use lambda_sim::collector::{EventKind, Fault, FaultPlan};
use lambda_sim::lambda::Invocation;

use super::{assert_not_held, clean_exit, count};
use crate::support::{assert_each_once, Setup};

const TIMEOUT: Duration = Duration::from_millis(1500);

#[test]
fn an_agent_that_holds_the_pipe_open_mid_payload_blocks_nothing_and_loses_nothing() {
    let env = Setup::new().start("agent-holds");
    let mut stuck = OpenOptions::new().write(true).open(&env.pipe).expect("the FIFO opens for writing at once");
    let half = env.payload("22222222-0000-4000-8000-000000000000", 0);
    let half = &half[..half.len() / 2];
    stuck.write_all(half).expect("write half a payload");
    let mut ids = Vec::new();
    for n in 0..10 {
        let result = env.invoke(Invocation { timeout: TIMEOUT, ..env.invocation(n) });
        assert_not_held(&result, TIMEOUT);
        ids.push(result.request_id);
    }
    let summary = clean_exit(&env);
    let snap = env.collector.snapshot();
    assert_each_once(&snap, EventKind::AgentPayload, &ids);
    assert_each_once(&snap, EventKind::Report, &ids);
    // The half payload is forwarded once, as it was written.
    let text = String::from_utf8_lossy(half);
    assert_eq!(snap.telemetry_events().filter(|e| e.message == text).count(), 1, "{summary}");
    drop(stuck);
}

#[test]
fn an_agent_writing_megabytes_is_never_blocked_and_the_excess_is_counted() {
    // Not frozen between invocations, so the backlog drains while the test waits for it.
    let env = Setup::new().config(|c| c.freeze = false).start("agent-megabytes");
    // New Relic's limit: a request over 1,000,000 compressed bytes is refused with 413.
    env.collector.set_faults(FaultPlan::Down(Fault::Status413IfBodyOver(1_000_000)));
    let before = env.lambda.peak_rss_kb();
    let mut ids = Vec::new();
    let mut took = Duration::ZERO;
    for n in 0..6 {
        let mut inv = Invocation { timeout: TIMEOUT, ..env.invocation(n) };
        if n == 2 {
            // 16 MiB in one write inside the invocation, before the real payload: far beyond
            // what one request to New Relic can carry. The invocation lasts as long as the
            // write does; the pipe reader must keep up with it.
            inv.payloads.insert(0, noise(16 << 20));
            inv.timeout = Duration::from_secs(30);
        }
        let timeout = inv.timeout;
        let result = env.invoke(inv);
        assert_not_held(&result, timeout);
        if n == 2 {
            took = result.responded_at.saturating_duration_since(result.started_at);
        }
        ids.push(result.request_id);
    }
    // The undeliverable megabytes take a while to go through gzip and their 413s.
    let all_in = env
        .collector
        .wait_until(Duration::from_secs(30), |snap| ids.iter().all(|id| snap.has(EventKind::AgentPayload, id)));
    let peak = env.lambda.peak_rss_kb();
    let summary = clean_exit(&env);
    eprintln!("agent wrote 16 MiB in {took:?}; extension peak RSS {before} kB -> {peak} kB; {summary}");
    assert!(all_in, "payloads written after the megabytes were not delivered: {summary}");
    let snap = env.collector.snapshot();
    assert_each_once(&snap, EventKind::AgentPayload, &ids);
    assert_each_once(&snap, EventKind::Report, &ids);
    // Forwarded in 2 MiB pieces, each either refused (413) or pushed out by the queue's bound.
    let counted = count(&summary, "too_large") + count(&summary, "queue_full");
    assert_eq!(counted, 8, "every undeliverable piece is counted: {summary}");
    assert!(took < Duration::from_secs(10), "the agent was held {took:?} writing to the pipe");
    assert!(peak < before + 48 * 1024, "peak RSS grew from {before} kB to {peak} kB");
}

/// `len` bytes of base64-like text that does not compress: it cannot fit a 1 MB request.
fn noise(len: usize) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            ALPHABET[(state % 64) as usize]
        })
        .collect()
}
