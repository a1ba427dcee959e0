//! `/tmp` full. The extension runs in its own mount namespace (`unshare -m`, we run as root)
//! whose pipe directory is a tiny tmpfs, filled up before the extension starts: with no inode
//! left the FIFO cannot be created at all; with no block left it can (a FIFO needs no data
//! blocks). Either way the extension must run on, degraded, not crash, and never block the
//! function; the simulated agent reaches the namespace's view through `/proc/<pid>/root`.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use lambda_sim::agent::payload_for;
use lambda_sim::collector::{Collector, EventKind};
use lambda_sim::lambda::{Invocation, Lambda, SimConfig};

use super::assert_not_held;
use crate::support::{assert_each_once, binary, scratch, KEY, WAIT};

const TIMEOUT: Duration = Duration::from_millis(1500);

/// How the pipe directory is full.
#[derive(Clone, Copy, PartialEq)]
enum Full {
    /// Not one inode left: the FIFO cannot be created.
    Inodes,
    /// Not one data block left; inodes remain.
    Blocks,
}

/// Whether this machine lets us create mount namespaces (root, or a permissive sandbox).
fn can_unshare() -> bool {
    Command::new("unshare").args(["-m", "true"]).status().is_ok_and(|s| s.success())
}

/// A script named like the extension that mounts a full tmpfs on `dir` in a new mount
/// namespace, then execs the real binary (same pid, same process group, same name).
fn wrapper(bin_dir: &Path, dir: &Path, full: Full) -> PathBuf {
    let (options, fill) = match full {
        Full::Inodes => ("size=64k,nr_inodes=2", format!(": > {0}/filler", dir.display())),
        Full::Blocks => (
            "size=4k,nr_inodes=64",
            format!("dd if=/dev/zero of={0}/filler bs=4k count=64 2>/dev/null; true", dir.display()),
        ),
    };
    let script = format!(
        "#!/bin/sh\nexec unshare -m --propagation private sh -c 'mount -t tmpfs -o {options} nr-full-tmp {dir} && {fill} && exec {real}'\n",
        dir = dir.display(),
        real = binary().display(),
    );
    std::fs::create_dir_all(bin_dir).expect("bin dir");
    let path = bin_dir.join("newrelic-lambda-extension");
    std::fs::write(&path, script).expect("wrapper");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path
}

/// The simulator and collector around an extension started through the wrapper.
struct Sandbox {
    lambda: Lambda,
    collector: Arc<Collector>,
    /// The pipe as the simulated agent (outside the namespace) reaches it.
    pipe: PathBuf,
}

impl Sandbox {
    fn output(&self) -> String {
        self.lambda.output().join("\n")
    }

    fn line(&self, needle: &str) -> Option<String> {
        self.lambda.output().into_iter().find(|l| l.contains(needle))
    }

    /// Runs invocations whose agent writes a payload; asserts none is held or blocked.
    fn invoke_all(&self, n: usize) -> Vec<String> {
        (0..n)
            .map(|i| {
                let request_id = format!("00000000-0000-4000-8000-{i:012}");
                let payloads = vec![payload_for(&request_id)];
                let inv = Invocation {
                    request_id,
                    payloads,
                    timeout: TIMEOUT,
                    pipe_path: Some(self.pipe.clone()),
                    ..Invocation::default()
                };
                let result =
                    self.lambda.invoke(inv).unwrap_or_else(|e| panic!("invoke failed: {e}\n{}", self.output()));
                assert!(!result.agent_blocked, "the agent blocked on the pipe");
                assert_not_held(&result, TIMEOUT);
                result.request_id
            })
            .collect()
    }

    /// SHUTDOWN; asserts a clean exit 0 with a summary line.
    fn clean_exit(&self) {
        let shutdown = self.lambda.shutdown("spindown");
        let exit = shutdown.extensions.first().expect("one extension");
        assert_eq!((exit.exit_code, exit.killed), (Some(0), false), "{exit:?}\n{}", self.output());
        assert!(self.line("summary:").is_some() && !self.output().contains("panicked"), "{}", self.output());
    }
}

/// Starts the simulator with the extension started through the wrapper, its pipe inside the
/// full directory.
fn start(tag: &str, full: Full) -> Sandbox {
    let root = scratch(tag);
    let dir = root.join("tmp");
    std::fs::create_dir_all(&dir).expect("tmp dir");
    let pipe = dir.join("newrelic-telemetry");
    let collector = Arc::new(Collector::start().expect("collector"));
    let vars: Vec<(String, String)> = [
        ("NEW_RELIC_TELEMETRY_ENDPOINT", collector.telemetry_url()),
        ("NEW_RELIC_LOG_ENDPOINT", collector.log_url()),
        ("NEW_RELIC_EXTENSION_PIPE_PATH", pipe.display().to_string()),
        ("NEW_RELIC_LICENSE_KEY", KEY.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let lambda = Lambda::start(SimConfig { pipe_path: Some(pipe.clone()), ..SimConfig::default() }).expect("simulator");
    lambda.spawn_extension(&wrapper(&root.join("bin"), &dir, full), &vars).expect("spawn");
    if let Err(e) = lambda.wait_init(WAIT) {
        panic!("init failed: {e}\n{}", lambda.output().join("\n"));
    }
    let pid = *lambda.pids().first().expect("the extension runs");
    let seen_by_agent = PathBuf::from(format!("/proc/{pid}/root")).join(pipe.strip_prefix("/").unwrap_or(&pipe));
    Sandbox { lambda, collector, pipe: seen_by_agent }
}

#[test]
fn with_no_inode_left_there_is_no_pipe_but_everything_else_works() {
    if !can_unshare() {
        eprintln!("unshare -m is not permitted here: the /tmp-full scenario needs root");
    }
    assert!(can_unshare(), "this scenario needs a mount namespace (run as root)");
    let env = start("tmp-no-inodes", Full::Inodes);
    // Printed before the first `event/next`, but read from the extension's stdout by another
    // thread of the simulator: wait for it rather than race it.
    env.lambda.wait_output("cannot create the agent pipe", WAIT);
    let warning = env.line("cannot create the agent pipe").unwrap_or_else(|| panic!("{}", env.output()));
    assert!(warning.contains("No space left on device"), "{warning}");
    let ids = env.invoke_all(5);
    env.clean_exit();
    let snap = env.collector.snapshot();
    // The agent found no pipe (it prints to stdout instead); REPORT lines still go out.
    assert_eq!(snap.events_of(EventKind::AgentPayload).count(), 0);
    assert_each_once(&snap, EventKind::Report, &ids);
}

#[test]
fn with_no_block_left_the_pipe_still_carries_every_payload() {
    assert!(can_unshare(), "this scenario needs a mount namespace (run as root)");
    let env = start("tmp-no-blocks", Full::Blocks);
    assert!(env.line("cannot create the agent pipe").is_none(), "{}", env.output());
    let ids = env.invoke_all(5);
    env.clean_exit();
    let snap = env.collector.snapshot();
    assert_each_once(&snap, EventKind::AgentPayload, &ids);
    assert_each_once(&snap, EventKind::Report, &ids);
}
