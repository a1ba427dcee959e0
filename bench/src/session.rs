//! One simulated Lambda execution environment around one extension binary,
//! as the demo and the benchmark drive it: a scratch directory for the agent
//! FIFO, the fake New Relic collector (or the real endpoints), the
//! extension's environment, a simulated agent that re-targets the real
//! Python agent fixtures to each request, and the CPU/memory bookkeeping
//! read from `/proc` while the extension is frozen. It never judges results.

use crate::procfs;
use lambda_sim::agent;
use lambda_sim::collector::Collector;
use lambda_sim::lambda::{InitReport, Lambda, SimConfig};
use lambda_sim::util::Rng;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// A license key of the right length and shape that New Relic would refuse.
pub const DUMMY_LICENSE_KEY: &str = "0000000000000000000000000000000000000000";

/// A scratch directory under the system temp dir, removed on drop.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new(tag: &str) -> Result<TempDir, String> {
        let unique = format!("nr-bench-{}-{tag}-{}", std::process::id(), Rng::from_entropy().hex(4));
        let path = std::env::temp_dir().join(unique);
        std::fs::create_dir_all(&path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
        Ok(TempDir { path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Where the extension sends its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    /// The fake collector of the simulator, with a dummy license key.
    Simulated,
    /// The real New Relic endpoints, with `NEW_RELIC_LICENSE_KEY` (and any
    /// other `NEW_RELIC_*` variable) of this process.
    Real,
}

/// What to start.
pub struct Spec<'a> {
    /// The file Lambda would start (its basename is the extension's name).
    pub extension: &'a Path,
    pub sim: SimConfig,
    /// Extra variables for the extension (flush policy, log selection, …).
    pub env: Vec<(String, String)>,
    pub destination: Destination,
    /// How long Init may take (valgrind needs far more than Lambda's 10 s).
    pub init_timeout: Duration,
}

/// A running environment, Init done.
pub struct Session {
    // Dropped first: SIGKILLs whatever is still running.
    pub lambda: Lambda,
    pub collector: Option<Arc<Collector>>,
    pub pipe: PathBuf,
    pub init: InitReport,
    /// Everything this session passed to the extension (for the report).
    pub env: Vec<(String, String)>,
    _dir: TempDir,
}

impl Session {
    pub fn start(spec: Spec<'_>) -> Result<Session, String> {
        let dir = TempDir::new("sim")?;
        let pipe = dir.path().join("newrelic-telemetry");
        let collector = match spec.destination {
            Destination::Simulated => {
                let collector = Collector::start().map_err(|e| format!("collector does not start: {e}"))?;
                // The stand-in for New Relic must not take CPU from the simulated sandbox.
                collector.decode_when_read();
                Some(Arc::new(collector))
            }
            Destination::Real => None,
        };
        let mut env = destination_env(collector.as_deref())?;
        env.push(("NEW_RELIC_EXTENSION_PIPE_PATH".into(), pipe.display().to_string()));
        env.extend(spec.env);
        let mut sim = spec.sim;
        sim.pipe_path = Some(pipe.clone());
        let lambda = Lambda::start(sim).map_err(|e| format!("simulator does not start: {e}"))?;
        lambda
            .spawn_extension(spec.extension, &env)
            .map_err(|e| format!("cannot start {}: {e}", spec.extension.display()))?;
        let init = lambda.wait_init(spec.init_timeout).map_err(|e| {
            let output = lambda.output().join("\n    ");
            format!("Init failed: {e}\n  extension output:\n    {output}")
        })?;
        Ok(Session { lambda, collector, pipe, init, env, _dir: dir })
    }

    /// Spawn → first `event/next` of the (only) extension of the cold Init.
    pub fn ready_after(&self) -> Option<Duration> {
        self.init.extensions.iter().find_map(|e| e.ready_after)
    }

    /// The SHUTDOWN summary lines the extension printed (one per process
    /// generation: a reset re-executes it).
    pub fn summary_lines(&self) -> Vec<String> {
        self.lambda.output().into_iter().filter(|l| l.contains("summary:")).collect()
    }
}

fn destination_env(collector: Option<&Collector>) -> Result<Vec<(String, String)>, String> {
    let pair = |k: &str, v: &str| (k.to_string(), v.to_string());
    match collector {
        Some(c) => Ok(vec![
            pair("NEW_RELIC_LICENSE_KEY", DUMMY_LICENSE_KEY),
            pair("NEW_RELIC_TELEMETRY_ENDPOINT", &c.telemetry_url()),
            pair("NEW_RELIC_LOG_ENDPOINT", &c.log_url()),
        ]),
        None => {
            let vars: Vec<(String, String)> = std::env::vars().filter(|(k, _)| k.starts_with("NEW_RELIC_")).collect();
            if !vars.iter().any(|(k, v)| k == "NEW_RELIC_LICENSE_KEY" && !v.trim().is_empty()) {
                return Err("--real needs NEW_RELIC_LICENSE_KEY in the environment".into());
            }
            Ok(vars)
        }
    }
}

/// The simulated New Relic agent: real Python agent payloads (the fixtures
/// of `tests/data/agent`) re-targeted to each invocation's request id and a
/// fresh trace id, as the agent would write them.
pub struct Agent {
    templates: Vec<Vec<u8>>,
    rng: Rng,
}

impl Agent {
    pub fn new(seed: u64) -> Agent {
        let templates = agent::fixtures().into_iter().map(|(_, bytes)| bytes).collect();
        Agent { templates, rng: Rng::seeded(seed) }
    }

    /// How many real payloads serve as templates (0: generated ones are used).
    pub fn fixture_count(&self) -> usize {
        self.templates.len()
    }

    /// The payload of invocation number `n` (fixtures taken in turn).
    pub fn payload(&mut self, n: usize, request_id: &str) -> Vec<u8> {
        let trace_id = self.rng.hex(16);
        let template = self.templates.get(n % self.templates.len().max(1));
        match template.map(|t| agent::retarget(t, request_id, &trace_id)) {
            Some(Ok(bytes)) => bytes,
            _ => agent::build(&agent::PayloadSpec::new(request_id).trace_id(&trace_id)),
        }
    }
}

/// CPU and peak memory of the extension processes, sampled while frozen.
/// Each process generation (a reset re-executes the extension) is tracked by
/// pid: CPU per invocation is the CPU used between a process's first sample
/// and its last, divided by the invocations in between, so Init (and a
/// suppressed re-init) is left out.
#[derive(Debug, Default)]
pub struct Usage {
    per_pid: BTreeMap<u32, PidUsage>,
    /// The process sampled first (the cold Init's), whatever its pid.
    first_pid: Option<u32>,
    pub peak_rss_kb: u64,
}

#[derive(Debug, Clone, Copy)]
struct PidUsage {
    /// CPU ticks at the first sample (Init's CPU; ticks include threads that have exited).
    first_ticks: u64,
    /// Scheduler CPU time at the first and the last sample.
    first: Duration,
    last: Duration,
    /// Times the threads were put on a CPU, at the first and the last sample.
    first_runs: u64,
    last_runs: u64,
    invocations: usize,
}

impl Usage {
    /// Samples every live extension process. Call after Init and after each
    /// invoke that left the environment frozen (not after a reset).
    pub fn sample(&mut self, lambda: &Lambda) {
        self.peak_rss_kb = self.peak_rss_kb.max(lambda.peak_rss_kb());
        for pid in lambda.pids() {
            let (Some(ticks), Some(cpu)) = (procfs::cpu_ticks(pid), procfs::cpu_time(pid)) else { continue };
            let runs = procfs::cpu_runs(pid).unwrap_or(0);
            self.first_pid.get_or_insert(pid);
            self.per_pid
                .entry(pid)
                .and_modify(|u| {
                    u.last = cpu;
                    u.last_runs = runs;
                    u.invocations += 1;
                })
                .or_insert(PidUsage {
                    first_ticks: ticks,
                    first: cpu,
                    last: cpu,
                    first_runs: runs,
                    last_runs: runs,
                    invocations: 0,
                });
        }
    }

    /// CPU used during Init by the first process (its first sample).
    pub fn init_cpu(&self) -> Option<Duration> {
        let first = self.per_pid.get(&self.first_pid?)?;
        Some(procfs::ticks_to_duration(first.first_ticks))
    }

    /// `(CPU over the counted invocations, how many)`.
    pub fn invocation_cpu(&self) -> (Duration, usize) {
        let cpu: Duration = self.per_pid.values().map(|u| u.last.saturating_sub(u.first)).sum();
        let count = self.per_pid.values().map(|u| u.invocations).sum();
        (cpu, count)
    }

    pub fn cpu_per_invocation(&self) -> Option<Duration> {
        let (cpu, count) = self.invocation_cpu();
        (count > 0).then(|| cpu / u32::try_from(count).unwrap_or(u32::MAX))
    }

    /// How many times per invocation the extension's threads were put on a CPU, over the same
    /// span as [`Usage::cpu_per_invocation`].
    pub fn runs_per_invocation(&self) -> Option<f64> {
        let runs: u64 = self.per_pid.values().map(|u| u.last_runs.saturating_sub(u.first_runs)).sum();
        let count: usize = self.per_pid.values().map(|u| u.invocations).sum();
        (count > 0).then(|| runs as f64 / count as f64)
    }
}
