//! Telemetry API delivery (spec §4.3): `emit` buffers one event for every
//! matching subscriber, and one thread per subscriber sends batches when
//! `maxItems` or `maxBytes` is reached or `timeoutMs` after the batch's first
//! event, holds while the environment is frozen, redelivers the same batch
//! with backoff after a non-2xx status or a connection error, and drops on
//! overflow with a `platform.logsDropped` notice. It never decides when to
//! freeze or stop; the lifecycle modules set those flags.

use super::records::{self, envelope, obj, s, u};
use super::results::SubscriptionStats;
use super::state::{Phase, Shared, State, Sub, Target};
use crate::http;
use miniserde::json::Value;
use std::io::{self, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// Longest wait with nothing due, so held batches re-check their flags.
const IDLE_WAIT: Duration = Duration::from_secs(1);

const DROP_REASON: &str = "Consumer seems to have fallen behind as it has not acknowledged receipt of logs.";

/// Buffers one event for every live subscriber of its category and wakes
/// the delivery threads. Init-phase platform events are kept for replay.
pub(super) fn emit(shared: &Shared, st: &mut State, kind: &str, record: Value) {
    let text = envelope(kind, record);
    if st.phase == Phase::Init && kind.starts_with("platform.") {
        st.init_log.push(("platform", text.clone()));
    }
    let category = records::category(kind);
    let limit = shared.config.telemetry_buffer_events;
    for sub in st.subs.iter_mut().filter(|x| !x.done) {
        if sub.types.iter().any(|t| t == category) {
            push(sub, &text, limit);
        }
    }
    shared.cv.notify_all();
}

/// Queues `text` unless the buffer is full, in which case it is counted as dropped.
pub(super) fn push(sub: &mut Sub, text: &str, limit: usize) {
    if sub.queue.len() >= limit {
        sub.dropped_records += 1;
        sub.unreported_drops.0 += 1;
        sub.unreported_drops.1 += text.len() as u64;
        return;
    }
    sub.queued_bytes += text.len();
    sub.queue.push_back((Instant::now(), text.to_string()));
}

/// Starts the delivery thread of subscription `sub_id`.
pub(super) fn start(shared: &Arc<Shared>, sub_id: u64, name: &str) -> io::Result<()> {
    let shared = Arc::clone(shared);
    thread::Builder::new().name(format!("sim-telemetry-{name}")).spawn(move || run(&shared, sub_id)).map(|_| ())
}

fn run(shared: &Shared, sub_id: u64) {
    let mut tcp = None;
    while let Some((target, body, items)) = next_batch(shared, sub_id) {
        let ok = send(&target, &body, shared.config.delivery_timeout, &mut tcp);
        let mut st = shared.lock();
        if let Some(sub) = st.subs.iter_mut().find(|x| x.id == sub_id) {
            sub.in_flight = false;
            if ok {
                sub.delivered_batches += 1;
                sub.delivered_events += items as u64;
                sub.attempts = 0;
            } else {
                sub.attempts += 1;
                let doublings = sub.attempts.saturating_sub(1).min(4);
                sub.retry_at = Instant::now() + shared.config.delivery_backoff * (1 << doublings);
                sub.retry = Some((body, items));
            }
        }
        shared.cv.notify_all();
    }
}

/// Whether the process that owns a subscription can still receive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Owner {
    Alive,
    Exited,
    /// An in-process test client: it never produces events during shutdown.
    NoProcess,
}

fn owner(st: &State, ext_id: &str) -> Owner {
    let proc_id = st.ext(ext_id).and_then(|e| e.proc_id);
    match proc_id.and_then(|id| st.procs.iter().find(|p| p.id == id)) {
        Some(p) if p.exit.is_some() => Owner::Exited,
        Some(_) => Owner::Alive,
        None if proc_id.is_some() => Owner::Exited,
        None => Owner::NoProcess,
    }
}

enum Step {
    Send(Target, String, usize),
    Wait(Instant),
    Stop,
}

/// Blocks until a batch is due (marking it in flight) or the subscription ends.
fn next_batch(shared: &Shared, sub_id: u64) -> Option<(Target, String, usize)> {
    let mut st = shared.lock();
    loop {
        let (frozen, closed) = (st.frozen, st.closed);
        let ext_id = st.subs.iter().find(|x| x.id == sub_id)?.ext_id.clone();
        let who = owner(&st, &ext_id);
        let limit = shared.config.telemetry_buffer_events;
        // A repeated subscribe marks the old subscription done.
        let sub = st.subs.iter_mut().find(|x| x.id == sub_id && !x.done)?;
        match step(sub, Instant::now(), frozen || closed, who, limit) {
            Step::Send(target, body, items) => {
                sub.in_flight = true;
                return Some((target, body, items));
            }
            Step::Stop => {
                sub.done = true;
                shared.cv.notify_all();
                return None;
            }
            Step::Wait(until) if !closed => st = shared.wait(st, until),
            Step::Wait(_) => return None,
        }
    }
}

