//! Process-level self-tests of the shutdown sequence (checklist "Shutdown
//! and failures"): SHUTDOWN to subscribed extensions and a clean exit,
//! SIGKILL of survivors at the deadline, SIGKILL at once for extensions not
//! registered for SHUTDOWN, exit codes, telemetry delivered until the deadline.

mod sim_support;

use lambda_sim::lambda::{Invocation, SimConfig};
use sim_support::*;
use std::time::Duration;

#[test]
fn well_behaved_extension_gets_shutdown_and_exits_zero() {
    let lambda = with_floor(SimConfig::default(), &[("FLOOR_LOG_EVENTS", "1")]);
    let result = lambda.shutdown("spindown");
    let ext = result.extension("floor-extension").expect("floor listed");
    assert!(ext.got_shutdown && !ext.killed && ext.exit_code == Some(0), "{ext:?}");
    assert!(ext.time_to_exit.is_some_and(|t| t < Duration::from_secs(1)), "{ext:?}");
    assert!(result.all_exited_cleanly());
    assert!(lambda.wait_output("\"shutdownReason\":\"spindown\"", WAIT));
    assert!(lambda.pids().is_empty());
}

#[test]
fn survivor_is_killed_at_the_deadline_after_telemetry_was_flushed() {
    let switches = [("FLOOR_IGNORE_SHUTDOWN", "1"), ("FLOOR_LOG_TELEMETRY", "1")];
    let lambda = with_floor(SimConfig::default(), &switches);
    let inv = Invocation::default();
    let id = inv.request_id.clone();
    assert_eq!(lambda.invoke(inv).expect("invoke").status, "success");
    let result = lambda.shutdown("SandboxTerminated");
    let ext = result.extension("floor-extension").expect("floor listed");
    assert!(ext.got_shutdown && ext.killed && ext.signal == Some(9), "{ext:?}");
    let took = ext.time_to_exit.expect("exit observed");
    assert!(
        took >= Duration::from_millis(1990) && took < Duration::from_millis(2500),
        "killed at the 2 s deadline: {took:?}"
    );
    assert!(!result.all_exited_cleanly());
    // The report of the last invoke was held by the freeze and delivered
    // during the shutdown window (spec §3.3).
    let report = lambda.output().into_iter().find(|l| l.contains("platform.report") && l.contains(&id));
    assert!(report.is_some(), "{:?}", lambda.output());
}

#[test]
fn extension_without_shutdown_event_is_killed_at_once() {
    let lambda = with_floor(SimConfig::default(), &[("FLOOR_EVENTS", "INVOKE")]);
    let result = lambda.shutdown("spindown");
    let ext = result.extension("floor-extension").expect("floor listed");
    assert!(!ext.got_shutdown && ext.killed && ext.signal == Some(9), "{ext:?}");
    assert!(ext.time_to_exit.is_some_and(|t| t < Duration::from_millis(500)), "{ext:?}");
}

#[test]
fn runtime_share_comes_first_and_is_capped() {
    let config = SimConfig {
        runtime_shutdown: Duration::from_secs(5),
        shutdown_budget: Duration::from_millis(1000),
        ..SimConfig::default()
    };
    let lambda = with_floor(config, &[]);
    let t0 = std::time::Instant::now();
    let result = lambda.shutdown("spindown");
    let elapsed = t0.elapsed();
    assert!(elapsed >= Duration::from_millis(300) && elapsed < Duration::from_millis(900), "30% of 1 s: {elapsed:?}");
    assert!(result.all_exited_cleanly(), "{result:?}");
}
