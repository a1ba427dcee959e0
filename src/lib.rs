//! New Relic extension for AWS Lambda. See ARCHITECTURE.md for the map.
// The release binary aborts on a panic (Cargo.toml says why), so the code that ships has no
// panic site of its own: no unwrap, expect, panic or unchecked index. Tests may use them.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::unreachable,
        clippy::todo,
        clippy::unimplemented
    )
)]

pub mod log;

pub mod agent_pipe;
pub mod aws;
pub mod config;
pub mod duration;
pub mod error;
pub mod event;
pub mod http1;
pub mod http_agent;
pub mod invocations;
pub mod json;
pub mod lambda_api;
pub mod license;
pub mod lifecycle;
pub mod listener;
pub mod logs;
pub mod newrelic;
pub mod oneshot;
pub mod payload;
pub mod pipeline;
pub mod policy;
pub mod queue;
pub mod retry;
pub mod sender;
pub mod signals;
pub mod stats;
pub mod sys;
pub mod telemetry;
pub mod thaw;
pub mod timefmt;

/// Runs the extension; returns the process exit code.
pub fn run() -> i32 {
    let (config, warnings) = config::Config::from_env();
    log::init(config.log_level, config.logs_enabled);
    // Before any thread starts, and before the first line, so whoever sees the extension start
    // can rely on its SIGTERM handling.
    let terminator = signals::install();
    let name = extension_name();
    info!("{} {} starting as {name:?}", lifecycle::PRODUCT, lifecycle::VERSION);
    for warning in warnings {
        warn!("{warning}");
    }
    lifecycle::run(config, &name, &terminator)
}

/// The registered name must be the file's basename (Lambda starts `/opt/extensions/<name>`).
/// `argv[0]` is that path; `current_exe` would resolve symlinks and could differ.
fn extension_name() -> String {
    let from = |p: std::path::PathBuf| p.file_name().map(|n| n.to_string_lossy().into_owned());
    std::env::args_os()
        .next()
        .and_then(|a| from(a.into()))
        .or_else(|| std::env::current_exe().ok().and_then(from))
        .unwrap_or_else(|| lifecycle::PRODUCT.to_string())
}
