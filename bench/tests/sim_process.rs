//! Process-level self-tests of the simulator with the real floor extension
//! (checklist "Startup and registration", "Invoke and freeze"): environment,
//! process groups, Init timing, `Extension.Crash`, freeze with SIGSTOP, the
//! freeze hook, and the `Drop` that kills everything.

mod sim_support;

use lambda_sim::lambda::{Invocation, Lambda, SimConfig, SimError};
use sim_support::*;

#[test]
fn extension_gets_the_platform_environment_and_its_own_group() {
    let config =
        SimConfig { env: vec![("NEW_RELIC_LICENSE_KEY".into(), "from-config".into())], ..SimConfig::default() };
    let lambda = with_floor(config, &[("FLOOR_DUMP_ENV", "1"), ("EXTRA", "given")]);
    assert!(lambda.wait_output("floor pid=", WAIT), "the dump ends with the pid line");
    let vars: Vec<String> =
        lambda.output().into_iter().filter_map(|l| l.strip_prefix("floor env: ").map(String::from)).collect();
    let api = format!("AWS_LAMBDA_RUNTIME_API={}", lambda.runtime_api());
    for want in [
        api.as_str(),
        "AWS_LAMBDA_FUNCTION_NAME=sim-function",
        "AWS_LAMBDA_FUNCTION_VERSION=$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128",
        "AWS_REGION=us-east-1",
        "AWS_DEFAULT_REGION=us-east-1",
        "AWS_LAMBDA_INITIALIZATION_TYPE=on-demand",
        "NEW_RELIC_LICENSE_KEY=from-config",
        "EXTRA=given",
    ] {
        assert!(vars.iter().any(|v| v == want), "missing {want} in {vars:?}");
    }
    for key in ["AWS_ACCESS_KEY_ID=", "AWS_SECRET_ACCESS_KEY=", "AWS_SESSION_TOKEN=", "PATH="] {
        assert!(vars.iter().any(|v| v.starts_with(key)), "missing {key}");
    }
    for absent in ["HOME=", "CARGO", "LAMBDA_TASK_ROOT=", "_HANDLER=", "AWS_EXECUTION_ENV="] {
        assert!(!vars.iter().any(|v| v.starts_with(absent)), "leaked {absent}: env_clear expected");
    }
    let ids = line(&lambda, "floor pid=").expect("pid line");
    let (pid, pgrp) = ids.trim_start_matches("floor pid=").split_once(" pgrp=").expect("pid and pgrp");
    assert_eq!(pid, pgrp, "own process group");
    assert_eq!(lambda.pids(), vec![pid.parse::<u32>().expect("pid")]);
}

#[test]
fn classic_rie_sets_no_initialization_type() {
    let config = SimConfig { initialization_type: None, ..SimConfig::default() };
    let lambda = with_floor(config, &[("FLOOR_DUMP_ENV", "1")]);
    assert!(lambda.wait_output("floor pid=", WAIT));
    assert!(lambda.output().iter().any(|l| l.contains("AWS_REGION=")));
    assert!(!lambda.output().iter().any(|l| l.contains("AWS_LAMBDA_INITIALIZATION_TYPE")));
}

#[test]
fn init_reports_registration_by_file_name_and_timings() {
    let lambda = Lambda::start(SimConfig::default()).expect("start");
    let spawned = lambda.spawn_extension(floor(), &[]).expect("spawn");
    assert_eq!(spawned.name, "floor-extension");
    let report = lambda.wait_init(WAIT).expect("init");
    let ext = &report.extensions[0];
    assert_eq!((report.phase.as_str(), ext.name.as_str()), ("init", "floor-extension"));
    assert_eq!(ext.events, ["INVOKE", "SHUTDOWN"]);
    let (reg, ready) = (ext.registered_after.expect("spawned"), ext.ready_after.expect("ready"));
    assert!(reg <= ready && ready <= report.duration, "{reg:?} {ready:?} {:?}", report.duration);
    assert_eq!(lambda.registered()[0].id, ext.id);
    assert!(lambda.registered()[0].external);
}

