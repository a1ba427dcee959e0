//! When queued data is delivered: the one place that decides. The sender always delivers in
//! the background while the sandbox is thawed; this module decides whether the end-of-invocation
//! flush also *waits* for that delivery before `event/next` (which Lambda bills), and computes
//! every deadline. Pure: observations in, decision out.
//!
//! Adaptive (the default): a busy function (the previous invocation was less than the age bound
//! ago) answers as soon as the invocation's data is queued; its data rides along while the
//! sandbox is thawed and is never older than the next thaw. A sparse function (first invocation,
//! or an idle gap longer than the age bound) waits for delivery, so data does not sit frozen for
//! minutes. Anything queued for longer than the age bound is delivered before `event/next`
//! whatever the mode. While New Relic is failing, invocations are not held for it.

use std::time::{Duration, Instant};

use crate::config::{Config, FlushMode};

/// Time kept free before an invocation's `deadlineMs`.
pub const INVOKE_DEADLINE_MARGIN: Duration = Duration::from_millis(100);
/// Time kept free before the SHUTDOWN `deadlineMs` (Lambda SIGKILLs at the deadline).
pub const SHUTDOWN_DEADLINE_MARGIN: Duration = Duration::from_millis(200);
/// SHUTDOWN budget assumed when the event carries no usable deadline.
const DEFAULT_SHUTDOWN_BUDGET: Duration = Duration::from_millis(1500);
/// After a failed delivery, background retries wait at least this long, doubling to the cap.
const RETRY_PAUSE: Duration = Duration::from_millis(250);
const RETRY_PAUSE_CAP: Duration = Duration::from_secs(10);

/// What the pipeline knows when an invocation's data has been queued.
#[derive(Debug, Clone, Copy, Default)]
pub struct Observations {
    /// Time between the previous INVOKE and this one; `None` for the first invocation.
    pub gap: Option<Duration>,
    /// Age of the oldest queued event.
    pub oldest_queued: Option<Duration>,
    /// Deliveries that failed in a row (0 when New Relic is healthy).
    pub consecutive_failures: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// Deliver what is queued before calling `event/next`.
    ForDelivery,
    /// Call `event/next` now; the sender delivers in the background.
    No,
}

/// Whether the end-of-invocation flush waits for delivery.
pub fn decide(mode: FlushMode, age_bound: Duration, obs: &Observations) -> Wait {
    match mode {
        FlushMode::Synchronous => Wait::ForDelivery,
        FlushMode::Background => Wait::No,
        FlushMode::Adaptive => {
            // A failing New Relic must not cost every invocation its retry budget; the data
            // stays queued and is retried in the background (and at SHUTDOWN).
            if obs.consecutive_failures > 0 {
                return Wait::No;
            }
            let sparse = obs.gap.is_none_or(|g| g > age_bound);
            let stale = obs.oldest_queued.is_some_and(|a| a > age_bound);
            if sparse || stale {
                Wait::ForDelivery
            } else {
                Wait::No
            }
        }
    }
}

/// How long background delivery pauses after `failures` failed attempts in a row.
pub fn retry_pause(failures: u32) -> Duration {
    RETRY_PAUSE.saturating_mul(1 << failures.saturating_sub(1).min(6)).min(RETRY_PAUSE_CAP)
}

/// Converts an epoch-milliseconds deadline into an `Instant`, `None` if absent (0).
pub fn instant_of(deadline_ms: u64, now: Instant, now_ms: u64) -> Option<Instant> {
    if deadline_ms == 0 {
        return None;
    }
    Some(now + Duration::from_millis(deadline_ms.saturating_sub(now_ms)))
}

/// Until when the end-of-invocation flush may wait and send.
pub fn flush_deadline(config: &Config, invoke_deadline: Option<Instant>, now: Instant) -> Instant {
    let budget = now + config.data_collection_timeout;
    match invoke_deadline {
        Some(d) => budget.min(d.checked_sub(INVOKE_DEADLINE_MARGIN).unwrap_or(now)).max(now),
        None => budget,
    }
}

/// Until when SHUTDOWN may deliver before exiting.
pub fn shutdown_deadline(deadline: Option<Instant>, now: Instant) -> Instant {
    match deadline {
        Some(d) => d.checked_sub(SHUTDOWN_DEADLINE_MARGIN).unwrap_or(now).max(now),
        None => now + DEFAULT_SHUTDOWN_BUDGET,
    }
}

#[cfg(test)]
mod tests;