/// Decides what a subscriber's thread does now.
fn step(sub: &mut Sub, now: Instant, held: bool, who: Owner, limit: usize) -> Step {
    let idle = now + IDLE_WAIT;
    if let Some(until) = sub.drain_until {
        let empty = sub.queue.is_empty() && sub.retry.is_none();
        if now >= until || who == Owner::Exited || (who == Owner::NoProcess && empty) {
            return Step::Stop;
        }
    }
    if held {
        return Step::Wait(idle);
    }
    if let Some((body, items)) = sub.retry.take() {
        if now >= sub.retry_at {
            sub.redeliveries += 1;
            return Step::Send(sub.target.clone(), body, items);
        }
        let at = sub.retry_at;
        sub.retry = Some((body, items));
        return Step::Wait(at);
    }
    let Some(first) = sub.queue.front().map(|(at, _)| *at) else {
        return Step::Wait(sub.drain_until.map_or(idle, |d| d.min(idle)));
    };
    let due = first + sub.timeout;
    let full = sub.queue.len() >= sub.max_items || sub.queued_bytes >= sub.max_bytes;
    if full || now >= due || sub.drain_until.is_some() {
        let (body, items) = take_batch(sub, limit);
        return Step::Send(sub.target.clone(), body, items);
    }
    Step::Wait(due)
}

/// Takes up to `maxItems` events, stopping once `maxBytes` is reached, as a
/// JSON array (HTTP) or NDJSON (TCP); then reports pending drops.
fn take_batch(sub: &mut Sub, limit: usize) -> (String, usize) {
    let mut parts = Vec::new();
    let mut bytes = 0;
    while parts.len() < sub.max_items && bytes < sub.max_bytes {
        let Some((_, text)) = sub.queue.pop_front() else { break };
        bytes += text.len();
        parts.push(text);
    }
    sub.queued_bytes = sub.queued_bytes.saturating_sub(bytes);
    let body = match sub.target {
        Target::Http { .. } => format!("[{}]", parts.join(",")),
        Target::Tcp { .. } => parts.iter().map(|p| format!("{p}\n")).collect(),
    };
    let (records, dropped_bytes) = sub.unreported_drops;
    if records > 0 && sub.queue.len() < limit {
        sub.unreported_drops = (0, 0);
        let record =
            obj(vec![("reason", s(DROP_REASON)), ("droppedRecords", u(records)), ("droppedBytes", u(dropped_bytes))]);
        // Bypasses the limit on purpose: the notice itself must not be lost.
        let text = envelope("platform.logsDropped", record);
        sub.queued_bytes += text.len();
        sub.queue.push_back((Instant::now(), text));
    }
    (body, parts.len())
}

/// One delivery attempt; true when the subscriber acknowledged it.
fn send(target: &Target, body: &str, timeout: Duration, tcp: &mut Option<TcpStream>) -> bool {
    match target {
        Target::Http { addr, path } => {
            let headers = [("Content-Type", "application/json")];
            let answer = http::request(*addr, "POST", path, &headers, body.as_bytes(), timeout);
            matches!(answer, Ok((200..=299, _, _)))
        }
        Target::Tcp { addr } => {
            if tcp.is_none() {
                *tcp = TcpStream::connect_timeout(addr, timeout).ok();
            }
            let written = tcp.as_mut().is_some_and(|c| c.write_all(body.as_bytes()).is_ok());
            if !written {
                *tcp = None;
            }
            written
        }
    }
}

/// Read-only counters of one subscription.
pub(super) fn stats(sub: &Sub) -> SubscriptionStats {
    SubscriptionStats {
        name: sub.name.clone(),
        schema_version: sub.schema_version.clone(),
        types: sub.types.clone(),
        destination: sub.destination.clone(),
        max_items: sub.max_items,
        max_bytes: sub.max_bytes,
        timeout_ms: sub.timeout.as_millis() as u64,
        batches_delivered: sub.delivered_batches,
        events_delivered: sub.delivered_events,
        redeliveries: sub.redeliveries,
        dropped_records: sub.dropped_records,
        queued: sub.queue.len() + sub.retry.as_ref().map_or(0, |r| r.1),
    }
}

#[cfg(test)]
#[path = "delivery_tests.rs"]
mod tests;
