//! `soak`: the long runs of `./build.sh soak`. A healthy run of many invocations (100,000 by
//! default) with the extension's RSS, threads and open descriptors sampled along the way, which
//! must stay flat, and no queue growth; then a New Relic outage of minutes under heavy logging,
//! during which memory must stay under the documented cap, losses must be the oldest data and
//! counted, and after which delivery must resume. Exit code 0 when every check holds, 1
//! otherwise, 2 on usage errors.

mod healthy;
mod overload;
mod sandbox;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

const USAGE: &str = "usage: soak --extension PATH [--invocations N] [--sample-every N] [--outage-secs S]
            [--rss-tolerance-kb K] [--no-freeze] [--skip-healthy] [--skip-outage]
  --extension PATH       the extension binary (release build)
  --invocations N        invocations of the healthy run (default 100000)
  --sample-every N       sample /proc every N invocations (default 5000)
  --outage-secs S        how long New Relic is down in the outage run (default 180)
  --rss-tolerance-kb K   RSS growth allowed after the first sample (default 2048)
  --no-freeze            do not SIGSTOP the extension between invocations (faster)";

struct Options {
    extension: PathBuf,
    healthy: Option<healthy::Options>,
    outage: Option<Duration>,
}

fn number(it: &mut std::slice::Iter<'_, String>, flag: &str) -> Result<u64, String> {
    let n = it.next().ok_or(format!("{flag} needs a number"))?;
    n.parse().map_err(|_| format!("{flag}: not a number: {n}"))
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut healthy =
        healthy::Options { invocations: 100_000, sample_every: 5_000, freeze: true, rss_tolerance_kb: 2048 };
    let (mut extension, mut outage) = (PathBuf::new(), Duration::from_secs(180));
    let (mut skip_healthy, mut skip_outage) = (false, false);
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--extension" => extension = it.next().ok_or("--extension needs a path")?.into(),
            "--invocations" => healthy.invocations = number(&mut it, arg)? as usize,
            "--sample-every" => healthy.sample_every = (number(&mut it, arg)? as usize).max(1),
            "--outage-secs" => outage = Duration::from_secs(number(&mut it, arg)?),
            "--rss-tolerance-kb" => healthy.rss_tolerance_kb = number(&mut it, arg)?,
            "--no-freeze" => healthy.freeze = false,
            "--skip-healthy" => skip_healthy = true,
            "--skip-outage" => skip_outage = true,
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument: {other}")),
        }
    }
    if extension.as_os_str().is_empty() {
        return Err("--extension is required".into());
    }
    Ok(Options { extension, healthy: (!skip_healthy).then_some(healthy), outage: (!skip_outage).then_some(outage) })
}

fn main() -> ExitCode {
    let opts = match nr_bench::args_or_usage("soak", USAGE, parse) {
        Ok(o) => o,
        Err(code) => return code,
    };
    let mut failed = false;
    if let Some(h) = &opts.healthy {
        let freeze = if h.freeze { "frozen between invocations" } else { "never frozen" };
        println!("healthy run: {} invocations, {freeze}, samples every {}", h.invocations, h.sample_every);
        let started = Instant::now();
        match healthy::run(&opts.extension, h) {
            Ok(samples) => {
                let (first, last) =
                    (samples.first().copied().unwrap_or_default(), samples.last().copied().unwrap_or_default());
                println!(
                    "healthy run: OK in {:.0} s; RSS {} → {} kB (tolerance {} kB), threads {} → {}, fds {} → {}",
                    started.elapsed().as_secs_f64(),
                    first.rss_kb,
                    last.rss_kb,
                    h.rss_tolerance_kb,
                    first.threads,
                    last.threads,
                    first.fds,
                    last.fds
                );
            }
            Err(why) => {
                println!("healthy run: FAILED: {why}");
                failed = true;
            }
        }
    }
    if let Some(outage) = opts.outage {
        println!("outage run: New Relic down for {outage:?}, ~100 KB of logs per invocation");
        match overload::run(&opts.extension, outage) {
            Ok((o, _)) => println!(
                "outage run: OK; {} lines, {} dropped (oldest first, all counted), peak RSS {} kB (cap {} kB), delivery resumed {:.1} s after New Relic came back\n  {}",
                o.lines,
                o.dropped,
                o.peak_rss_kb,
                overload::PEAK_RSS_CAP_KB,
                o.recovery.as_secs_f64(),
                o.summary
            ),
            Err(why) => {
                println!("outage run: FAILED: {why}");
                failed = true;
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
