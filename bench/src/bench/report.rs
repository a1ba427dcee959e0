//! From raw results to what a reader sees: the list of figures (median and
//! spread over repetitions, beside the floor, with the targets), the
//! table printed at the end of a run, and the JSON document written for
//! comparisons over time. No measuring here.

use super::busy::{BusyRun, Policy, Subject};
use super::figures::{Figure, Target, Unit};
use super::json::{self, Json};
use super::{BenchOptions, LogsResult, Results};
use crate::stats::{ms, percentile};
use std::io::{self, Write};
use std::time::Duration;

const FOOTPRINT: &str = "Footprint, cold start, SHUTDOWN";
const LOGS: &str = "Log forwarding throughput (listener → Log API sender)";
/// `NEW_RELIC_EXTENSION_MAX_DATA_AGE` default: the freshness bound.
const AGE_BOUND_MS: f64 = 10_000.0;

fn collector_key(delay: Option<Duration>) -> String {
    delay.map_or("instant".into(), |d| format!("collector_{}ms", d.as_millis()))
}

fn collector_label(delay: Option<Duration>) -> String {
    delay.map_or("instant collector".into(), |d| format!("{} ms collector", d.as_millis()))
}

fn overhead(b: &BusyRun) -> &Vec<f64> {
    &b.overhead_ms
}

fn freshness(b: &BusyRun) -> &Vec<f64> {
    &b.freshness_ms
}

/// One value per busy run of `subject` with `delay`.
fn per_run(r: &Results, subject: Subject, delay: Option<Duration>, f: impl Fn(&BusyRun) -> Option<f64>) -> Vec<f64> {
    r.busy.iter().filter(|(s, d, _)| *s == subject && *d == delay).filter_map(|(_, _, b)| f(b)).collect()
}

fn floor_runs(r: &Results, f: impl Fn(&BusyRun) -> Option<f64>) -> Vec<f64> {
    per_run(r, Subject::FloorReadingPipe, None, f)
}

fn after_delivery(b: &BusyRun) -> Option<f64> {
    let total = b.shutdown_to_exit_ms?;
    Some((total - b.shutdown_delivery_ms.unwrap_or(0.0)).max(0.0))
}

pub fn figures(opts: &BenchOptions, r: &Results) -> Vec<Figure> {
    let mut out = footprint(r);
    for delay in opts.collectors() {
        let section = format!(
            "Busy function: {} invocations back to back (overhead: all but the first), {}",
            opts.invocations,
            collector_label(delay)
        );
        for p in Policy::ALL {
            out.extend(policy_rows(r, &section, p, delay));
        }
    }
    out.extend(log_figures(r));
    out
}

/// The busy-run figures of one policy with one collector; the default
/// policy carries the targets and its first invocation apart.
fn policy_rows(r: &Results, section: &str, p: Policy, delay: Option<Duration>) -> Vec<Figure> {
    let s = Subject::Ours(p);
    let key = |what: &str| format!("{what}.{}.{}", p.key(), collector_key(delay));
    let fig = |what: &str, label: &str| Figure::new(section, &key(what), &format!("{label} · {}", p.key()), Unit::Ms);
    let pct = |q: f64, v: fn(&BusyRun) -> &Vec<f64>| move |b: &BusyRun| percentile(v(b), q);
    let mut p99 = fig("overhead_p99_ms", "overhead p99")
        .ours(&per_run(r, s, delay, pct(99.0, overhead)))
        .floor(&floor_runs(r, pct(99.0, overhead)));
    let mut fresh99 = fig("freshness_p99_ms", "freshness p99").ours(&per_run(r, s, delay, pct(99.0, freshness)));
    let mut cpu = fig("cpu_per_invocation_ms", "CPU per invocation")
        .ours(&per_run(r, s, delay, |b| b.cpu_per_invocation_ms))
        .floor(&floor_runs(r, |b| b.cpu_per_invocation_ms));
    let mut first = None;
    if p == Policy::Adaptive {
        if delay.is_some() {
            p99 = p99.target(Target::Below(1.0, "< 1 ms"));
        }
        fresh99 = fresh99.target(Target::AtMost(AGE_BOUND_MS, "≤ age bound (10 s)"));
        cpu = cpu.target(Target::AtMost(0.4, "≤ 0.4 ms"));
        let label = "first invocation · adaptive (sparse by design)";
        first = Some(
            Figure::new(section, &key("first_overhead_ms"), label, Unit::Ms)
                .ours(&per_run(r, s, delay, |b| b.first_overhead_ms))
                .floor(&floor_runs(r, |b| b.first_overhead_ms)),
        );
    }
    let p50 = fig("overhead_p50_ms", "overhead p50")
        .ours(&per_run(r, s, delay, pct(50.0, overhead)))
        .floor(&floor_runs(r, pct(50.0, overhead)));
    let fresh50 = fig("freshness_p50_ms", "freshness p50").ours(&per_run(r, s, delay, pct(50.0, freshness)));
    let runs = Figure::new(
        section,
        &key("thread_runs_per_invocation"),
        &format!("thread runs per invocation · {}", p.key()),
        Unit::Count,
    )
    .ours(&per_run(r, s, delay, |b| b.runs_per_invocation))
    .floor(&floor_runs(r, |b| b.runs_per_invocation));
    [p50, p99, fresh50, fresh99, cpu, runs].into_iter().chain(first).collect()
}

