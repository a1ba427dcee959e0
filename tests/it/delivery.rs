//! Delivery through the real binary: every agent payload and every REPORT line reaches the
//! collector exactly once, in the exact wire shape, whatever the collector does.

use std::time::Duration;

use lambda_sim::collector::{EventKind, Fault, FaultPlan};
use lambda_sim::lambda::{Invocation, TelemetryMode};

use crate::support::{assert_each_once, Setup, KEY};

#[test]
fn two_hundred_invocations_deliver_every_payload_and_report_once_in_the_wire_shape() {
    let env = Setup::new().start("two-hundred");
    let mut ids = Vec::new();
    for n in 0..200 {
        let result = env.invoke(env.invocation(n));
        ids.push(result.request_id);
    }
    let shutdown = env.shutdown("spindown");
    let exit = &shutdown.extensions[0];
    assert_eq!(exit.exit_code, Some(0), "{}", env.output());
    assert!(!exit.killed);
    assert!(exit.time_to_exit.is_some_and(|t| t < Duration::from_millis(1500)), "{exit:?}");

    let snap = env.collector.snapshot();
    assert_each_once(&snap, EventKind::AgentPayload, &ids);
    assert_each_once(&snap, EventKind::Report, &ids);
    assert!(snap.shape_errors().is_empty(), "{:?}", snap.shape_errors());
    assert!(snap.duplicate_ids().is_empty(), "event ids must be unique: {:?}", snap.duplicate_ids());
    // Payloads are forwarded byte for byte.
    for n in [0, 77, 199] {
        let sent = String::from_utf8(env.payload(&ids[n], n)).expect("utf8");
        assert!(snap.telemetry_events().any(|e| e.message == sent), "payload {n} not forwarded unchanged");
    }
    for request in snap.requests() {
        assert_eq!(request.header("X-License-Key"), Some(KEY));
        assert_eq!(request.header("Content-Encoding"), Some("gzip"));
        assert!(request.header("User-Agent").is_some_and(|ua| ua.starts_with("newrelic-lambda-extension/")));
        assert!(request.compressed_size <= 1_000_000);
        let ctx = request.context.as_ref().expect("telemetry context");
        assert_eq!(ctx.function_name, "sim-function");
        assert_eq!(ctx.log_group_name, "/aws/lambda/sim-function");
        assert_eq!(ctx.log_stream_name, format!("newrelic-lambda-extension:{}", env!("CARGO_PKG_VERSION")));
        assert_eq!(ctx.invoked_function_arn, env.lambda.config().arn());
    }
    let summary = env.line("summary:").expect("summary line");
    assert!(summary.contains("dropped 0"), "{summary}");
}

#[test]
fn twenty_percent_collector_failures_lose_nothing() {
    let env = Setup::new().start("flaky");
    let mix = vec![Fault::Status(503), Fault::RetryAfter(429, 0), Fault::Reset, Fault::Status(500), Fault::Close];
    env.collector.set_faults(FaultPlan::Random { seed: 7, rate: 0.2, mix });
    let ids: Vec<String> = (0..100).map(|n| env.invoke(env.invocation(n)).request_id).collect();
    let shutdown = env.shutdown("spindown");
    assert_eq!(shutdown.extensions[0].exit_code, Some(0), "{}", env.output());
    let snap = env.collector.snapshot();
    assert!(snap.counters().failed_requests > 0, "the fault plan injected nothing");
    assert_each_once(&snap, EventKind::AgentPayload, &ids);
    assert_each_once(&snap, EventKind::Report, &ids);
    assert!(env.line("dropped 0").is_some(), "{}", env.output());
}

