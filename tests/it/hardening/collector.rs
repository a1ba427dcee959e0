//! A New Relic that misbehaves in the ways `delivery.rs` does not cover: answers that stall
//! after their headers, garbage instead of HTTP, resets, and redirects. Garbage and resets are
//! retried until delivered; an answer that stalls after a `200` status line counts as accepted
//! (the extension saw the 200) and is not sent twice; a redirect is never followed (a POST body
//! must not go elsewhere) but dropped, counted and warned about once. No invocation is held
//! beyond its margin by any of it.

use std::collections::BTreeMap;
use std::time::Duration;

use lambda_sim::collector::{EventKind, Fault, FaultPlan, Snapshot};
use lambda_sim::lambda::Invocation;

use super::{assert_not_held, clean_exit, count};
use crate::support::{Env, Setup};

const TIMEOUT: Duration = Duration::from_millis(1500);

fn invoke_all(env: &Env, n: usize) -> Vec<String> {
    invoke_range(env, 0..n)
}

fn invoke_range(env: &Env, numbers: std::ops::Range<usize>) -> Vec<String> {
    numbers
        .map(|i| {
            let result = env.invoke(Invocation { timeout: TIMEOUT, ..env.invocation(i) });
            assert_not_held(&result, TIMEOUT);
            result.request_id
        })
        .collect()
}

#[test]
fn stalls_garbage_and_resets_cost_no_invocation_its_margin_and_lose_nothing() {
    // A short HTTP timeout so a stalled answer is given up on quickly and retried.
    let env = Setup::new().env("NEW_RELIC_HTTP_TIMEOUT", "300ms").start("collector-stalls");
    let stall = Fault::Stall(Duration::from_secs(10));
    let mix = vec![stall, Fault::Garbage, Fault::Reset, Fault::Garbage, Fault::Close];
    env.collector.set_faults(FaultPlan::Random { seed: 5, rate: 0.4, mix });
    // How many requests 30 invocations make depends on how the extension batches them; keep
    // invoking (up to 200) until the plan has injected at least five faults.
    let injected = || env.collector.with(|s| s.requests().iter().filter(|r| r.fault.is_some()).count());
    let mut ids = invoke_all(&env, 30);
    while injected() < 5 && ids.len() < 200 {
        ids.extend(invoke_range(&env, ids.len()..ids.len() + 10));
    }
    // Back to health for the SHUTDOWN flush, so everything queued can go out.
    env.collector.set_faults(FaultPlan::None);
    let summary = clean_exit(&env);
    let snap = env.collector.snapshot();
    let faults = snap.requests().iter().filter(|r| r.fault.is_some()).count();
    assert!(faults >= 5, "the fault plan injected only {faults} faults");
    for kind in [EventKind::AgentPayload, EventKind::Report] {
        let got = accepted(&snap, kind);
        let wrong: Vec<_> = ids.iter().filter(|id| got.get(*id) != Some(&1)).collect();
        assert!(wrong.is_empty(), "{kind:?} not accepted exactly once: {wrong:?}");
    }
    assert!(summary.contains("dropped 0"), "{summary}");
}

/// How many times each request id was accepted as `kind`: answered 2xx, or answered with the
/// status line of a 200 before the answer stalled (New Relic had the data; the extension,
/// which saw the 200, rightly does not send it again).
fn accepted(snap: &Snapshot, kind: EventKind) -> BTreeMap<String, usize> {
    let stalled_200 = |seq: usize| snap.requests().get(seq).is_some_and(|r| matches!(r.fault, Some(Fault::Stall(_))));
    let mut out = BTreeMap::new();
    for event in snap.all_telemetry_events().iter().filter(|e| e.kind == kind) {
        if event.delivered || stalled_200(event.request_seq) {
            *out.entry(event.request_id.clone().unwrap_or_default()).or_default() += 1;
        }
    }
    out
}

#[test]
fn a_collector_stalling_every_answer_holds_no_invocation_and_drops_are_counted() {
    let env = Setup::new().start("collector-stall-always");
    env.collector.set_faults(FaultPlan::Down(Fault::Stall(Duration::from_secs(30))));
    let ids = invoke_all(&env, 5);
    let summary = clean_exit(&env);
    // A request whose 200 status line came before the stall counts as sent; everything else
    // still queued or in flight at the SHUTDOWN deadline is counted as dropped.
    let sent = summary.split("sent ").nth(1).and_then(|r| r.split(' ').next()).and_then(|n| n.parse::<u64>().ok());
    assert_eq!(sent.unwrap_or(0) + count(&summary, "shutdown_deadline"), 2 * ids.len() as u64, "{summary}");
}

#[test]
fn redirects_are_not_followed_but_dropped_counted_and_warned_about_once() {
    let env = Setup::new().start("collector-redirect");
    env.collector.set_faults(FaultPlan::Down(Fault::Redirect));
    let ids = invoke_all(&env, 5);
    let summary = clean_exit(&env);
    let snap = env.collector.snapshot();
    assert!(snap.requests().iter().all(|r| !r.path.starts_with("/redirected")), "a redirect was followed");
    assert_eq!(count(&summary, "rejected_307"), 2 * ids.len() as u64, "payloads and REPORT lines: {summary}");
    let warnings: Vec<_> = env.lambda.output().into_iter().filter(|l| l.contains("New Relic answered 307")).collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("redirects are not followed"), "{warnings:?}");
}
