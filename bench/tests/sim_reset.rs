//! Process-level self-tests of resets (spec §3.5, checklist "Reset on
//! timeout, runtime crash, extension crash or exit/error"): the shutdown
//! sequence with a reason, the report status, and the re-exec with a new
//! identifier and a suppressed init (`phase: "invoke"`) on the next invoke.

mod sim_support;

use lambda_sim::lambda::{Invocation, Outcome, SimConfig};
use sim_support::*;
use std::time::Duration;

#[test]
fn timeout_resets_and_the_next_invoke_reexecs_the_extension() {
    let switches = [("FLOOR_INVOKE_DELAY_MS", "300"), ("FLOOR_LOG_EVENTS", "1"), ("FLOOR_LOG_TELEMETRY", "1")];
    let lambda = with_floor(SimConfig::default(), &switches);
    let (old_id, old_pid) = (lambda.registered()[0].id.clone(), lambda.pids()[0]);
    let first =
        lambda.invoke(Invocation { timeout: Duration::from_millis(150), ..Invocation::default() }).expect("invoke");
    assert_eq!((first.status.as_str(), first.error_type.as_deref()), ("timeout", Some("Sandbox.Timedout")));
    let reset = first.reset.expect("a timeout resets");
    assert_eq!(reset.reason, "timeout");
    let ext = reset.extension("floor-extension").expect("listed");
    assert!(ext.got_shutdown && ext.exit_code == Some(0), "{ext:?}");
    assert!(lambda.wait_output("\"shutdownReason\":\"timeout\"", WAIT));
    assert!(lambda.pids().is_empty(), "gone until the next invoke");

    let second = lambda.invoke(Invocation::default()).expect("invoke after reset");
    assert_eq!(second.status, "success");
    let init = second.init.expect("suppressed init ran");
    assert_eq!(init.phase, "invoke");
    assert_ne!(init.extensions[0].id, old_id, "registers again with a new identifier");
    assert_ne!(lambda.pids(), vec![old_pid], "re-executed");
    assert_eq!(lambda.registered()[0].id, init.extensions[0].id);
    // The new process subscribed again and got the replayed suppressed-init start.
    lambda.shutdown("spindown");
    let phase_invoke =
        lambda.output().iter().any(|l| l.contains("platform.initStart") && l.contains("\"phase\":\"invoke\""));
    assert!(phase_invoke, "{:?}", lambda.output());
}

#[test]
fn extension_crash_mid_invoke_is_a_failure_and_resets() {
    let lambda = with_floor(SimConfig::default(), &[("FLOOR_CRASH_ON_INVOKE", "1")]);
    let result = lambda.invoke(Invocation::default()).expect("invoke");
    assert_eq!((result.status.as_str(), result.error_type.as_deref()), ("failure", Some("Extension.Crash")));
    assert!(result.extension_exited);
    let reset = result.reset.expect("reset");
    assert_eq!((reset.reason.as_str(), reset.extensions[0].exit_code), ("failure", Some(3)));
}

#[test]
fn exit_error_from_a_process_fails_the_invoke() {
    let lambda = with_floor(SimConfig::default(), &[("FLOOR_EXIT_ERROR_ON_INVOKE", "1")]);
    let result = lambda.invoke(Invocation::default()).expect("invoke");
    assert_eq!((result.status.as_str(), result.error_type.as_deref()), ("failure", Some("Extension.ExitError")));
    assert!(result.reset.is_some());
}

#[test]
fn runtime_crash_reports_an_error_then_resets_with_failure() {
    let config = SimConfig { failure_reason: "ReleaseFail".into(), ..SimConfig::default() };
    let lambda = with_floor(config, &[("FLOOR_LOG_EVENTS", "1")]);
    let result = lambda.invoke(Invocation { outcome: Outcome::Crash, ..Invocation::default() }).expect("invoke");
    assert_eq!((result.status.as_str(), result.error_type.as_deref()), ("error", Some("Runtime.ExitError")));
    assert!(result.extensions_done_at.is_some(), "the extension finished its INVOKE first");
    assert_eq!(result.reset.map(|r| r.reason), Some("ReleaseFail".to_string()));
    assert!(lambda.wait_output("\"shutdownReason\":\"ReleaseFail\"", WAIT));
}