#[test]
fn exit_before_register_is_extension_crash() {
    let lambda = Lambda::start(SimConfig::default()).expect("start");
    lambda.spawn_extension(floor(), &env(&[("FLOOR_EXIT_BEFORE_REGISTER", "1")])).expect("spawn");
    match lambda.wait_init(WAIT) {
        Err(e @ SimError::ExtensionCrash { .. }) => {
            assert_eq!(e.error_type(), "Extension.Crash");
            assert!(matches!(e, SimError::ExtensionCrash { exit_code: Some(0), .. }), "even exit 0: {e}");
        }
        other => panic!("expected Extension.Crash, got {other:?}"),
    }
}

#[test]
fn init_error_from_a_process_fails_init() {
    let lambda = Lambda::start(SimConfig::default()).expect("start");
    lambda.spawn_extension(floor(), &env(&[("FLOOR_INIT_ERROR", "1")])).expect("spawn");
    let got = lambda.wait_init(WAIT);
    assert!(
        matches!(got, Err(SimError::InitFailed { ref error_type }) if error_type == "Extension.InitError"),
        "{got:?}"
    );
}

#[test]
fn freeze_stops_the_group_between_invokes_and_runs_the_hook() {
    let lambda = Lambda::start(SimConfig::default()).expect("start");
    let (tx, rx) = std::sync::mpsc::channel();
    lambda.on_freeze(move || {
        let _ = tx.send(());
    });
    lambda.spawn_extension(floor(), &env(&[("FLOOR_LOG_EVENTS", "1")])).expect("spawn");
    lambda.wait_init(WAIT).expect("init");
    assert!(lambda.is_frozen() && lambda.extensions_stopped(), "frozen after Init");
    let inv = Invocation::default();
    let id = inv.request_id.clone();
    let result = lambda.invoke(inv).expect("invoke");
    assert_eq!(result.status, "success");
    assert!(lambda.wait_output(&id, WAIT), "thawed to receive INVOKE");
    assert!(lambda.is_frozen() && lambda.extensions_stopped(), "frozen again");
    assert_eq!(rx.try_iter().count(), 2, "hook ran after Init and after the invoke");
}

#[test]
fn freeze_can_be_switched_off() {
    let lambda = with_floor(SimConfig { freeze: false, ..SimConfig::default() }, &[]);
    assert_eq!(lambda.invoke(Invocation::default()).expect("invoke").status, "success");
    assert!(!lambda.is_frozen() && !lambda.extensions_stopped());
}

#[test]
fn dropping_the_simulator_kills_its_processes() {
    let lambda = with_floor(SimConfig::default(), &[]);
    let pid = lambda.pids()[0];
    drop(lambda);
    assert!(wait_gone(pid), "pid {pid} still alive");
}

#[test]
fn rejected_telemetry_is_redelivered_to_a_real_listener() {
    let config =
        SimConfig { freeze: false, delivery_backoff: std::time::Duration::from_millis(10), ..SimConfig::default() };
    let lambda = with_floor(config, &[("FLOOR_REJECT_FIRST", "2")]);
    assert!(lambda.wait_telemetry(WAIT, |s| s[0].batches_delivered >= 1), "{:?}", lambda.telemetry_stats());
    let stats = &lambda.telemetry_stats()[0];
    assert_eq!((stats.redeliveries, stats.types.as_slice()), (2, &["platform".to_string()][..]));
}

#[test]
fn runtime_starts_only_after_every_extension_registered() {
    let config = SimConfig { runtime_init: std::time::Duration::from_millis(150), ..SimConfig::default() };
    let lambda = Lambda::start(config).expect("start");
    lambda.spawn_extension(floor(), &[]).expect("spawn");
    let report = lambda.wait_init(WAIT).expect("init");
    let registered = report.extensions[0].registered_after.expect("timed");
    assert!(registered < std::time::Duration::from_millis(150), "{registered:?}");
    assert!(
        report.duration >= registered + std::time::Duration::from_millis(150),
        "runtime Init after registration: {report:?}"
    );
}
