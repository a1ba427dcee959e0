//! The one shared state of a simulated environment: registrations, spawned
//! processes, telemetry subscriptions, phase and freeze flag, behind one
//! `Mutex` with one `Condvar`. Every change notifies all waiters and every
//! wait has a deadline. This module only holds data and waits on it; the
//! sequences that drive it live in the sibling modules.

use super::config::SimConfig;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::process::ExitStatus;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Longest single condvar wait, so a missed notification costs at most this.
const WAIT_SLICE: Duration = Duration::from_millis(250);

/// Where the environment is in its lifecycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Phase {
    /// Registration and subscription are open.
    Init,
    /// Between invokes (frozen when freeze is on).
    Idle,
    Invoke,
    Shutdown,
    /// After a reset: the next invoke re-spawns and re-inits.
    NeedsInit,
    /// After an explicit shutdown: nothing more happens.
    Dead,
}

/// An event waiting for an extension's `next`.
#[derive(Clone, Debug)]
pub(super) struct EventMsg {
    pub body: String,
    pub content_type: &'static str,
    /// `Lambda-Extension-Event-Identifier` (RIE sends it on INVOKE only).
    pub event_id: Option<String>,
}

/// A registered extension.
#[derive(Debug)]
pub(super) struct Ext {
    pub id: String,
    pub name: String,
    pub events: Vec<String>,
    pub external: bool,
    pub proc_id: Option<u64>,
    pub in_next: bool,
    pub ready_at: Option<Instant>,
    pub registered_at: Instant,
    pub pending: Option<EventMsg>,
    /// `InitError` or `ExitError` after the matching call: further calls get 403.
    pub errored: Option<&'static str>,
}

impl Ext {
    pub fn wants(&self, event: &str) -> bool {
        self.events.iter().any(|e| e == event)
    }
}

/// A spawned extension process.
#[derive(Debug)]
pub(super) struct Proc {
    pub id: u64,
    pub name: String,
    pub pid: u32,
    pub spawned_at: Instant,
    pub ext_id: Option<String>,
    pub exit: Option<ExitStatus>,
    pub exited_at: Option<Instant>,
    pub killed: bool,
    pub shutdown_at: Option<Instant>,
}

/// Where a subscriber's batches go.
#[derive(Clone, Debug)]
pub(super) enum Target {
    Http { addr: SocketAddr, path: String },
    Tcp { addr: SocketAddr },
}

/// One telemetry subscription and its buffer.
#[derive(Debug)]
pub(super) struct Sub {
    pub id: u64,
    pub ext_id: String,
    pub name: String,
    pub schema_version: String,
    pub types: Vec<String>,
    pub target: Target,
    pub destination: String,
    pub max_items: usize,
    pub max_bytes: usize,
    pub timeout: Duration,
    /// Events (JSON text) with the instant they were queued.
    pub queue: VecDeque<(Instant, String)>,
    pub queued_bytes: usize,
    /// A rejected batch (body, item count) awaiting redelivery at `retry_at`.
    pub retry: Option<(String, usize)>,
    pub retry_at: Instant,
    pub attempts: u32,
    pub in_flight: bool,
    /// Set by a shutdown: deliver at once, stop at this instant.
    pub drain_until: Option<Instant>,
    pub done: bool,
    pub delivered_batches: u64,
    pub delivered_events: u64,
    pub redeliveries: u64,
    pub dropped_records: u64,
    /// Drops not yet reported by a `platform.logsDropped` event.
    pub unreported_drops: (u64, u64),
}

/// Everything mutable about one environment.
pub(super) struct State {
    pub closed: bool,
    pub phase: Phase,
    /// `init`, or `invoke` for a suppressed re-init.
    pub init_phase: &'static str,
    pub init_started: Instant,
    pub runtime_api: String,
    pub extensions: Vec<Ext>,
    pub procs: Vec<Proc>,
    pub subs: Vec<Sub>,
    /// Init-phase platform events (category, JSON), replayed to later subscribers.
    pub init_log: Vec<(&'static str, String)>,
    pub frozen: bool,
    pub current_request: Option<String>,
    pub output: Vec<String>,
    pub init_error: Option<String>,
    /// Init duration of a cold start, reported by the first invoke only.
    pub cold_init: Option<Duration>,
    pub freeze_hook: Option<Arc<dyn Fn() + Send + Sync>>,
    /// What `spawn_extension` started, re-executed after a reset.
    pub specs: Vec<(std::path::PathBuf, Vec<(String, String)>)>,
    pub next_id: u64,
}

impl State {
    pub fn new() -> State {
        State {
            closed: false,
            phase: Phase::Init,
            init_phase: "init",
            init_started: Instant::now(),
            runtime_api: String::new(),
            extensions: Vec::new(),
            procs: Vec::new(),
            subs: Vec::new(),
            init_log: Vec::new(),
            frozen: false,
            current_request: None,
            output: Vec::new(),
            init_error: None,
            cold_init: None,
            freeze_hook: None,
            specs: Vec::new(),
            next_id: 1,
        }
    }

    pub fn fresh_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    pub fn ext(&self, id: &str) -> Option<&Ext> {
        self.extensions.iter().find(|e| e.id == id)
    }

    pub fn ext_mut(&mut self, id: &str) -> Option<&mut Ext> {
        self.extensions.iter_mut().find(|e| e.id == id)
    }

    pub fn proc_mut(&mut self, id: u64) -> Option<&mut Proc> {
        self.procs.iter_mut().find(|p| p.id == id)
    }

    /// Process groups of live extension processes.
    pub fn live_pids(&self) -> Vec<u32> {
        self.procs.iter().filter(|p| p.exit.is_none()).map(|p| p.pid).collect()
    }

    /// The first process of this generation that has exited.
    pub fn exited_proc(&self) -> Option<&Proc> {
        self.procs.iter().find(|p| p.exit.is_some())
    }
}

/// State plus the condvar every waiter sleeps on.
pub(super) struct Shared {
    pub state: Mutex<State>,
    pub cv: Condvar,
    pub config: SimConfig,
}

impl Shared {
    pub fn new(config: SimConfig) -> Shared {
        Shared { state: Mutex::new(State::new()), cv: Condvar::new(), config }
    }

    /// A poisoned lock still guards consistent data here (every mutation is
    /// a few field writes), so a panicking test thread must not cascade.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sleeps until notified, `deadline`, or one wait slice, whichever is first.
    pub fn wait<'a>(&self, guard: MutexGuard<'a, State>, deadline: Instant) -> MutexGuard<'a, State> {
        let left = deadline.saturating_duration_since(Instant::now()).min(WAIT_SLICE).max(Duration::from_millis(1));
        match self.cv.wait_timeout(guard, left) {
            Ok((g, _)) => g,
            Err(e) => e.into_inner().0,
        }
    }

    /// Waits until `done` holds (true) or `deadline` passes (false).
    pub fn wait_for<'a>(
        &self,
        mut guard: MutexGuard<'a, State>,
        deadline: Instant,
        done: impl Fn(&State) -> bool,
    ) -> (MutexGuard<'a, State>, bool) {
        loop {
            if done(&guard) {
                return (guard, true);
            }
            if Instant::now() >= deadline || guard.closed {
                return (guard, false);
            }
            guard = self.wait(guard, deadline);
        }
    }
}
