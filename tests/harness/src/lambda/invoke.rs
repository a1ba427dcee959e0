//! One invoke (spec §3.2): thaw, INVOKE to every extension registered for
//! it, `platform.start`, the in-process function (log records, its duration,
//! the agent's FIFO write before the response), `platform.runtimeDone`, the
//! wait until every extension is back in `next` (counted in the duration and
//! against the timeout), `platform.report`, then freeze — or a reset on a
//! timeout, a crash or `exit/error`.

use super::config::{Invocation, LogFormat, Outcome};
use super::delivery::emit;
use super::freeze::{freeze, thaw};
use super::records::{self, epoch_ms_at, iso, obj, s, ReportMetrics, Status};
use super::results::{InitReport, InvokeResult, SimError};
use super::state::{EventMsg, Phase, Shared, State};
use super::{init, shutdown, signal};
use crate::agent::{self, AgentError};
use crate::util::{now_ms, Rng};
use miniserde::json::{self, Value};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// What the function part of the invoke produced.
struct Run {
    timed_out: bool,
    responded_at: Instant,
    agent_blocked: bool,
    agent_error: Option<String>,
}

/// How the wait for the extensions ended.
enum Waited {
    Done(Instant),
    TimedOut,
    Crashed,
    ExitError,
}

pub(super) fn invoke(shared: &Arc<Shared>, inv: &Invocation) -> Result<InvokeResult, SimError> {
    let started = Instant::now();
    let deadline = started + inv.timeout;
    let deadline_ms = epoch_ms_at(started) + inv.timeout.as_millis() as u64;
    let init = prepare(shared, deadline)?;
    thaw(shared);
    let trace = records::tracing(inv.trace_header.as_deref(), None);
    dispatch(shared, inv, deadline_ms);
    let run = run_function(shared, inv, started, deadline);
    let runtime = runtime_status(inv, run.timed_out);
    if !shared.config.lmi {
        let done = records::runtime_done(&inv.request_id, &runtime, started, run.responded_at, &trace);
        emit(shared, &mut shared.lock(), "platform.runtimeDone", done);
    }
    let waited = if run.timed_out { Waited::TimedOut } else { wait_extensions(shared, deadline) };
    let cfg = &shared.config;
    let (status, done_at, reason) = match waited {
        Waited::Done(at) => {
            let reason = (inv.outcome == Outcome::Crash).then_some(&cfg.failure_reason);
            (runtime, Some(at), reason)
        }
        Waited::TimedOut => (Status::new("timeout", "Sandbox.Timedout"), None, Some(&cfg.timeout_reason)),
        Waited::Crashed => (Status::new("failure", "Extension.Crash"), None, Some(&cfg.failure_reason)),
        Waited::ExitError => (Status::new("failure", "Extension.ExitError"), None, Some(&cfg.failure_reason)),
    };
    let duration = match done_at {
        Some(at) => at.saturating_duration_since(started),
        None if matches!(waited, Waited::TimedOut) => inv.timeout,
        None => started.elapsed(),
    };
    let extension_exited = report(shared, inv, &status, duration, init.is_some(), &trace);
    let reset = reason.map(|r| shutdown::reset(shared, r));
    if reset.is_none() {
        let mut st = shared.lock();
        st.phase = Phase::Idle;
        st.current_request = None;
        drop(st);
        freeze(shared);
    }
    Ok(InvokeResult {
        request_id: inv.request_id.clone(),
        status: status.status.to_string(),
        error_type: status.error_type,
        deadline_ms,
        started_at: started,
        responded_at: run.responded_at,
        extensions_done_at: done_at,
        post_runtime_overhead: done_at.map(|at| at.saturating_duration_since(run.responded_at)),
        duration,
        agent_blocked: run.agent_blocked,
        agent_error: run.agent_error,
        extension_exited,
        reset,
        init,
    })
}

/// Re-inits after a reset (suppressed init inside this invoke's timeout).
fn prepare(shared: &Arc<Shared>, deadline: Instant) -> Result<Option<InitReport>, SimError> {
    let phase = shared.lock().phase;
    match phase {
        Phase::Idle => Ok(None),
        Phase::NeedsInit => {
            init::respawn(shared)?;
            let left = deadline.saturating_duration_since(Instant::now());
            init::wait(shared, left, false).map(Some)
        }
        Phase::Dead => Err(SimError::ShutDown),
        Phase::Init => Err(SimError::Usage("call wait_init before invoke".into())),
        Phase::Invoke | Phase::Shutdown => Err(SimError::Usage("another operation is running".into())),
    }
}

