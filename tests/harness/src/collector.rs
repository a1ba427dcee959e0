//! A fake New Relic ingest serving both endpoints the extension talks to
//! (telemetry `/aws/lambda/v1`, logs `/log/v1`) on 127.0.0.1. It records every
//! request, gunzips and shape-checks it, classifies each telemetry event,
//! and answers 200 `{}`, unless the current `FaultPlan` says otherwise. It can
//! also stop listening (connection refused) and come back on the same port.
//! Tests synchronise on what it has received through `wait_until`, never by
//! sleeping. It never forwards anything anywhere.

mod body;
mod classify;
mod fault;
mod ingest;
mod record;

pub use body::{LogRecord, TelemetryContext};
pub use classify::{classify, Classified, EventKind};
pub use fault::{Fault, FaultPlan};
pub use record::{Counters, Endpoint, Received, Snapshot, TelemetryEvent};

use crate::http::{Reply, Request, Response, Server};
use fault::ActivePlan;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

struct Shared {
    state: Mutex<Snapshot>,
    changed: Condvar,
    plan: Mutex<ActivePlan>,
    /// Whether decoding waits until the record is read (see [`Collector::decode_when_read`]).
    deferred: AtomicBool,
    /// Requests answered but not decoded yet, in arrival order, and their body bytes. Always
    /// taken with `state` held first, so the record keeps the arrival order.
    backlog: Mutex<(Vec<(Request, Received)>, usize)>,
}

/// Past this many undecoded body bytes, a deferring collector decodes at once anyway.
const BACKLOG_MAX_BYTES: usize = 64 << 20;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Recording is append-only, so a panic elsewhere leaves valid data.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The running fake collector. Dropping it stops the server.
pub struct Collector {
    addr: SocketAddr,
    shared: Arc<Shared>,
    server: Mutex<Option<Server>>,
}

