//! Shared pieces of the simulator's process-level self-tests: the floor
//! extension's path, environment switches, scratch directories.
#![allow(dead_code)] // each test binary uses a different subset

use lambda_sim::lambda::{Lambda, SimConfig};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub const WAIT: Duration = Duration::from_secs(5);

pub fn floor() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_floor-extension"))
}

pub fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// A simulator running the floor extension with `switches`, Init done.
pub fn with_floor(config: SimConfig, switches: &[(&str, &str)]) -> Lambda {
    let lambda = Lambda::start(config).expect("simulator starts");
    lambda.spawn_extension(floor(), &env(switches)).expect("floor spawns");
    if let Err(e) = lambda.wait_init(WAIT) {
        panic!("init: {e} {:?}", lambda.output());
    }
    lambda
}

/// A fresh scratch directory under the system temp dir, unique per test
/// binary (pid) and per test (`tag`).
pub fn scratch(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lambda-sim-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// True once `/proc/<pid>` is gone or a zombie: the process is dead. Polls
/// with `yield_now` because nothing in std waits for a stranger's pid.
pub fn wait_gone(pid: u32) -> bool {
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => return true,
            Ok(stat) if stat.rsplit(')').next().is_some_and(|s| s.trim_start().starts_with('Z')) => return true,
            Ok(_) => std::thread::yield_now(),
        }
    }
    false
}

/// The line of `lambda`'s output starting with `prefix`.
pub fn line(lambda: &Lambda, prefix: &str) -> Option<String> {
    lambda.output().into_iter().find(|l| l.starts_with(prefix))
}
