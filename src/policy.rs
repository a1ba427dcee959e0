//! When queued data is delivered: the one place that decides. For now every invocation is
//! flushed before `event/next` (waiting for its agent payload or `runtimeDone`), bounded by the
//! data-collection budget and by the invocation's deadline minus a safety margin, so a slow or
//! dead New Relic never holds an invocation to its timeout.

use std::time::{Duration, Instant};

use crate::config::Config;

/// Time kept free before an invocation's `deadlineMs`.
pub const INVOKE_DEADLINE_MARGIN: Duration = Duration::from_millis(100);
/// Time kept free before the SHUTDOWN `deadlineMs` (Lambda SIGKILLs at the deadline).
pub const SHUTDOWN_DEADLINE_MARGIN: Duration = Duration::from_millis(200);
/// SHUTDOWN budget assumed when the event carries no usable deadline.
const DEFAULT_SHUTDOWN_BUDGET: Duration = Duration::from_millis(1500);

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
mod tests {
    use super::*;

    #[test]
    fn flush_deadline_is_the_earlier_of_budget_and_deadline_minus_margin() {
        let (config, _) = Config::from_lookup(|_| None);
        let now = Instant::now();
        let far = instant_of(1_000_000 + 60_000, now, 1_000_000);
        assert_eq!(flush_deadline(&config, far, now), now + Duration::from_secs(10));
        let near = instant_of(1_000_000 + 1_000, now, 1_000_000);
        assert_eq!(flush_deadline(&config, near, now), now + Duration::from_millis(900));
        let past = instant_of(999_000, now, 1_000_000);
        assert_eq!(flush_deadline(&config, past, now), now);
        assert_eq!(flush_deadline(&config, None, now), now + Duration::from_secs(10));
        assert_eq!(instant_of(0, now, 5), None);
    }

    #[test]
    fn shutdown_keeps_a_margin() {
        let now = Instant::now();
        assert_eq!(shutdown_deadline(Some(now + Duration::from_secs(2)), now), now + Duration::from_millis(1800));
        assert_eq!(shutdown_deadline(Some(now), now), now);
        assert_eq!(shutdown_deadline(None, now), now + DEFAULT_SHUTDOWN_BUDGET);
    }
}
