//! `nr-bench`: the demo and the benchmark of the extension, and the std-only
//! floor extension they compare it with (`src/bin/floor-extension.rs`). The
//! library holds what both binaries share: driving one simulated Lambda
//! environment around an extension binary (`session`), reading CPU time from
//! `/proc` (`procfs`), statistics (`stats`), the demo scenario (`demo`) and
//! the benchmark (`bench`). It measures and reports; it never changes the
//! extension or the simulator.

pub mod bench;
pub mod demo;
pub mod procfs;
pub mod session;
pub mod stats;

use std::path::{Path, PathBuf};

/// The workspace's `target/` directory, honouring `CARGO_TARGET_DIR`.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap_or(Path::new("..")).join("target"))
}

/// `target/<profile>/<name>` of this workspace (e.g. `debug`, `newrelic-lambda-extension`).
pub fn workspace_binary(profile: &str, name: &str) -> PathBuf {
    target_dir().join(profile).join(name)
}

/// Parses this program's command line with `parse`; on an error prints it (unless empty, as
/// for `--help`) and the usage, and gives the exit code to return.
pub fn args_or_usage<T>(
    program: &str,
    usage: &str,
    parse: impl FnOnce(&[String]) -> Result<T, String>,
) -> Result<T, std::process::ExitCode> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    parse(&args).map_err(|why| {
        if !why.is_empty() {
            eprintln!("{program}: {why}");
        }
        eprintln!("{usage}");
        std::process::ExitCode::from(2)
    })
}
