//! The demo's final report as readable text: what the collector received,
//! counted against what was produced, then the extension's own figures, then
//! the verdict. Formatting only; every number comes in a `DemoReport`.

use super::checks::{Accounting, Tally};
use super::{DemoReport, ExitFigures};
use crate::session::Destination;
use crate::stats::{fmt_ms, group, ms, percentile};
use std::io::{self, Write};
use std::time::Duration;

pub fn render(r: &DemoReport, out: &mut dyn Write) -> io::Result<()> {
    match (&r.accounting, r.destination) {
        (Some(acc), _) => received(r, acc, out)?,
        (None, Destination::Real) => {
            writeln!(out, "\nSent to the real New Relic endpoints: nothing to count here; see your account.")?;
        }
        (None, Destination::Simulated) => {}
    }
    extension(r, out)?;
    writeln!(out)?;
    if r.ok() {
        let what = match r.destination {
            Destination::Simulated => "every produced item accounted for, each delivered exactly once",
            Destination::Real => "the extension reports nothing dropped",
        };
        writeln!(out, "RESULT: OK: {what}.")
    } else {
        writeln!(out, "RESULT: FAILED")?;
        for p in &r.problems {
            writeln!(out, "  - {p}")?;
        }
        Ok(())
    }
}

fn tally_line(t: &Tally, note: &str, out: &mut dyn Write) -> io::Result<()> {
    let mut line = format!("  {:<16}{:>4} of {:<4} delivered exactly once", t.what, t.once, t.produced);
    if !t.lost.is_empty() {
        line.push_str(&format!(", {} LOST", t.lost.len()));
    }
    if !t.duplicated.is_empty() {
        line.push_str(&format!(", {} DUPLICATED", t.duplicated.len()));
    }
    writeln!(out, "{line}{note}")
}

fn received(r: &DemoReport, acc: &Accounting, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "\nWhat the collector received, counted against what was produced")?;
    let source = format!("   (real Python agent payloads: {} fixtures re-targeted)", r.fixtures);
    tally_line(&acc.payloads, &source, out)?;
    tally_line(&acc.reports, "   (one per invocation, the timed-out one included)", out)?;
    tally_line(&acc.timeouts, "   (synthesized \"Task timed out after …\")", out)?;
    if acc.logs_strict {
        tally_line(&acc.logs, "   (function log lines, Log API)", out)?;
    } else {
        writeln!(
            out,
            "  {:<16}log forwarding: not delivered (0 of {} lines arrived; not required by this build)",
            acc.logs.what, acc.logs.produced
        )?;
    }
    writeln!(
        out,
        "  {:<16}{} in all, {} answered with an injected error and retried",
        "requests", acc.requests, acc.failed_requests
    )?;
    let dups = acc.duplicate_ids.len();
    writeln!(out, "  {:<16}{}", "duplicate ids", if dups == 0 { "none".to_string() } else { dups.to_string() })?;
    let bad = acc.shape_errors.len() + acc.unexpected.len();
    writeln!(out, "  {:<16}{}", "malformed/extra", if bad == 0 { "none".to_string() } else { bad.to_string() })
}

/// CPU time in ticks: zero means "less than one tick", not "none".
fn cpu_ms(d: Option<Duration>) -> String {
    match d {
        Some(d) if d.is_zero() => "< 10 ms (under one tick)".into(),
        other => format!("{} (10 ms ticks)", opt_ms(other)),
    }
}

fn opt_ms(d: Option<Duration>) -> String {
    d.map_or("n/a".into(), |d| format!("{} ms", fmt_ms(ms(d))))
}

fn exit_text(e: &Option<ExitFigures>) -> String {
    match e {
        Some(e) => {
            let how = if e.killed { "KILLED".to_string() } else { format!("exit {}", e.exit_code.unwrap_or(-1)) };
            format!("{} ({how})", opt_ms(e.time_to_exit))
        }
        None => "n/a".into(),
    }
}

fn extension(r: &DemoReport, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "\nThe extension")?;
    let reinit = r.reinit.map(|d| format!("   (re-init after the timeout: {} ms)", fmt_ms(ms(d)))).unwrap_or_default();
    writeln!(out, "  {:<34}{}{reinit}", "init (spawn → first event/next)", opt_ms(r.init))?;
    let pct = |p| percentile(&r.overhead_ms, p).map_or("n/a".into(), fmt_ms);
    writeln!(
        out,
        "  {:<34}p50 {} ms · p99 {} ms · max {} ms   ({} invocations)",
        "post-runtime overhead",
        pct(50.0),
        pct(99.0),
        pct(100.0),
        r.overhead_ms.len()
    )?;
    writeln!(out, "  {:<34}{} kB", "peak RSS (VmHWM)", group(r.peak_rss_kb))?;
    let (cpu, count) = r.invocation_cpu;
    let per = if count == 0 { f64::NAN } else { ms(cpu) / count as f64 };
    writeln!(
        out,
        "  {:<34}{} ms per invocation ({} ms over {count} invocations, scheduler time); Init {}",
        "CPU (all threads)",
        fmt_ms(per),
        fmt_ms(ms(cpu)),
        cpu_ms(r.init_cpu)
    )?;
    writeln!(out, "  {:<34}{}   (timeout reset: {})", "SHUTDOWN → exit", exit_text(&r.shutdown), exit_text(&r.reset))?;
    for (i, line) in r.summaries.iter().enumerate() {
        let who = format!("extension says (process {})", i + 1);
        writeln!(out, "  {who:<34}{}", line.trim())?;
    }
    Ok(())
}