impl Collector {
    /// Starts on 127.0.0.1 with a free port, answering normally.
    pub fn start() -> io::Result<Collector> {
        let shared = Arc::new(Shared {
            state: Mutex::new(Snapshot::default()),
            changed: Condvar::new(),
            plan: Mutex::new(ActivePlan::new(FaultPlan::None, None)),
            deferred: AtomicBool::new(false),
            backlog: Mutex::new((Vec::new(), 0)),
        });
        let server = Server::start("127.0.0.1:0", handler(&shared))?;
        Ok(Collector { addr: server.addr(), shared, server: Mutex::new(Some(server)) })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// From now on, requests are answered as soon as they are read, and decoded only when the
    /// record is read (or when 64 MiB of bodies wait), by the reader. For measurements: New
    /// Relic does not run on the sandbox's cores, but this stand-in does, and decoding a batch
    /// of agent payloads takes it milliseconds, which would otherwise be taken from the
    /// simulated Lambda and show up as the extension's overhead. (A decoding thread of the idle
    /// scheduling class was not enough: a scheduler trace showed it keeping a CPU for 3.5 ms
    /// while the simulator's own `event/next` server thread was runnable there.) Arrival times
    /// are taken when a request is read, as always. Tests leave it off.
    pub fn decode_when_read(&self) {
        self.shared.deferred.store(true, Ordering::SeqCst);
    }

    /// `http://127.0.0.1:PORT/aws/lambda/v1`
    pub fn telemetry_url(&self) -> String {
        format!("http://{}/aws/lambda/v1", self.addr)
    }

    /// `http://127.0.0.1:PORT/log/v1`
    pub fn log_url(&self) -> String {
        format!("http://{}/log/v1", self.addr)
    }

    /// Replaces the fault plan, for both endpoints.
    pub fn set_faults(&self, plan: FaultPlan) {
        *lock(&self.shared.plan) = ActivePlan::new(plan, None);
    }

    /// Replaces the fault plan; requests to other endpoints are answered normally.
    pub fn set_faults_on(&self, endpoint: Endpoint, plan: FaultPlan) {
        *lock(&self.shared.plan) = ActivePlan::new(plan, Some(endpoint));
    }

    /// Queues faults for the next requests (keeps a script's endpoint scope).
    pub fn push_faults(&self, faults: Vec<Fault>) {
        lock(&self.shared.plan).push(faults);
    }

    /// Scripted faults not yet used.
    pub fn pending_faults(&self) -> usize {
        lock(&self.shared.plan).pending()
    }

    /// Back to normal answers.
    pub fn clear_faults(&self) {
        self.set_faults(FaultPlan::None);
    }

    /// Stops listening: new connections are refused and open ones closed.
    pub fn refuse(&self) {
        if let Some(server) = lock(&self.server).take() {
            server.shutdown();
        }
    }

    /// Listens again on the same port after `refuse`.
    pub fn resume(&self) -> io::Result<()> {
        let mut server = lock(&self.server);
        if server.is_none() {
            *server = Some(Server::start(&self.addr.to_string(), handler(&self.shared))?);
        }
        Ok(())
    }

    /// Whether the collector is listening (not in refused mode).
    pub fn is_listening(&self) -> bool {
        lock(&self.server).is_some()
    }

    /// Closes idle keep-alive connections (what a freeze does to them).
    pub fn close_idle_connections(&self) {
        if let Some(server) = lock(&self.server).as_ref() {
            server.close_idle_connections();
        }
    }

    /// Runs `f` on the record under the lock (no copy), once every answered request is in it.
    pub fn with<R>(&self, f: impl FnOnce(&Snapshot) -> R) -> R {
        let mut state = lock(&self.shared.state);
        catch_up(&self.shared, &mut state);
        f(&state)
    }

    /// A copy of everything recorded.
    pub fn snapshot(&self) -> Snapshot {
        self.with(Snapshot::clone)
    }

    pub fn requests(&self) -> Vec<Received> {
        self.with(|s| s.requests().to_vec())
    }

    /// Delivered telemetry events (requests answered 2xx), in arrival order.
    pub fn telemetry_events(&self) -> Vec<TelemetryEvent> {
        self.with(|s| s.telemetry_events().cloned().collect())
    }

    /// Delivered log records, in arrival order.
    pub fn logs(&self) -> Vec<LogRecord> {
        self.with(|s| s.logs().cloned().collect())
    }

    pub fn counters(&self) -> Counters {
        self.with(Snapshot::counters)
    }

    /// Blocks until `pred` holds for the record or `timeout` passes;
    /// returns whether it held. Woken on every recorded request.
    pub fn wait_until(&self, timeout: Duration, mut pred: impl FnMut(&Snapshot) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        let mut state = lock(&self.shared.state);
        loop {
            catch_up(&self.shared, &mut state);
            if pred(&state) {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            state = match self.shared.changed.wait_timeout(state, left) {
                Ok((s, _)) => s,
                Err(e) => e.into_inner().0,
            };
        }
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.refuse();
    }
}

fn handler(shared: &Arc<Shared>) -> Arc<dyn Fn(Request) -> Reply + Send + Sync> {
    let shared = Arc::clone(shared);
    Arc::new(move |req: Request| handle(&shared, req))
}

fn endpoint_of(path: &str) -> Endpoint {
    let path = path.split('?').next().unwrap_or("");
    if path.ends_with("/aws/lambda/v1") {
        Endpoint::Telemetry
    } else if path.ends_with("/log/v1") {
        Endpoint::Log
    } else {
        Endpoint::Other
    }
}

fn handle(shared: &Shared, req: Request) -> Reply {
    let endpoint = endpoint_of(&req.path);
    let planned = lock(&shared.plan).next(endpoint);
    let faulted = planned.and_then(|f| fault::reply(&f, req.body.len(), &req.path).map(|r| (f, r)));
    let (fault, (reply, status)) = match faulted {
        Some((f, r)) => (Some(f), r),
        None => (None, normal(endpoint, &req.method)),
    };
    let at = Instant::now();
    let mut received = ingest::received(&req, endpoint, at, status, fault);
    if shared.deferred.load(Ordering::SeqCst) {
        let mut backlog = lock(&shared.backlog);
        backlog.1 += req.body.len();
        backlog.0.push((req, received));
        let full = backlog.1 > BACKLOG_MAX_BYTES;
        drop(backlog);
        let mut state = lock(&shared.state);
        if full {
            catch_up(shared, &mut state);
        }
        shared.changed.notify_all();
    } else {
        let decoded = ingest::decode(&req, &mut received);
        let mut state = lock(&shared.state);
        catch_up(shared, &mut state);
        record(&mut state, received, decoded);
        shared.changed.notify_all();
    }
    reply
}

/// Decodes and records every request still in the backlog (the caller holds `state`).
fn catch_up(shared: &Shared, state: &mut Snapshot) {
    let waiting = std::mem::take(&mut *lock(&shared.backlog)).0;
    for (req, mut received) in waiting {
        let decoded = ingest::decode(&req, &mut received);
        record(state, received, decoded);
    }
}

/// Adds one decoded request to the record.
fn record(state: &mut Snapshot, mut received: Received, (events, logs): (Vec<TelemetryEvent>, Vec<LogRecord>)) {
    let seq = state.requests.len();
    received.seq = seq;
    let delivered = received.delivered;
    state.events.extend(events.into_iter().map(|mut e| {
        (e.request_seq, e.delivered) = (seq, delivered);
        e
    }));
    state.logs.extend(logs.into_iter().map(|mut l| {
        (l.request_seq, l.delivered) = (seq, delivered);
        l
    }));
    state.requests.push(received);
}

/// The answer when no fault applies: 200 `{}` on the two endpoints.
fn normal(endpoint: Endpoint, method: &str) -> (Reply, Option<u16>) {
    let status = match endpoint {
        Endpoint::Other => 404,
        _ if !method.eq_ignore_ascii_case("POST") => 405,
        _ => return (Reply::Respond(fault::ok()), Some(200)),
    };
    (Reply::Respond(Response::json(status, "{}")), Some(status))
}