fn footprint(r: &Results) -> Vec<Figure> {
    let sizes = |i: usize| r.sizes.get(i).copied().flatten().map(|b| vec![b as f64]).unwrap_or_default();
    let cold = |i: usize, f: fn(&super::cold::ColdRun) -> Option<f64>| -> Vec<f64> {
        r.cold.get(i).map(|v| v.iter().filter_map(f).collect()).unwrap_or_default()
    };
    let ir = |i: usize| -> Vec<f64> {
        let runs = r.callgrind.get(i).and_then(|c| c.as_ref().ok());
        runs.map(|v| v.iter().map(|n| *n as f64).collect()).unwrap_or_default()
    };
    let default = Subject::Ours(Policy::Adaptive);
    let mut callgrind =
        Figure::new(FOOTPRINT, "cold_start_instructions", "cold start instructions (callgrind Ir)", Unit::Instructions)
            .ours(&ir(0))
            .floor(&ir(1));
    if let Some(Err(e)) = r.callgrind.first() {
        callgrind = callgrind.note(e);
    }
    vec![
        Figure::new(FOOTPRINT, "binary_size_bytes", "binary size (stripped release)", Unit::Bytes)
            .ours(&sizes(0))
            .floor(&sizes(1))
            .target(Target::AtMost(1_800_000.0, "≤ 1.8 MB")),
        Figure::new(FOOTPRINT, "spawn_to_ready_ms", "spawn → first event/next", Unit::Ms)
            .ours(&cold(0, |c| c.ready_ms))
            .floor(&cold(1, |c| c.ready_ms))
            .target(Target::FloorRatio(1.3)),
        callgrind,
        Figure::new(FOOTPRINT, "peak_rss_kib", "peak RSS (VmHWM), busy run", Unit::KiB)
            .ours(&per_run(r, default, None, |b| Some(b.peak_rss_kb as f64)))
            .floor(&floor_runs(r, |b| Some(b.peak_rss_kb as f64)))
            .target(Target::AtMost(3_000_000.0 / 1024.0, "≤ 3 MB")),
        Figure::new(FOOTPRINT, "shutdown_to_exit_ms.idle", "SHUTDOWN → exit, nothing queued", Unit::Ms)
            .ours(&cold(0, |c| c.shutdown_to_exit_ms))
            .floor(&cold(1, |c| c.shutdown_to_exit_ms))
            .target(Target::AtMost(5.0, "≤ 5 ms")),
        Figure::new(FOOTPRINT, "shutdown_to_exit_ms.idle_logs", "  … with log forwarding on", Unit::Ms)
            .ours(&r.cold_logs.iter().filter_map(|c| c.shutdown_to_exit_ms).collect::<Vec<_>>())
            .floor(&cold(1, |c| c.shutdown_to_exit_ms))
            .target(Target::AtMost(5.0, "≤ 5 ms")),
        Figure::new(FOOTPRINT, "shutdown_to_exit_ms.busy", "SHUTDOWN → exit after a busy run", Unit::Ms)
            .ours(&per_run(r, default, None, |b| b.shutdown_to_exit_ms))
            .floor(&floor_runs(r, |b| b.shutdown_to_exit_ms)),
        Figure::new(FOOTPRINT, "shutdown_delivery_ms.busy", "  of which: delivering the rest", Unit::Ms)
            .ours(&per_run(r, default, None, |b| Some(b.shutdown_delivery_ms.unwrap_or(0.0)))),
        Figure::new(FOOTPRINT, "shutdown_after_delivery_ms.busy", "  of which: exit after delivery", Unit::Ms)
            .ours(&per_run(r, default, None, after_delivery))
            .floor(&floor_runs(r, |b| b.shutdown_to_exit_ms))
            .target(Target::AtMost(5.0, "≤ 5 ms + delivery")),
    ]
}

