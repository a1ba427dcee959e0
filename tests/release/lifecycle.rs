//! The basic Lambda lifecycle every release artifact must pass, whatever runs it (natively,
//! through chroot, under qemu-user): register under the file's name, Init, invocations whose
//! agent payloads and REPORT lines reach the collector, function logs, SHUTDOWN and a clean exit,
//! with Cargo.toml's version in the first log line, the User-Agent, `log_stream_name` and the
//! logs' `plugin`. It only drives the simulator and reads what it recorded.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use lambda_sim::agent;
use lambda_sim::collector::{Collector, EventKind, Snapshot};
use lambda_sim::lambda::{Invocation, Lambda, Outcome, SimConfig};

pub const NAME: &str = "newrelic-lambda-extension";
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// Upper bound of every wait; qemu makes Init slower than native, never this slow.
const WAIT: Duration = Duration::from_secs(30);
const KEY: &str = "release-test-license-key";

/// A scratch directory under the system temp dir, removed when dropped.
pub struct Scratch(PathBuf);

impl Scratch {
    pub fn new(tag: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("nr-release-{}-{tag}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("scratch dir");
        Scratch(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A script named like the extension that `exec`s `command`: the simulator starts a file and
/// expects the registration under that file's name, and `exec` keeps the pid, so the freeze
/// (SIGSTOP of the process group), SIGKILL and the exit status reach the real process.
pub fn launcher(scratch: &Scratch, command: &str) -> PathBuf {
    let dir = scratch.path().join("launcher");
    fs::create_dir_all(&dir).expect("launcher dir");
    let path = dir.join(NAME);
    fs::write(&path, format!("#!/bin/sh\nexec {command}\n")).expect("write launcher");
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).expect("chmod launcher");
    path
}

/// What to start and where its agent pipe is, as the extension and as the agent see it.
pub struct Scenario {
    pub executable: PathBuf,
    /// `NEW_RELIC_EXTENSION_PIPE_PATH` for the extension (inside its root).
    pub pipe_inside: PathBuf,
    /// The same FIFO as the simulated agent opens it.
    pub pipe_on_host: PathBuf,
    /// Also time one invocation out: the environment resets and the extension is started again.
    pub with_timeout: bool,
}

/// Runs the scenario and asserts everything it must show; panics with the extension's output.
pub fn run_lifecycle(scenario: &Scenario) {
    let collector = Collector::start().expect("collector starts");
    let config = SimConfig { pipe_path: Some(scenario.pipe_on_host.clone()), ..SimConfig::default() };
    let lambda = Lambda::start(config).expect("simulator starts");
    let vars = [
        ("NEW_RELIC_LICENSE_KEY", KEY.to_string()),
        ("NEW_RELIC_TELEMETRY_ENDPOINT", collector.telemetry_url()),
        ("NEW_RELIC_LOG_ENDPOINT", collector.log_url()),
        ("NEW_RELIC_EXTENSION_PIPE_PATH", scenario.pipe_inside.display().to_string()),
        ("NEW_RELIC_EXTENSION_SEND_LOGS", "function".to_string()),
    ];
    let vars: Vec<(String, String)> = vars.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    lambda.spawn_extension(&scenario.executable, &vars).expect("extension spawns");
    let output = || lambda.output().join("\n");
    if let Err(e) = lambda.wait_init(WAIT) {
        panic!("Init failed: {e}\n{}", output());
    }
    let registered = lambda.registered();
    assert_eq!(registered.len(), 1, "{registered:?}");
    // The simulator's record of the register call's Lambda-Extension-Name header.
    assert_eq!(registered[0].name, NAME, "registered name");
    assert!(registered[0].events.iter().any(|e| e == "SHUTDOWN"), "{registered:?}");

    let mut expected = Vec::new();
    for n in 0..4 {
        let mut invocation = invocation(n);
        if scenario.with_timeout && n == 2 {
            invocation.timeout = Duration::from_millis(300);
            invocation.duration = Duration::from_secs(1);
            invocation.outcome = Outcome::Timeout;
            invocation.payloads.clear();
        }
        let result = lambda.invoke(invocation).unwrap_or_else(|e| panic!("invoke {n}: {e}\n{}", output()));
        assert!(!result.agent_blocked, "the agent blocked on the pipe: {:?}\n{}", result.agent_error, output());
        if result.status == "success" {
            expected.push(result.request_id);
        } else {
            assert!(result.reset.is_some(), "a timeout resets the environment\n{}", output());
        }
    }
    let shutdown = lambda.shutdown("spindown");
    let exit = shutdown.extension(NAME).unwrap_or_else(|| panic!("{shutdown:?}"));
    assert!(exit.got_shutdown && !exit.killed && exit.exit_code == Some(0), "{exit:?}\n{}", output());

    let snap = collector.snapshot();
    assert_version(&lambda.output(), &snap);
    assert_delivered(&snap, &expected, &output());
}

/// Invocation `n`, whose agent writes one real payload (a fixture re-targeted to it).
fn invocation(n: usize) -> Invocation {
    let templates = agent::fixtures();
    assert!(!templates.is_empty(), "real agent fixtures missing from tests/data/agent");
    let request_id = format!("00000000-0000-4000-8000-{n:012}");
    let trace_id = format!("{n:032x}");
    let template = &templates[n % templates.len()].1;
    let payload = agent::retarget(template, &request_id, &trace_id).expect("fixture retargets");
    Invocation {
        request_id,
        payloads: vec![payload],
        logs: vec![format!("release test invocation {n}")],
        ..Invocation::default()
    }
}

/// Every successful invocation's payload and REPORT line exactly once; no malformed request.
fn assert_delivered(snap: &Snapshot, ids: &[String], output: &str) {
    assert!(snap.shape_errors().is_empty(), "{:?}", snap.shape_errors());
    let deliveries = snap.deliveries();
    for kind in [EventKind::AgentPayload, EventKind::Report] {
        for id in ids {
            let times = deliveries.get(&(id.clone(), kind)).copied().unwrap_or(0);
            assert_eq!(times, 1, "{kind:?} of {id} delivered {times} times\n{output}");
        }
    }
    let lines: Vec<_> = snap.logs().map(|l| l.message.as_str()).collect();
    for n in [0, 1, 3] {
        let line = format!("release test invocation {n}");
        assert!(lines.contains(&line.as_str()), "function log {line:?} not delivered: {lines:?}");
    }
}

/// Cargo.toml's version, everywhere the extension reports it.
fn assert_version(output: &[String], snap: &Snapshot) {
    let first = output.iter().find(|l| l.contains("[NR_EXT]")).map(String::as_str).unwrap_or_default();
    assert!(first.contains(&format!("{NAME} {VERSION} starting as \"{NAME}\"")), "first log line: {first:?}");
    let user_agent = format!("{NAME}/{VERSION}");
    let stream = format!("{NAME}:{VERSION}");
    assert!(!snap.requests().is_empty(), "nothing reached the collector");
    for request in snap.requests() {
        assert_eq!(request.header("user-agent"), Some(user_agent.as_str()), "{}", request.path);
        if let Some(context) = &request.context {
            assert_eq!(context.log_stream_name, stream);
        }
    }
    assert!(snap.requests().iter().any(|r| r.context.is_some()), "no telemetry request");
    assert!(snap.logs().all(|l| l.common.get("plugin") == Some(&stream)), "plugin of the logs");
}
