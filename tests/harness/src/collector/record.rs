//! What the fake collector remembers: every request received (with the
//! answer it got) and every telemetry event and log record decoded from it,
//! plus the questions tests ask of that record (what was delivered, what
//! was delivered twice). Plain data; the locking lives in `collector.rs`.

use super::body::{LogRecord, TelemetryContext};
use super::classify::EventKind;
use super::fault::Fault;
use std::collections::BTreeMap;
use std::time::Instant;

/// Which New Relic endpoint a request was sent to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Endpoint {
    /// `…/aws/lambda/v1`
    Telemetry,
    /// `…/log/v1`
    Log,
    Other,
}

/// One request as received and answered.
#[derive(Debug, Clone)]
pub struct Received {
    /// Position in arrival order, from 0.
    pub seq: usize,
    pub at: Instant,
    pub method: String,
    pub path: String,
    pub endpoint: Endpoint,
    pub headers: Vec<(String, String)>,
    /// Body bytes as received (compressed when gzip).
    pub compressed_size: usize,
    /// Body bytes after gunzip (equal to `compressed_size` when not gzip).
    pub decoded_size: usize,
    pub gzip: bool,
    /// The status the client was sent; `None` for reset/close/garbage/stall.
    pub status: Option<u16>,
    /// The injected fault, if one changed the answer.
    pub fault: Option<Fault>,
    /// Answered 2xx: New Relic would have kept the data.
    pub delivered: bool,
    /// Shape and header problems; empty when the request is well formed.
    pub shape_errors: Vec<String>,
    pub context: Option<TelemetryContext>,
    /// Telemetry events or log records decoded from the body.
    pub items: usize,
    /// The decoded body (first 4 KB) when there were shape errors.
    pub body_sample: Option<String>,
}

impl Received {
    /// First header of that name, case-insensitive.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// One telemetry log event as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TelemetryEvent {
    pub request_seq: usize,
    pub delivered: bool,
    pub id: String,
    pub timestamp: u64,
    pub message: String,
    pub kind: EventKind,
    /// Embedded `aws.requestId` (payloads) or the id named by the line.
    pub request_id: Option<String>,
    /// Payloads only.
    pub trace_id: Option<String>,
}

/// Totals over everything received.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    pub requests: usize,
    pub telemetry_requests: usize,
    pub log_requests: usize,
    pub delivered_requests: usize,
    /// Requests not answered 2xx (faults, 4xx/5xx, unknown paths).
    pub failed_requests: usize,
    pub shape_error_requests: usize,
    pub events_delivered: usize,
    pub logs_delivered: usize,
    pub bytes_received: usize,
}

/// Everything recorded so far. Tests read it through `Collector` accessors
/// (cloned) or under the lock in `Collector::wait_until` / `Collector::with`.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub(crate) requests: Vec<Received>,
    pub(crate) events: Vec<TelemetryEvent>,
    pub(crate) logs: Vec<LogRecord>,
}

impl Snapshot {
    pub fn requests(&self) -> &[Received] {
        &self.requests
    }

    /// Every telemetry event received, delivered or not.
    pub fn all_telemetry_events(&self) -> &[TelemetryEvent] {
        &self.events
    }

    /// Telemetry events of requests answered 2xx.
    pub fn telemetry_events(&self) -> impl Iterator<Item = &TelemetryEvent> {
        self.events.iter().filter(|e| e.delivered)
    }

    /// Delivered events of one kind.
    pub fn events_of(&self, kind: EventKind) -> impl Iterator<Item = &TelemetryEvent> {
        self.telemetry_events().filter(move |e| e.kind == kind)
    }

    /// Whether an event of `kind` for `request_id` was delivered.
    pub fn has(&self, kind: EventKind, request_id: &str) -> bool {
        self.events_of(kind).any(|e| e.request_id.as_deref() == Some(request_id))
    }

    /// Every log record received, delivered or not.
    pub fn all_logs(&self) -> &[LogRecord] {
        &self.logs
    }

    /// Log records of requests answered 2xx.
    pub fn logs(&self) -> impl Iterator<Item = &LogRecord> {
        self.logs.iter().filter(|l| l.delivered)
    }

    pub fn counters(&self) -> Counters {
        let r = &self.requests;
        let count = |f: &dyn Fn(&Received) -> bool| r.iter().filter(|x| f(x)).count();
        Counters {
            requests: r.len(),
            telemetry_requests: count(&|x| x.endpoint == Endpoint::Telemetry),
            log_requests: count(&|x| x.endpoint == Endpoint::Log),
            delivered_requests: count(&|x| x.delivered),
            failed_requests: count(&|x| !x.delivered),
            shape_error_requests: count(&|x| !x.shape_errors.is_empty()),
            events_delivered: self.telemetry_events().count(),
            logs_delivered: self.logs().count(),
            bytes_received: r.iter().map(|x| x.compressed_size).sum(),
        }
    }

    /// `(request seq, error)` for every shape or header problem seen.
    pub fn shape_errors(&self) -> Vec<(usize, String)> {
        self.requests.iter().flat_map(|r| r.shape_errors.iter().map(move |e| (r.seq, e.clone()))).collect()
    }

    /// How many times each event id was delivered.
    pub fn event_id_counts(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for e in self.telemetry_events() {
            *counts.entry(e.id.clone()).or_insert(0) += 1;
        }
        counts
    }

    /// How many times each (request id, kind) was delivered; events naming
    /// no request id are left out.
    pub fn deliveries(&self) -> BTreeMap<(String, EventKind), usize> {
        let mut counts = BTreeMap::new();
        for e in self.telemetry_events() {
            if let Some(id) = &e.request_id {
                *counts.entry((id.clone(), e.kind)).or_insert(0) += 1;
            }
        }
        counts
    }

    /// Event ids delivered more than once, with their counts.
    pub fn duplicate_ids(&self) -> Vec<(String, usize)> {
        self.event_id_counts().into_iter().filter(|(_, n)| *n > 1).collect()
    }

    /// (request id, kind) pairs delivered more than once, with their counts.
    pub fn duplicate_deliveries(&self) -> Vec<((String, EventKind), usize)> {
        self.deliveries().into_iter().filter(|(_, n)| *n > 1).collect()
    }
}
