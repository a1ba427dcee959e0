//! The long outage: New Relic refuses connections for minutes while the function writes about
//! 100 KB of logs per invocation. Peak RSS must stay under the documented cap, no invocation
//! may be held past its margin, the lines lost must be the oldest ones and exactly as many as
//! the summary counts, and delivery must resume once New Relic is back.

use std::collections::BTreeSet;

use lambda_sim::collector::EventKind;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::sandbox::{count, Sample, Sandbox};

/// The cap documented in the README (the same as the integration test's): both queue bounds,
/// one job in flight, and the process's baseline.
pub const PEAK_RSS_CAP_KB: u64 = 64 * 1024;

const TIMEOUT: Duration = Duration::from_millis(1000);
const LINES: usize = 100;
const FILLER: usize = 1000;

fn line(n: usize) -> String {
    format!("overload line {n:09} {}", "x".repeat(FILLER))
}

fn line_number(message: &str) -> Option<usize> {
    message.strip_prefix("overload line ")?.get(..9)?.parse().ok()
}

/// What the outage run measured.
pub struct Outcome {
    pub lines: usize,
    pub dropped: usize,
    pub peak_rss_kb: u64,
    pub recovery: Duration,
    pub summary: String,
}

struct Run {
    env: Sandbox,
    next_line: usize,
    invocations: usize,
}

impl Run {
    fn invoke(&mut self, lines: usize) -> Result<(), String> {
        let logs = (0..lines).map(|k| line(self.next_line + k)).collect();
        self.next_line += lines;
        let result = self.env.invoke(self.env.invocation(self.invocations, logs, TIMEOUT)?)?;
        self.invocations += 1;
        let held = result.extensions_done_at.map(|d| d.saturating_duration_since(result.started_at));
        match held {
            Some(h) if h < TIMEOUT - Duration::from_millis(50) => Ok(()),
            _ => Err(format!("invocation {} was held {held:?} of {TIMEOUT:?}", self.invocations)),
        }
    }

    fn delivered(&self) -> BTreeSet<usize> {
        self.env.collector.with(|snap| snap.logs().filter_map(|l| line_number(&l.message)).collect())
    }

    /// Invocation numbers whose agent payload was delivered, and how many REPORT lines were.
    fn telemetry_delivered(&self) -> (BTreeSet<usize>, usize) {
        self.env.collector.with(|snap| {
            let number = |id: &str| id.rsplit('-').next().and_then(|n| n.parse().ok());
            let payloads = snap.events_of(EventKind::AgentPayload).filter_map(|e| number(e.request_id.as_deref()?));
            (payloads.collect(), snap.events_of(EventKind::Report).count())
        })
    }
}

pub fn run(extension: &Path, outage: Duration) -> Result<(Outcome, Vec<Sample>), String> {
    let env = Sandbox::start(extension, "overload", true, &[("NEW_RELIC_EXTENSION_SEND_LOGS", "function")])?;
    env.collector.refuse();
    let mut run = Run { env, next_line: 0, invocations: 0 };
    let (started, mut samples, mut last_print) = (Instant::now(), Vec::new(), Instant::now());
    while started.elapsed() < outage {
        run.invoke(LINES)?;
        if last_print.elapsed() >= Duration::from_secs(5) {
            last_print = Instant::now();
            let sample = run.env.sample(run.invocations).ok_or("the extension process is gone")?;
            println!(
                "  {:>6.1} s down  {:>6} invocations  {:>8} lines  RSS {:>6} kB  peak {:>6} kB  threads {:>2}  fds {:>3}",
                started.elapsed().as_secs_f64(),
                run.invocations,
                run.next_line,
                sample.rss_kb,
                sample.peak_rss_kb,
                sample.threads,
                sample.fds
            );
            samples.push(sample);
        }
    }
    let last_in_outage = run.next_line.saturating_sub(1);
    run.env.collector.resume().map_err(|e| format!("collector does not come back: {e}"))?;
    let recovered = Instant::now();
    while !run.delivered().contains(&last_in_outage) {
        if recovered.elapsed() > Duration::from_secs(60) {
            return Err(format!("delivery did not resume within 60 s\n{}", run.env.output_tail()));
        }
        run.invoke(1)?;
    }
    let recovery = recovered.elapsed();
    let peak_rss_kb = run.env.lambda.peak_rss_kb();
    let summary = run.env.shutdown()?;
    let delivered = run.delivered();
    let missing: Vec<usize> = (0..run.next_line).filter(|n| !delivered.contains(n)).collect();
    let (payloads, reports) = run.telemetry_delivered();
    let missing_payloads: Vec<usize> = (0..run.invocations).filter(|n| !payloads.contains(n)).collect();
    // Telemetry (payloads and REPORT lines) shares the counts with the log lines.
    let lost_events = 2 * run.invocations - payloads.len() - reports;
    let outcome = Outcome { lines: run.next_line, dropped: missing.len(), peak_rss_kb, recovery, summary };
    check(&outcome, &missing, &missing_payloads, lost_events)?;
    Ok((outcome, samples))
}

fn check(outcome: &Outcome, missing: &[usize], missing_payloads: &[usize], lost_events: usize) -> Result<(), String> {
    if outcome.peak_rss_kb > PEAK_RSS_CAP_KB {
        return Err(format!("peak RSS {} kB over the {PEAK_RSS_CAP_KB} kB cap", outcome.peak_rss_kb));
    }
    // Oldest first, for log lines and payloads alike: whatever is newer than the newest lost
    // item arrived, and of the older ones only one job's worth (3 MiB, items of at least
    // FILLER bytes) may have: the job that was being sent, out of the queue, while the queue
    // dropped its oldest, and went through when New Relic came back.
    let one_job = 3 * 1024 * 1024 / FILLER;
    for (what, lost) in [("log lines", missing), ("payloads", missing_payloads)] {
        lambda_sim::util::lost_oldest_first(lost, one_job).map_err(|why| format!("lost {what}: {why}"))?;
    }
    let counted = (count(&outcome.summary, "queue_full") + count(&outcome.summary, "shutdown_deadline")) as usize;
    if counted != missing.len() + lost_events {
        return Err(format!(
            "{} lines and {lost_events} events lost but {counted} counted: {}",
            missing.len(),
            outcome.summary
        ));
    }
    Ok(())
}
