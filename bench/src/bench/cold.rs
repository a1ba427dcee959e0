//! Cold start: spawn → first `event/next` and SHUTDOWN → exit with nothing
//! queued, measured in the simulator; and the instruction count of the same
//! path under `valgrind --tool=callgrind` (a noise-free figure: spawn, Init,
//! SHUTDOWN, exit). Each sample is a fresh environment.

use super::busy::Subject;
use crate::session::{Destination, Session, Spec, TempDir};
use crate::stats::ms;
use lambda_sim::lambda::SimConfig;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// One cold Init and an immediate SHUTDOWN.
#[derive(Debug, Clone, Copy, Default)]
pub struct ColdRun {
    pub ready_ms: Option<f64>,
    pub shutdown_to_exit_ms: Option<f64>,
    pub peak_rss_kb: u64,
}

fn spec(binary: &Path, subject: Subject, init_timeout: Duration, sim: SimConfig) -> Spec<'_> {
    Spec { extension: binary, sim, env: subject.env(), destination: Destination::Simulated, init_timeout }
}

/// A cold start and SHUTDOWN; `extra` adds variables (e.g. log forwarding).
pub fn run(binary: &Path, subject: Subject, extra: &[(&str, &str)]) -> Result<ColdRun, String> {
    let mut spec = spec(binary, subject, Duration::from_secs(10), SimConfig::default());
    spec.env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let session = Session::start(spec)?;
    let peak_rss_kb = session.lambda.peak_rss_kb();
    let pids = session.lambda.pids();
    let result = session.lambda.shutdown("spindown");
    let exit = result.extensions.iter().find(|e| pids.contains(&e.pid));
    if !exit.is_some_and(|e| !e.killed && e.exit_code == Some(0)) {
        return Err(format!("{} did not exit cleanly on SHUTDOWN: {exit:?}", binary.display()));
    }
    Ok(ColdRun {
        ready_ms: session.ready_after().map(ms),
        shutdown_to_exit_ms: exit.and_then(|e| e.time_to_exit).map(ms),
        peak_rss_kb,
    })
}

/// `valgrind` on `PATH`, if installed.
pub fn valgrind() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join("valgrind")).find(|p| p.is_file())
}

/// Total instructions executed (callgrind `Ir`) from spawn through Init,
/// SHUTDOWN and exit. The simulator starts a wrapper script carrying the
/// binary's name, which execs valgrind on the real binary (so `argv[0]`, the
/// registered name, is unchanged).
pub fn callgrind(binary: &Path, subject: Subject, valgrind: &Path) -> Result<u64, String> {
    let dir = TempDir::new("callgrind")?;
    let name = binary.file_name().ok_or("binary has no file name")?;
    let wrapper = dir.path().join(name);
    let real = std::fs::canonicalize(binary).map_err(|e| format!("{}: {e}", binary.display()))?;
    let out = dir.path().join("callgrind.out");
    let script = format!(
        "#!/bin/sh\nexec '{}' --tool=callgrind --callgrind-out-file='{}' '{}' \"$@\"\n",
        valgrind.display(),
        out.display(),
        real.display()
    );
    std::fs::write(&wrapper, script).map_err(|e| format!("cannot write the valgrind wrapper: {e}"))?;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).map_err(|e| e.to_string())?;
    // Valgrind is ~50× slower: Init and SHUTDOWN get room, so nothing is killed mid-way.
    let sim = SimConfig { shutdown_budget: Duration::from_secs(60), ..SimConfig::default() };
    let session = Session::start(spec(&wrapper, subject, Duration::from_secs(120), sim))?;
    let result = session.lambda.shutdown("spindown");
    if !result.all_exited_cleanly() {
        return Err(format!("under valgrind, {} did not exit cleanly: {:?}", binary.display(), result.extensions));
    }
    let text = std::fs::read_to_string(&out).map_err(|e| format!("no callgrind output: {e}"))?;
    total_ir(&text).ok_or_else(|| "callgrind output has no totals".to_string())
}

/// The `summary:` (or `totals:`) figure of a callgrind output file.
pub fn total_ir(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix("summary:").or_else(|| l.strip_prefix("totals:")))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_callgrind_totals() {
        assert_eq!(total_ir("events: Ir\nfl=a\n0 3\nsummary: 1234567\n"), Some(1_234_567));
        assert_eq!(total_ir("events: Ir\ntotals: 42 7\n"), Some(42));
        assert_eq!(total_ir("events: Ir\n"), None);
        assert_eq!(total_ir("summary: lots\n"), None);
    }
}