fn log_figures(r: &Results) -> Vec<Figure> {
    let wall = Figure::new(LOGS, "log_lines_per_second", "log lines per second (wall)", Unit::PerSecond);
    let core = Figure::new(LOGS, "log_lines_per_cpu_second", "log lines per second per core", Unit::PerSecond);
    match &r.logs {
        LogsResult::Measured(m) => {
            let w: Vec<f64> = m.iter().map(|t| t.lines_per_second()).collect();
            let c: Vec<f64> = m.iter().filter_map(|t| t.lines_per_cpu_second()).collect();
            let lost: usize = m.iter().map(|t| t.emitted.saturating_sub(t.delivered)).sum();
            let (wall, core) = (wall.ours(&w), core.ours(&c));
            if lost > 0 {
                return vec![wall.note(&format!("{lost} lines never arrived")), core];
            }
            vec![wall, core]
        }
        LogsResult::NotWired => {
            vec![wall.note("n/a (log forwarding not wired)"), core.note("n/a (log forwarding not wired)")]
        }
        LogsResult::Failed(e) => vec![wall.note(&format!("failed: {e}")), core.note("failed")],
    }
}

/// What went wrong beyond missed targets: failed runs, lost or duplicated data.
pub fn problems(r: &Results) -> Vec<String> {
    let mut out = r.errors.clone();
    for (s, d, b) in &r.busy {
        if b.lost > 0 || b.duplicated > 0 {
            out.push(format!("{s:?} with {}: {} items lost, {} duplicated", collector_label(*d), b.lost, b.duplicated));
        }
        if !b.exited_cleanly {
            out.push(format!("{s:?} with {}: did not exit cleanly on SHUTDOWN", collector_label(*d)));
        }
    }
    out
}

pub fn print_table(figures: &[Figure], out: &mut dyn Write) -> io::Result<()> {
    let mut section = "";
    for f in figures {
        if f.section != section {
            section = &f.section;
            writeln!(out, "\n{section}")?;
            writeln!(
                out,
                "  {:<46} {:<30} {:<26} {:>6}  target",
                "figure", "ours: median (min–max)", "floor", "ratio"
            )?;
        }
        let ours = match (&f.ours, &f.note) {
            (None, Some(note)) => note.clone(),
            (Some(_), Some(note)) => format!("{} [{note}]", f.cell(f.ours.as_ref())),
            _ => f.cell(f.ours.as_ref()),
        };
        let floor = if f.floor.is_some() { f.cell(f.floor.as_ref()) } else { "—".to_string() };
        let ratio = f.ratio().map_or("".to_string(), |x| format!("{x:.2}×"));
        let target = f.target.as_ref().map_or(String::new(), |t| t.text());
        let verdict = match f.verdict() {
            Some(true) => "PASS",
            Some(false) => "MISS",
            None if f.target.is_some() => "n/a",
            None => "",
        };
        writeln!(out, "  {:<46} {:<30} {:<26} {:>6}  {:<20} {verdict}", f.label, ours, floor, ratio, target)?;
    }
    Ok(())
}

pub fn document(opts: &BenchOptions, r: &Results, figures: &[Figure]) -> Json {
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let path = |p: &std::path::Path| Json::Str(p.display().to_string());
    Json::obj(vec![
        ("schema", Json::Num(1.0)),
        ("timestamp_ms", Json::Num(lambda_sim::util::now_ms() as f64)),
        ("elapsed_s", Json::Num(r.elapsed.as_secs_f64())),
        ("host", Json::obj(vec![("cores", Json::Num(cores as f64)), ("kernel", Json::str(kernel.trim()))])),
        (
            "options",
            Json::obj(vec![
                ("extension", path(&opts.extension)),
                ("floor", path(&opts.floor)),
                ("reps", Json::Num(opts.reps as f64)),
                ("invocations", Json::Num(opts.invocations as f64)),
                ("cold_samples", Json::Num(opts.cold_samples as f64)),
                ("log_lines", Json::Num(opts.log_lines as f64)),
                ("slow_collector_ms", Json::Num(ms(opts.delay))),
            ]),
        ),
        ("figures", Json::Obj(figures.iter().map(|f| (f.key.clone(), json::figure(f))).collect())),
        ("problems", Json::Arr(problems(r).iter().map(|p| Json::str(p)).collect())),
    ])
}
