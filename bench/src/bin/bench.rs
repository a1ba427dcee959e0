//! `bench`: measures the extension against the floor extension (see
//! `nr_bench::bench`), prints the table and writes the JSON. Exit code 0
//! when every run completed without losing data (missed targets are shown,
//! not fatal), 1 otherwise, 2 on usage errors.

use nr_bench::bench::{self, report, BenchOptions};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str =
    "usage: bench --extension PATH --floor PATH [--reps N] [--invocations N] [--json PATH] [--no-callgrind]
  --extension PATH   the extension binary (release build)
  --floor PATH       the floor extension binary
  --reps N           repetitions of each run (default 5)
  --invocations N    invocations per busy run (default 200)
  --json PATH        where to write the results (default target/bench.json)
  --no-callgrind     skip the valgrind instruction counts";

fn number(it: &mut std::slice::Iter<'_, String>, flag: &str) -> Result<usize, String> {
    let n = it.next().ok_or(format!("{flag} needs a number"))?;
    match n.parse() {
        Ok(v) if v > 0 => Ok(v),
        _ => Err(format!("{flag}: not a positive number: {n}")),
    }
}

fn parse(args: &[String]) -> Result<BenchOptions, String> {
    let mut opts = BenchOptions::new(PathBuf::new(), PathBuf::new());
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--extension" => opts.extension = it.next().ok_or("--extension needs a path")?.into(),
            "--floor" => opts.floor = it.next().ok_or("--floor needs a path")?.into(),
            "--reps" => opts.reps = number(&mut it, "--reps")?,
            "--invocations" => opts.invocations = number(&mut it, "--invocations")?,
            "--json" => opts.json = it.next().ok_or("--json needs a path")?.into(),
            "--no-callgrind" => opts.callgrind = false,
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument: {other}")),
        }
    }
    if opts.extension.as_os_str().is_empty() || opts.floor.as_os_str().is_empty() {
        return Err("--extension and --floor are required".into());
    }
    opts.cold_samples = opts.reps * 20;
    Ok(opts)
}

fn main() -> ExitCode {
    let opts = match nr_bench::args_or_usage("bench", USAGE, parse) {
        Ok(o) => o,
        Err(code) => return code,
    };
    let mut out = std::io::stdout();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let _ = writeln!(
        out,
        "Benchmark: {} vs the floor {} ({} repetitions, {cores} cores)",
        opts.extension.display(),
        opts.floor.display(),
        opts.reps
    );
    let results = bench::run(&opts, &mut out);
    let figures = report::figures(&opts, &results);
    let _ = report::print_table(&figures, &mut out);
    let problems = report::problems(&results);
    let json = report::document(&opts, &results, &figures).render();
    match std::fs::write(&opts.json, json + "\n") {
        Ok(()) => {
            let _ = writeln!(out, "\nJSON: {}  ({:.0} s in all)", opts.json.display(), results.elapsed.as_secs_f64());
        }
        Err(e) => eprintln!("bench: cannot write {}: {e}", opts.json.display()),
    }
    if problems.is_empty() {
        return ExitCode::SUCCESS;
    }
    let _ = writeln!(out, "\nPROBLEMS");
    for p in &problems {
        let _ = writeln!(out, "  - {p}");
    }
    ExitCode::from(1)
}
