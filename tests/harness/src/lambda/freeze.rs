//! Freeze and thaw (spec §3.3): hold telemetry delivery and SIGSTOP every
//! extension process group once everything waits in `next`; SIGCONT and
//! resume delivery just before the next event is handed out. Switchable with
//! `SimConfig::freeze`, so tests can prove no work depends on timers.

use super::signal::{self, SIGCONT, SIGSTOP};
use super::state::Shared;
use std::time::{Duration, Instant};

/// How long a SIGSTOP may take to show in `/proc` before we go on anyway.
const STOP_SETTLE: Duration = Duration::from_secs(1);

/// Holds delivery, lets a batch already on the wire finish (so a freeze
/// never cuts a POST in half), stops the process groups, then runs the hook.
pub(super) fn freeze(shared: &Shared) {
    // LMI environments run continuously.
    if !shared.config.freeze || shared.config.lmi {
        return;
    }
    let mut st = shared.lock();
    if st.closed {
        return;
    }
    st.frozen = true;
    shared.cv.notify_all();
    let settle = Instant::now() + shared.config.delivery_timeout + Duration::from_millis(100);
    let (st, _) = shared.wait_for(st, settle, |s| s.subs.iter().all(|x| !x.in_flight));
    let pids = st.live_pids();
    let hook = st.freeze_hook.clone();
    for &pid in &pids {
        signal::group(pid, SIGSTOP);
    }
    drop(st);
    signal::wait_stopped(&pids, STOP_SETTLE);
    if let Some(hook) = hook {
        hook();
    }
}

/// Resumes the process groups and delivery; a no-op when not frozen.
pub(super) fn thaw(shared: &Shared) {
    let mut st = shared.lock();
    if !st.frozen {
        return;
    }
    for pid in st.live_pids() {
        signal::group(pid, SIGCONT);
    }
    st.frozen = false;
    shared.cv.notify_all();
}
