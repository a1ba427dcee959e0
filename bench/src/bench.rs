//! `./build.sh bench`: one run of every figure of the issue, several
//! repetitions each, ours side by side with the floor extension: binary size,
//! cold start (wall time and callgrind instructions), busy-function runs per
//! flush policy with an instant and a slow collector (overhead, freshness,
//! memory, CPU, SHUTDOWN → exit) and log-line throughput. This module runs
//! the phases in an order that spreads machine drift over all subjects and
//! collects raw results; `report` turns them into figures, table and JSON.

pub mod busy;
pub mod cold;
pub mod figures;
pub mod json;
pub mod logs;
pub mod report;

use busy::{BusyRun, Policy, Subject};
use cold::ColdRun;
use logs::Throughput;
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

const SEND_LOGS: &str = "NEW_RELIC_EXTENSION_SEND_LOGS";

#[derive(Debug, Clone)]
pub struct BenchOptions {
    pub extension: PathBuf,
    pub floor: PathBuf,
    pub reps: usize,
    /// Invocations per busy run.
    pub invocations: usize,
    /// Cold starts per subject (cheap: several per repetition).
    pub cold_samples: usize,
    /// Log lines of one throughput burst.
    pub log_lines: usize,
    /// The slow collector's answer time.
    pub delay: Duration,
    pub callgrind: bool,
    pub json: PathBuf,
}

impl BenchOptions {
    pub fn new(extension: PathBuf, floor: PathBuf) -> BenchOptions {
        BenchOptions {
            extension,
            floor,
            reps: 5,
            invocations: 200,
            cold_samples: 20,
            log_lines: 50_000,
            delay: Duration::from_millis(50),
            callgrind: true,
            json: crate::target_dir().join("bench.json"),
        }
    }

    /// The collectors of the busy runs: instant, then slow.
    pub fn collectors(&self) -> [Option<Duration>; 2] {
        [None, Some(self.delay)]
    }
}

/// Outcome of the log throughput phase.
#[derive(Debug, Clone)]
pub enum LogsResult {
    Measured(Vec<Throughput>),
    /// No log line reached the collector: forwarding is not wired in this build.
    NotWired,
    Failed(String),
}

/// Everything measured, raw.
#[derive(Debug, Clone)]
pub struct Results {
    pub sizes: [Option<u64>; 2],
    pub cold: [Vec<ColdRun>; 2],
    /// Ours with function log forwarding on.
    pub cold_logs: Vec<ColdRun>,
    /// Every busy run: who, which collector delay, what it measured.
    pub busy: Vec<(Subject, Option<Duration>, BusyRun)>,
    /// Callgrind `Ir` of each cold start (ours, floor), or why not.
    pub callgrind: [Result<Vec<u64>, String>; 2],
    pub logs: LogsResult,
    /// Runs that failed (the figures then have fewer samples).
    pub errors: Vec<String>,
    pub elapsed: Duration,
}

pub fn run(opts: &BenchOptions, out: &mut dyn Write) -> Results {
    let started = Instant::now();
    let size = |p: &PathBuf| std::fs::metadata(p).ok().map(|m| m.len());
    let mut r = Results {
        sizes: [size(&opts.extension), size(&opts.floor)],
        cold: [Vec::new(), Vec::new()],
        cold_logs: Vec::new(),
        busy: Vec::new(),
        callgrind: [Err("not run".into()), Err("not run".into())],
        logs: LogsResult::NotWired,
        errors: Vec::new(),
        elapsed: Duration::ZERO,
    };
    cold_phase(opts, &mut r, out);
    busy_phase(opts, &mut r, out, started);
    logs_phase(opts, &mut r, out);
    callgrind_phase(opts, &mut r, out);
    r.elapsed = started.elapsed();
    r
}