#[test]
fn a_collector_down_for_the_whole_run_never_holds_an_invocation_past_its_margin() {
    let env = Setup::new().start("down");
    env.collector.refuse();
    let timeout = Duration::from_millis(1500);
    for n in 0..8 {
        let inv = Invocation { timeout, ..env.invocation(n) };
        let result = env.invoke(inv);
        assert_eq!(result.status, "success", "invocation {n} must not time out");
        let done = result.extensions_done_at.expect("extension back in next");
        let held = done.saturating_duration_since(result.started_at);
        // Deadline minus the 100 ms margin, plus scheduling slack.
        assert!(held < timeout - Duration::from_millis(50), "invocation {n} held {held:?}");
    }
    let shutdown = env.shutdown("spindown");
    let exit = &shutdown.extensions[0];
    assert_eq!(exit.exit_code, Some(0), "{}", env.output());
    assert!(!exit.killed, "must exit before the SHUTDOWN deadline");
    let summary = env.line("summary:").expect("summary line");
    assert!(summary.contains("shutdown_deadline="), "drops must be counted by reason: {summary}");
    assert!(!summary.contains("dropped 0"), "{summary}");
    assert_eq!(env.collector.counters().requests, 0);
}

#[test]
fn a_collector_answering_503_costs_no_more_than_the_margin_and_recovers() {
    let env = Setup::new().start("recovers");
    env.collector.set_faults(FaultPlan::Down(Fault::Status(503)));
    let timeout = Duration::from_millis(1000);
    let mut ids = Vec::new();
    for n in 0..5 {
        let result = env.invoke(Invocation { timeout, ..env.invocation(n) });
        let held = result.extensions_done_at.expect("back in next").saturating_duration_since(result.started_at);
        assert!(held < timeout - Duration::from_millis(50), "invocation {n} held {held:?}");
        ids.push(result.request_id);
    }
    env.collector.clear_faults();
    env.collector.set_faults(FaultPlan::None);
    for n in 5..10 {
        ids.push(env.invoke(env.invocation(n)).request_id);
    }
    assert_eq!(env.shutdown("spindown").extensions[0].exit_code, Some(0));
    let snap = env.collector.snapshot();
    // Queued data survived the outage and went out once New Relic was back.
    assert_each_once(&snap, EventKind::AgentPayload, &ids);
    assert_each_once(&snap, EventKind::Report, &ids);
}

#[test]
fn rejected_requests_are_dropped_and_counted_by_status() {
    let env = Setup::new().start("rejected");
    env.collector.set_faults(FaultPlan::Down(Fault::Status(403)));
    for n in 0..3 {
        env.invoke(env.invocation(n));
    }
    assert_eq!(env.shutdown("spindown").extensions[0].exit_code, Some(0));
    let summary = env.line("summary:").expect("summary line");
    assert!(summary.contains("rejected_403="), "{summary}");
    let warnings = env.lambda.output().iter().filter(|l| l.contains("New Relic answered 403")).count();
    assert_eq!(warnings, 1, "one warning per status: {}", env.output());
    assert!(!env.output().contains(KEY), "the license key must never be printed");
}

#[test]
fn a_telemetry_api_answering_202_leaves_payload_delivery_working() {
    let env = Setup::new().config(|c| c.telemetry = TelemetryMode::NotSupported202).start("rie");
    let ids: Vec<String> = (0..10).map(|n| env.invoke(env.invocation(n)).request_id).collect();
    assert_eq!(env.shutdown("SandboxTerminated").extensions[0].exit_code, Some(0));
    let snap = env.collector.snapshot();
    assert_each_once(&snap, EventKind::AgentPayload, &ids);
    assert_eq!(snap.events_of(EventKind::Report).count(), 0);
    assert!(env.line("not supported").is_some(), "{}", env.output());
}

#[test]
fn schema_2025_rejected_falls_back_to_2022_12_13() {
    let env = Setup::new().config(|c| c.telemetry = TelemetryMode::Reject2025Schema).start("schema");
    let stats = env.lambda.telemetry_stats();
    assert_eq!(stats.len(), 1);
    assert_eq!(stats[0].schema_version, "2022-12-13");
    assert_eq!(stats[0].types, vec!["platform".to_string()], "no log types unless log forwarding asks for them");
    assert_eq!((stats[0].max_items, stats[0].max_bytes, stats[0].timeout_ms), (1000, 262_144, 25));
    let id = env.invoke(env.invocation(1)).request_id;
    env.shutdown("spindown");
    assert_each_once(&env.collector.snapshot(), EventKind::Report, &[id]);
}
