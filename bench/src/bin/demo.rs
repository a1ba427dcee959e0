//! `demo`: runs the extension through a simulated Lambda lifecycle and
//! prints what New Relic received (see `nr_bench::demo`). Exit code 0 when
//! every produced item was delivered exactly once, 1 otherwise, 2 on usage
//! errors.

use nr_bench::demo::{self, DemoOptions};
use nr_bench::session::Destination;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "usage: demo --extension PATH [--invocations N] [--real]
  --extension PATH   the extension binary (its file name is the name it registers with)
  --invocations N    how many invocations to run (default 36)
  --real             send to the real New Relic endpoints (needs NEW_RELIC_LICENSE_KEY)";

fn parse(args: &[String]) -> Result<DemoOptions, String> {
    let mut opts = DemoOptions::new(PathBuf::new());
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--extension" => opts.extension = it.next().ok_or("--extension needs a path")?.into(),
            "--invocations" => {
                let n = it.next().ok_or("--invocations needs a number")?;
                opts.invocations = n.parse().map_err(|_| format!("--invocations: not a number: {n}"))?;
            }
            "--real" => opts.destination = Destination::Real,
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument: {other}")),
        }
    }
    if opts.extension.as_os_str().is_empty() {
        return Err("--extension is required".into());
    }
    if opts.invocations < 3 {
        return Err("--invocations must be at least 3 (a burst, a timeout and a normal one)".into());
    }
    Ok(opts)
}

fn main() -> ExitCode {
    let opts = match nr_bench::args_or_usage("demo", USAGE, parse) {
        Ok(o) => o,
        Err(code) => return code,
    };
    let mut out = std::io::stdout();
    let target = match opts.destination {
        Destination::Simulated => "the simulator's fake New Relic collector",
        Destination::Real => "the real New Relic endpoints",
    };
    let _ = writeln!(
        out,
        "Running {} through a simulated Lambda (freezing on): {} invocations, sending to {target}",
        opts.extension.display(),
        opts.invocations
    );
    let report = match demo::run(&opts, &mut out) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("demo: {e}");
            return ExitCode::from(1);
        }
    };
    let _ = demo::print::render(&report, &mut out);
    if report.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