fn cold_phase(opts: &BenchOptions, r: &mut Results, out: &mut dyn Write) {
    let t = Instant::now();
    // Alternating, so a drift of the machine hits both alike.
    for _ in 0..opts.cold_samples {
        for (i, (bin, subject)) in
            [(&opts.extension, Subject::Ours(Policy::Adaptive)), (&opts.floor, Subject::Floor)].iter().enumerate()
        {
            match cold::run(bin, *subject, &[]) {
                Ok(c) => r.cold.get_mut(i).into_iter().for_each(|v| v.push(c)),
                Err(e) => r.errors.push(format!("cold start: {e}")),
            }
        }
    }
    // With log forwarding on, SHUTDOWN also waits for the telemetry stream to go quiet.
    for _ in 0..opts.reps {
        match cold::run(&opts.extension, Subject::Ours(Policy::Adaptive), &[(SEND_LOGS, "function")]) {
            Ok(c) => r.cold_logs.push(c),
            Err(e) => r.errors.push(format!("cold start with log forwarding: {e}")),
        }
    }
    let _ = writeln!(out, "  cold start: {} samples each, {:.1} s", opts.cold_samples, t.elapsed().as_secs_f64());
}

fn busy_phase(opts: &BenchOptions, r: &mut Results, out: &mut dyn Write, started: Instant) {
    for rep in 0..opts.reps {
        let t = Instant::now();
        let mut runs: Vec<(PathBuf, Subject, Option<Duration>)> =
            vec![(opts.floor.clone(), Subject::FloorReadingPipe, None)];
        for delay in opts.collectors() {
            for p in Policy::ALL {
                runs.push((opts.extension.clone(), Subject::Ours(p), delay));
            }
        }
        for (bin, subject, delay) in runs {
            match busy::run(&bin, subject, delay, opts.invocations) {
                Ok(b) => r.busy.push((subject, delay, b)),
                Err(e) => r.errors.push(format!("busy run {subject:?} {delay:?}: {e}")),
            }
        }
        let _ = writeln!(
            out,
            "  busy runs, repetition {}/{}: floor + 3 policies × 2 collectors × {} invocations, {:.1} s (total {:.0} s)",
            rep + 1,
            opts.reps,
            opts.invocations,
            t.elapsed().as_secs_f64(),
            started.elapsed().as_secs_f64()
        );
    }
}

fn logs_phase(opts: &BenchOptions, r: &mut Results, out: &mut dyn Write) {
    let t = Instant::now();
    let mut measured = Vec::new();
    for _ in 0..opts.reps.clamp(1, 3) {
        match logs::run(&opts.extension, opts.log_lines) {
            Ok(Some(m)) => measured.push(m),
            Ok(None) => {
                r.logs = LogsResult::NotWired;
                let _ = writeln!(out, "  log throughput: no log line reached the collector (forwarding not wired)");
                return;
            }
            Err(e) => {
                r.logs = LogsResult::Failed(e);
                return;
            }
        }
    }
    let _ = writeln!(
        out,
        "  log throughput: {} bursts of {} lines, {:.1} s",
        measured.len(),
        opts.log_lines,
        t.elapsed().as_secs_f64()
    );
    r.logs = LogsResult::Measured(measured);
}

fn callgrind_phase(opts: &BenchOptions, r: &mut Results, out: &mut dyn Write) {
    if !opts.callgrind {
        r.callgrind = [Err("skipped (--no-callgrind)".into()), Err("skipped (--no-callgrind)".into())];
        return;
    }
    let Some(valgrind) = cold::valgrind() else {
        let why = "valgrind not installed".to_string();
        r.callgrind = [Err(why.clone()), Err(why)];
        return;
    };
    let t = Instant::now();
    let reps = opts.reps.clamp(1, 3);
    let subjects = [(&opts.extension, Subject::Ours(Policy::Adaptive)), (&opts.floor, Subject::Floor)];
    for (slot, (bin, subject)) in r.callgrind.iter_mut().zip(subjects) {
        *slot = (0..reps).map(|_| cold::callgrind(bin, subject, &valgrind)).collect();
    }
    let _ = writeln!(out, "  callgrind: {reps} cold starts of each under valgrind, {:.1} s", t.elapsed().as_secs_f64());
}