/// Queues INVOKE for the subscribed extensions and emits `platform.start`.
fn dispatch(shared: &Shared, inv: &Invocation, deadline_ms: u64) {
    let body = records::invoke_event(deadline_ms, &inv.request_id, &shared.config.arn(), inv.trace_header.as_deref());
    let mut st = shared.lock();
    st.phase = Phase::Invoke;
    st.current_request = Some(inv.request_id.clone());
    for ext in st.extensions.iter_mut().filter(|e| e.wants("INVOKE") && e.errored.is_none()) {
        let event_id = Some(crate::util::uuid_v4());
        ext.pending = Some(EventMsg { body: body.clone(), content_type: "application/json", event_id });
    }
    let span_id = Rng::from_entropy().hex(8);
    let record = obj(vec![
        ("requestId", s(&inv.request_id)),
        ("version", s(&shared.config.function_version)),
        ("tracing", records::tracing(inv.trace_header.as_deref(), Some(&span_id))),
        ("functionArn", if shared.config.lmi { s(&shared.config.arn()) } else { Value::Null }),
    ]);
    emit(shared, &mut st, "platform.start", record);
}

/// The handler: log lines, its duration, then the agent writes the FIFO
/// before the runtime responds (or it runs into the timeout).
fn run_function(shared: &Shared, inv: &Invocation, started: Instant, deadline: Instant) -> Run {
    for line in &inv.logs {
        let record = log_record(shared.config.effective_log_format(), line, &inv.request_id);
        emit(shared, &mut shared.lock(), "function", record);
    }
    let timed_out = inv.outcome == Outcome::Timeout || inv.duration >= inv.timeout;
    let mut run = Run { timed_out, responded_at: started, agent_blocked: false, agent_error: None };
    if timed_out {
        thread::sleep(deadline.saturating_duration_since(Instant::now()));
        run.responded_at = Instant::now();
        return run;
    }
    thread::sleep((started + inv.duration).saturating_duration_since(Instant::now()));
    if !inv.payloads.is_empty() {
        match inv.pipe_path.as_ref().or(shared.config.pipe_path.as_ref()) {
            None => run.agent_error = Some("no pipe path configured".into()),
            Some(path) => match agent::write_payloads(path, &inv.payloads, inv.glued, inv.agent_timeout) {
                Ok(()) => {}
                Err(AgentError::Blocked) => run.agent_blocked = true,
                Err(e) => run.agent_error = Some(e.to_string()),
            },
        }
    }
    run.responded_at = Instant::now();
    run
}

/// One `function` record: a string, or an object with `requestId` in JSON mode.
pub(super) fn log_record(format: LogFormat, line: &str, request_id: &str) -> Value {
    if format == LogFormat::Text {
        return s(line);
    }
    match json::from_str::<Value>(line) {
        Ok(v @ Value::Object(_)) => v,
        _ => obj(vec![
            ("timestamp", s(&iso(now_ms()))),
            ("level", s("INFO")),
            ("message", s(line)),
            ("requestId", s(request_id)),
        ]),
    }
}

fn runtime_status(inv: &Invocation, timed_out: bool) -> Status {
    if timed_out {
        return Status::new("timeout", "Sandbox.Timedout");
    }
    match &inv.outcome {
        Outcome::Error(t) if t.is_empty() => Status::new("error", "Runtime.Unknown"),
        Outcome::Error(t) => Status::new("error", t),
        Outcome::Crash => Status::new("error", "Runtime.ExitError"),
        Outcome::Success | Outcome::Timeout => Status::success(),
    }
}

/// Blocks until every INVOKE extension is back in `next`, one crashed or
/// called `exit/error`, or the function deadline passed.
fn wait_extensions(shared: &Shared, deadline: Instant) -> Waited {
    let (st, _) = shared.wait_for(shared.lock(), deadline, |s| verdict(s).is_some());
    verdict(&st).unwrap_or(Waited::TimedOut)
}

fn verdict(st: &State) -> Option<Waited> {
    // exit/error first: the process exits right after it, which is no crash.
    if st.extensions.iter().any(|e| e.errored == Some("ExitError")) {
        return Some(Waited::ExitError);
    }
    if st.exited_proc().is_some() {
        return Some(Waited::Crashed);
    }
    let back = st
        .extensions
        .iter()
        .filter(|e| e.wants("INVOKE") && e.errored.is_none())
        .all(|e| e.pending.is_none() && e.in_next);
    back.then(|| Waited::Done(Instant::now()))
}

/// Emits `platform.report`; returns whether an extension process exited.
fn report(shared: &Shared, inv: &Invocation, st_: &Status, duration: Duration, reinit: bool, trace: &Value) -> bool {
    let cfg = &shared.config;
    let mut st = shared.lock();
    let ext_kb: u64 = st.live_pids().iter().filter_map(|&p| signal::peak_rss_kb(p)).sum();
    let used = (u64::from(cfg.runtime_memory_mb) + ext_kb / 1024).min(u64::from(cfg.memory_mb));
    // A suppressed init is part of this invoke's duration, not a cold start.
    let init_duration = if reinit { None } else { st.cold_init.take() };
    let metrics =
        ReportMetrics { duration, memory_mb: cfg.memory_mb, max_memory_used_mb: used, init_duration, reduced: cfg.lmi };
    let record = records::report(&inv.request_id, st_, &metrics, trace);
    emit(shared, &mut st, "platform.report", record);
    st.exited_proc().is_some()
}
