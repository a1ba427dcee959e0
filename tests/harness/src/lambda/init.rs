//! The Init phase (spec §3.1): `initStart`, waiting until every spawned
//! process registered (then the in-process runtime starts) and every
//! extension called `next`, `Extension.Crash` / `Extension.InitError`
//! detection, the closing `initRuntimeDone` and `initReport`, and the
//! re-execution of the extensions after a reset (suppressed init).

use super::delivery::emit;
use super::freeze::freeze;
use super::process;
use super::records::{init_done, obj, s, u};
use super::results::{ExtensionInit, InitReport, SimError};
use super::shutdown::reset;
use super::state::{Phase, Shared, State};
use miniserde::json::Value;
use std::io;
use std::sync::{Arc, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

/// Opens a new Init phase (`init` or `invoke`) and emits `initStart`.
pub(super) fn begin(shared: &Shared, phase: &'static str) {
    let mut st = shared.lock();
    st.phase = Phase::Init;
    st.init_phase = phase;
    st.init_started = Instant::now();
    st.extensions.clear();
    st.procs.clear();
    st.init_log.clear();
    st.init_error = None;
    let cfg = &shared.config;
    // LMI adds the function identity and the instance to initStart.
    let lmi = |v: Value| if cfg.lmi { v } else { Value::Null };
    let record = obj(vec![
        ("initializationType", s(&cfg.init_type())),
        ("phase", s(phase)),
        ("runtimeVersion", s("sim:1")),
        ("runtimeVersionArn", s(&format!("arn:aws:lambda:{}::runtime:sim", cfg.region))),
        ("functionName", lmi(s(&cfg.function_name))),
        ("functionVersion", lmi(s(&cfg.function_version))),
        ("instanceId", lmi(s(&crate::util::uuid_v4()))),
        ("instanceMaxMemory", lmi(u(u64::from(cfg.memory_mb) << 20))),
    ]);
    emit(shared, &mut st, "platform.initStart", record);
}

/// After a reset: re-executes every extension in a suppressed init.
pub(super) fn respawn(shared: &Arc<Shared>) -> io::Result<()> {
    begin(shared, "invoke");
    let specs = shared.lock().specs.clone();
    for (path, env) in specs {
        process::spawn(shared, &path, &env)?;
    }
    Ok(())
}

/// Waits for the end of Init; on failure resets the environment (the next
/// invoke re-inits). Freezes after a successful cold Init when asked.
pub(super) fn wait(shared: &Shared, timeout: Duration, freeze_after: bool) -> Result<InitReport, SimError> {
    match run(shared, Instant::now() + timeout) {
        Ok(report) => {
            if freeze_after {
                freeze(shared);
            }
            Ok(report)
        }
        Err(e) => {
            if !matches!(e, SimError::Usage(_)) {
                reset(shared, &shared.config.init_failure_reason);
            }
            Err(e)
        }
    }
}

fn run(shared: &Shared, deadline: Instant) -> Result<InitReport, SimError> {
    let st = shared.lock();
    if st.phase != Phase::Init {
        return Err(SimError::Usage("wait_init called outside Init".into()));
    }
    let registered = |s: &State| s.procs.iter().all(|p| p.ext_id.is_some());
    let st = settle(shared, st, deadline, "every extension to register", registered)?;
    drop(st);
    // The runtime starts only now, once every extension has registered.
    thread::sleep(shared.config.runtime_init);
    let ready = |s: &State| s.extensions.iter().all(|e| e.in_next && e.ready_at.is_some());
    let mut st = settle(shared, shared.lock(), deadline, "every extension to call next", ready)?;
    Ok(finish(shared, &mut st))
}

/// Waits for `done`, failing early on a crash or an `init/error`.
fn settle<'a>(
    shared: &Shared,
    st: MutexGuard<'a, State>,
    deadline: Instant,
    what: &str,
    done: impl Fn(&State) -> bool,
) -> Result<MutexGuard<'a, State>, SimError> {
    let (st, ok) = shared.wait_for(st, deadline, |s| failure(s).is_some() || done(s));
    if let Some(e) = failure(&st) {
        return Err(e);
    }
    if !ok {
        return Err(SimError::Timeout(what.to_string()));
    }
    Ok(st)
}

fn failure(st: &State) -> Option<SimError> {
    if st.init_error.is_some() {
        return Some(SimError::InitFailed { error_type: "Extension.InitError".into() });
    }
    if st.extensions.iter().any(|e| e.errored == Some("ExitError")) {
        return Some(SimError::InitFailed { error_type: "Extension.ExitError".into() });
    }
    st.exited_proc()
        .map(|p| SimError::ExtensionCrash { name: p.name.clone(), exit_code: p.exit.and_then(|e| e.code()) })
}

/// Closes Init: registration and subscription end here.
fn finish(shared: &Shared, st: &mut State) -> InitReport {
    let duration = st.init_started.elapsed();
    let (init_type, phase) = (shared.config.init_type(), st.init_phase);
    emit(shared, st, "platform.initRuntimeDone", init_done(&init_type, phase, None));
    emit(shared, st, "platform.initReport", init_done(&init_type, phase, Some(duration)));
    st.phase = Phase::Idle;
    if phase == "init" {
        st.cold_init = Some(duration);
    }
    let extensions = st
        .extensions
        .iter()
        .map(|e| {
            let spawned = e.proc_id.and_then(|id| st.procs.iter().find(|p| p.id == id)).map(|p| p.spawned_at);
            ExtensionInit {
                name: e.name.clone(),
                id: e.id.clone(),
                events: e.events.clone(),
                registered_after: spawned.map(|at| e.registered_at.saturating_duration_since(at)),
                ready_after: spawned.zip(e.ready_at).map(|(at, r)| r.saturating_duration_since(at)),
            }
        })
        .collect();
    InitReport { phase: phase.to_string(), duration, extensions }
}
