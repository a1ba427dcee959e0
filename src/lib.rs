//! New Relic extension for AWS Lambda. See ARCHITECTURE.md for the map.

pub mod agent_pipe;
pub mod event;
pub mod listener;
pub mod newrelic;
pub mod payload;
pub mod retry;
pub mod sender;
pub mod telemetry;
pub mod timefmt;

/// Runs the extension; returns the process exit code.
pub fn run() -> i32 {
    0
}
