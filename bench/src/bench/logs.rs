//! Log-line throughput through the Telemetry API listener and the Log API
//! sender: many function log lines emitted at once (freezing off, so delivery
//! is never held), timed until the collector has every one; the extension's
//! CPU over the same window gives lines per CPU-second (per core).

use crate::procfs;
use crate::session::{Destination, Session, Spec};
use lambda_sim::collector::Endpoint;
use lambda_sim::lambda::{Invocation, SimConfig};
use std::path::Path;
use std::time::{Duration, Instant};

/// Lines of the warm-up invocation; also the probe for "is forwarding wired".
const WARMUP_LINES: usize = 10;
/// How long the first lines may take before forwarding counts as absent.
const PROBE_WAIT: Duration = Duration::from_secs(3);
/// Longest wait for the whole burst.
const BURST_WAIT: Duration = Duration::from_secs(20);

#[derive(Debug, Clone, Copy)]
pub struct Throughput {
    pub emitted: usize,
    /// Lines the collector accepted within the wait (all of them normally).
    pub delivered: usize,
    pub wall: Duration,
    /// Extension CPU time over the window (scheduler time, all threads).
    pub cpu: Duration,
}

impl Throughput {
    pub fn lines_per_second(&self) -> f64 {
        self.delivered as f64 / self.wall.as_secs_f64().max(1e-9)
    }

    /// Lines per CPU-second of the extension; `None` below one tick of CPU.
    pub fn lines_per_cpu_second(&self) -> Option<f64> {
        (!self.cpu.is_zero()).then(|| self.delivered as f64 / self.cpu.as_secs_f64())
    }
}

/// `Ok(None)` when no function log line reaches the collector at all (log
/// forwarding not wired in this build).
pub fn run(binary: &Path, lines: usize) -> Result<Option<Throughput>, String> {
    let sim = SimConfig {
        function_name: "bench-logs".into(),
        freeze: false,
        telemetry_buffer_events: lines + 10 * WARMUP_LINES,
        ..SimConfig::default()
    };
    let env = vec![("NEW_RELIC_EXTENSION_SEND_LOGS".to_string(), "function".to_string())];
    let spec = Spec {
        extension: binary,
        sim,
        env,
        destination: Destination::Simulated,
        init_timeout: Duration::from_secs(10),
    };
    let session = Session::start(spec)?;
    let collector = session.collector.clone().ok_or("no collector")?;
    let warmup: Vec<String> = (0..WARMUP_LINES).map(|i| format!("warm-up line {i}")).collect();
    let inv = Invocation { logs: warmup, ..Invocation::default() };
    session.lambda.invoke(inv).map_err(|e| format!("warm-up invocation failed: {e}"))?;
    if !collector.wait_until(PROBE_WAIT, |s| s.logs().count() >= WARMUP_LINES) {
        return Ok(None);
    }
    let pid = session.lambda.pids().first().copied().ok_or("no extension process")?;
    let cpu_before = procfs::cpu_time(pid).ok_or("cannot read the extension's CPU time")?;
    let started = Instant::now();
    for i in 0..lines {
        session.lambda.emit_function_log(&format!(
            "{i:>8} INFO order processed: customer=c-{} items={} total_cents={} region=us-east-1",
            i % 977,
            i % 7 + 1,
            (i * 37) % 100_000
        ));
    }
    let target = WARMUP_LINES + lines;
    collector.wait_until(BURST_WAIT, |s| s.logs().count() >= target);
    let cpu_after = procfs::cpu_time(pid).unwrap_or(cpu_before);
    let (delivered, last) = collector.with(|s| {
        let last = s.requests().iter().filter(|r| r.endpoint == Endpoint::Log && r.delivered).map(|r| r.at).max();
        (s.logs().count().saturating_sub(WARMUP_LINES), last)
    });
    // Until the last line arrived, so a line that never comes does not stretch the time.
    let wall = last.map_or(started.elapsed(), |at| at.saturating_duration_since(started));
    session.lambda.shutdown("spindown");
    Ok(Some(Throughput { emitted: lines, delivered, wall, cpu: cpu_after.saturating_sub(cpu_before) }))
}
