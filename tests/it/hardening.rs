//! Hardening: the real binary under hostile input and faults. Telemetry API clients that
//! misbehave, an agent that abuses the pipe, a collector that fails in every way, a platform
//! that errors, SIGTERM at any moment, `/tmp` full, and New Relic down under heavy logging.
//! Every scenario asserts the same four things: no crash, no hang, the function not slowed
//! beyond the deadline margin, and the data delivered or its loss counted.

mod agent;
mod collector;
mod overload;
mod platform;
mod sigterm;
mod telemetry_clients;
mod tmp_full;

use std::net::SocketAddr;
use std::time::Duration;

use lambda_sim::collector::{EventKind, Snapshot};
use lambda_sim::lambda::InvokeResult;

use crate::support::Env;

/// Time an invocation may lose to the extension: the deadline margin (100 ms) plus scheduling
/// slack on a loaded 2-core machine.
pub const MARGIN: Duration = Duration::from_millis(100);

/// Asserts the extension was back in `event/next` before the invocation's deadline margin.
#[track_caller]
pub fn assert_not_held(result: &InvokeResult, timeout: Duration) {
    assert_eq!(result.status, "success", "the invocation failed: {result:?}");
    let done = result.extensions_done_at.expect("the extension came back to event/next");
    let held = done.saturating_duration_since(result.started_at);
    assert!(held < timeout - MARGIN / 2, "the invocation was held {held:?} of its {timeout:?}");
}

/// Where the extension's Telemetry API listener is, from the subscription.
pub fn listener_addr(env: &Env) -> SocketAddr {
    let stats = env.lambda.telemetry_stats();
    let destination = &stats.first().expect("subscribed to the Telemetry API").destination;
    let port = destination
        .rsplit(':')
        .next()
        .and_then(|rest| rest.split('/').next())
        .and_then(|p| p.parse::<u16>().ok())
        .unwrap_or_else(|| panic!("no port in {destination}"));
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// The SHUTDOWN summary line, after asserting a clean exit.
#[track_caller]
pub fn clean_exit(env: &Env) -> String {
    let shutdown = env.shutdown("spindown");
    let exit = shutdown.extensions.first().expect("one extension");
    assert_eq!(exit.exit_code, Some(0), "{exit:?}\n{}", env.output());
    assert!(!exit.killed, "killed at the SHUTDOWN deadline: {exit:?}");
    assert!(!env.output().contains("panicked"), "{}", env.output());
    env.line("summary:").unwrap_or_else(|| panic!("no summary line:\n{}", env.output()))
}

/// The number after `name=` (or after `name `) in a summary line; 0 when absent.
pub fn count(summary: &str, name: &str) -> u64 {
    let Some(at) = summary.find(name) else { return 0 };
    let rest = summary[at + name.len()..].trim_start_matches(['=', ' ']);
    rest.chars().take_while(char::is_ascii_digit).collect::<String>().parse().unwrap_or(0)
}

/// Request ids whose REPORT line was delivered.
pub fn reports(snapshot: &Snapshot) -> Vec<String> {
    snapshot.events_of(EventKind::Report).filter_map(|e| e.request_id.clone()).collect()
}

/// What `/proc/<pid>/status` and `/proc/<pid>/fd` say about a process.
#[derive(Debug, Clone, Copy, Default)]
pub struct Usage {
    pub rss_kb: u64,
    pub peak_rss_kb: u64,
    pub threads: u64,
    pub fds: u64,
}

pub fn usage(pid: u32) -> Option<Usage> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status.lines().find(|l| l.starts_with(name)).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
    };
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count() as u64;
    Some(Usage { rss_kb: field("VmRSS:")?, peak_rss_kb: field("VmHWM:")?, threads: field("Threads:")?, fds })
}
