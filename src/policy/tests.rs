use super::*;

const BOUND: Duration = Duration::from_secs(10);

fn obs(gap_ms: Option<u64>, oldest_ms: Option<u64>, failures: u32) -> Observations {
    Observations {
        gap: gap_ms.map(Duration::from_millis),
        oldest_queued: oldest_ms.map(Duration::from_millis),
        consecutive_failures: failures,
    }
}

#[track_caller]
fn check(mode: FlushMode, o: Observations, expected: Wait) {
    assert_eq!(decide(mode, BOUND, &o), expected, "{mode:?} {o:?}");
}

#[test]
fn adaptive_decisions() {
    use FlushMode::*;
    // First invocation: sparse, wait.
    check(Adaptive, obs(None, None, 0), Wait::ForDelivery);
    // Busy: invocations close together.
    check(Adaptive, obs(Some(50), Some(1), 0), Wait::No);
    // Idle gap longer than the bound: sparse.
    check(Adaptive, obs(Some(60_000), Some(1), 0), Wait::ForDelivery);
    // Busy but something queued is older than the bound.
    check(Adaptive, obs(Some(50), Some(10_001), 0), Wait::ForDelivery);
    // New Relic failing: never hold the invocation for it.
    check(Adaptive, obs(None, Some(60_000), 2), Wait::No);
    // Overrides win.
    check(Synchronous, obs(Some(1), None, 3), Wait::ForDelivery);
    check(Background, obs(None, Some(60_000), 0), Wait::No);
}

#[test]
fn retry_pause_doubles_to_a_cap() {
    assert_eq!(retry_pause(1), Duration::from_millis(250));
    assert_eq!(retry_pause(2), Duration::from_millis(500));
    assert_eq!(retry_pause(4), Duration::from_secs(2));
    assert_eq!(retry_pause(40), Duration::from_secs(10));
    assert_eq!(retry_pause(0), Duration::from_millis(250));
}

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
