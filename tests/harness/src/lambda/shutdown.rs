//! The shutdown sequence (spec §3.4), used for an explicit shutdown and for
//! every reset (§3.5): thaw, give the in-process runtime its share, queue
//! SHUTDOWN (`deadlineMs` = start + budget, `text/plain` like RIE) for the
//! extensions registered for it, SIGKILL the others at once, keep delivering
//! telemetry, and SIGKILL survivors at the deadline.

use super::freeze::thaw;
use super::records::{epoch_ms_at, shutdown_event};
use super::results::{ExtensionExit, ShutdownResult};
use super::signal::{self, SIGKILL};
use super::state::{EventMsg, Phase, Shared, State};
use std::os::unix::process::ExitStatusExt;
use std::thread;
use std::time::{Duration, Instant};

/// How long a SIGKILLed process may take to be reaped.
const REAP_WAIT: Duration = Duration::from_secs(2);

/// Runs the whole sequence; every process of this generation is gone after it.
pub(super) fn sequence(shared: &Shared, reason: &str) -> ShutdownResult {
    thaw(shared);
    let cfg = &shared.config;
    let start = Instant::now();
    let deadline = start + cfg.shutdown_budget;
    let deadline_ms = epoch_ms_at(start) + cfg.shutdown_budget.as_millis() as u64;
    // The runtime gets SIGTERM first and at most 30% of the window (RAPID).
    thread::sleep(cfg.runtime_shutdown.min(cfg.shutdown_budget * 3 / 10));
    let mut st = shared.lock();
    st.phase = Phase::Shutdown;
    queue_shutdown(&mut st, &shutdown_event(deadline_ms, reason));
    for sub in st.subs.iter_mut() {
        sub.drain_until = Some(deadline);
    }
    shared.cv.notify_all();
    let all_exited = |s: &State| s.procs.iter().all(|p| p.exit.is_some());
    let (mut st, _) = shared.wait_for(st, deadline, all_exited);
    for p in st.procs.iter_mut().filter(|p| p.exit.is_none()) {
        signal::group(p.pid, SIGKILL);
        p.killed = true;
    }
    let (st, _) = shared.wait_for(st, Instant::now() + REAP_WAIT, all_exited);
    let flushed = deadline + cfg.delivery_timeout + Duration::from_millis(100);
    let (st, _) = shared.wait_for(st, flushed, |s| s.subs.iter().all(|x| x.done));
    let extensions = st.procs.iter().map(|p| exit_of(p, start)).collect();
    ShutdownResult { reason: reason.to_string(), deadline_ms, extensions }
}

/// A reset: the sequence, then the next invoke re-spawns and re-inits.
pub(super) fn reset(shared: &Shared, reason: &str) -> ShutdownResult {
    let result = sequence(shared, reason);
    let mut st = shared.lock();
    st.phase = Phase::NeedsInit;
    st.current_request = None;
    result
}

/// SHUTDOWN for the subscribed, SIGKILL at once for everyone else.
fn queue_shutdown(st: &mut State, body: &str) {
    let now = Instant::now();
    let mut told = Vec::new();
    for ext in st.extensions.iter_mut() {
        if ext.wants("SHUTDOWN") && ext.errored.is_none() {
            ext.pending =
                Some(EventMsg { body: body.to_string(), content_type: "text/plain; charset=utf-8", event_id: None });
            told.extend(ext.proc_id);
        }
    }
    for p in st.procs.iter_mut().filter(|p| p.exit.is_none()) {
        if told.contains(&p.id) {
            p.shutdown_at = Some(now);
        } else {
            signal::group(p.pid, SIGKILL);
            p.killed = true;
        }
    }
}

fn exit_of(p: &super::state::Proc, start: Instant) -> ExtensionExit {
    let from = p.shutdown_at.unwrap_or(start);
    ExtensionExit {
        name: p.name.clone(),
        pid: p.pid,
        got_shutdown: p.shutdown_at.is_some(),
        exit_code: p.exit.and_then(|e| e.code()),
        signal: p.exit.and_then(|e| e.signal()),
        killed: p.killed,
        time_to_exit: p.exited_at.map(|at| at.saturating_duration_since(from)),
    }
}
