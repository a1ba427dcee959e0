//! The long healthy run: many invocations with a real agent payload and a function log line
//! each, New Relic answering normally. Every few thousand invocations the extension's RSS,
//! thread count and open descriptors are sampled (while it is frozen, so nothing moves), and
//! the collector is checked to be no further behind than a fixed lag: the queues do not grow.
//! At the end everything must have been delivered exactly once and the samples must be flat.

use std::path::Path;
use std::time::{Duration, Instant};

use lambda_sim::collector::EventKind;

use crate::sandbox::{count, Sample, Sandbox};

pub struct Options {
    pub invocations: usize,
    pub sample_every: usize,
    pub freeze: bool,
    /// RSS may grow by this much after the warm-up sample, kB.
    pub rss_tolerance_kb: u64,
}

/// How far behind the collector may be at a sample, in events or log lines. A busy function's
/// data rides along with the next thaw, and background requests start at most once per 20 ms,
/// so a batch's worth is always waiting or in flight: at ~3 ms per invocation about seven
/// invocations, 14 events (measured: at most 35 events, 20 logs; at most 10 events when every
/// invocation had its own request). Growing queues would pass any fixed bound over the run.
const MAX_LAG: usize = 128;
const TIMEOUT: Duration = Duration::from_secs(3);
/// Threads and descriptors a delivery in progress may add at the moment of a sample.
const THREAD_SLACK: u64 = 2;
const FD_SLACK: u64 = 4;

pub fn run(extension: &Path, opts: &Options) -> Result<Vec<Sample>, String> {
    let env = Sandbox::start(extension, "healthy", opts.freeze, &[("NEW_RELIC_EXTENSION_SEND_LOGS", "function")])?;
    let mut samples = Vec::new();
    let started = Instant::now();
    for n in 0..opts.invocations {
        let result = env.invoke(env.invocation(n, vec![format!("soak line {n}")], TIMEOUT)?)?;
        let held = result.extensions_done_at.map(|d| d.saturating_duration_since(result.started_at));
        if held.is_none_or(|h| h > TIMEOUT - Duration::from_millis(150)) {
            return Err(format!("invocation {n} was held {held:?}"));
        }
        if (n + 1) % opts.sample_every == 0 {
            let sample = env.sample(n + 1).ok_or("the extension process is gone")?;
            let counters = env.collector.counters();
            let behind = (2 * (n + 1)).saturating_sub(counters.events_delivered);
            let logs_behind = (n + 1).saturating_sub(counters.logs_delivered);
            println!(
                "  {:>7} invocations  {:>7.1} s  RSS {:>6} kB  peak {:>6} kB  threads {:>2}  fds {:>3}  behind: {behind} events, {logs_behind} logs",
                n + 1,
                started.elapsed().as_secs_f64(),
                sample.rss_kb,
                sample.peak_rss_kb,
                sample.threads,
                sample.fds
            );
            if behind > MAX_LAG || logs_behind > MAX_LAG {
                return Err(format!("the collector fell behind: {behind} events, {logs_behind} logs (queues grow)"));
            }
            samples.push(sample);
        }
    }
    let summary = env.shutdown()?;
    println!("  {summary}");
    if !summary.contains("dropped 0") || count(&summary, "malformed") + count(&summary, "unknown") > 0 {
        return Err(format!("data was dropped or garbled: {summary}"));
    }
    check_delivered(&env, opts.invocations)?;
    check_flat(&samples, opts.rss_tolerance_kb)?;
    Ok(samples)
}

/// Every payload and REPORT line once, every log line once.
fn check_delivered(env: &Sandbox, invocations: usize) -> Result<(), String> {
    let (payloads, reports, twice) = env.collector.with(|snap| {
        let deliveries = snap.deliveries();
        let of = |kind: EventKind| deliveries.iter().filter(|((_, k), n)| *k == kind && **n == 1).count();
        (of(EventKind::AgentPayload), of(EventKind::Report), snap.duplicate_deliveries().len())
    });
    let logs = env.collector.counters().logs_delivered;
    if payloads != invocations || reports != invocations || logs != invocations || twice > 0 {
        return Err(format!(
            "{invocations} invocations, delivered once: {payloads} payloads, {reports} REPORT lines, {logs} logs; {twice} twice"
        ));
    }
    Ok(())
}

/// After the warm-up (the first sample), RSS may grow by the tolerance at most, and threads
/// and descriptors not beyond what one delivery in progress adds.
fn check_flat(samples: &[Sample], rss_tolerance_kb: u64) -> Result<(), String> {
    let Some(base) = samples.first() else { return Ok(()) };
    for s in samples {
        if s.rss_kb > base.rss_kb + rss_tolerance_kb {
            return Err(format!(
                "RSS grew from {} kB to {} kB by {} invocations",
                base.rss_kb, s.rss_kb, s.invocations
            ));
        }
        if s.threads > base.threads + THREAD_SLACK || s.fds > base.fds + FD_SLACK {
            return Err(format!("threads/fds grew from {}/{} to {}/{}", base.threads, base.fds, s.threads, s.fds));
        }
    }
    Ok(())
}
