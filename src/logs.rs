//! Log forwarding, the pure part (`newrelic.md` §6, §7): Telemetry API records become
//! [`LogEntry`]s ([`map`]), entries wait in a byte-bounded [`LogQueue`] ([`queue`]), are cut into
//! Log API request bodies of at most [`MAX_BODY_BYTES`] ([`encode`]) and delivered through an
//! injected `post` function that halves on 413 and hands back what must stay queued
//! ([`deliver`]).
//!
//! Nothing here does I/O, reads a clock or the environment: the pipeline passes `now`, the
//! configuration and the sender's `send_logs`. Nothing here logs either, so forwarding the
//! extension's own lines can never feed itself (see [`map`] for the guard).

pub mod deliver;
pub mod encode;
pub mod map;
pub mod queue;

pub use deliver::{deliver, LogOutcome};
pub use encode::{body_from, encode_logs, Common};
pub use map::{Mapper, OWN_LINE_PREFIX};
pub use queue::{fill_trace_ids, LogQueue, Queued};

/// At most this many bytes of uncompressed JSON per Log API request (`newrelic.md` §6: 1 MB of
/// uncompressed body). JSON log text compresses far below its size, so a body under this cap is
/// also under the 1,000,000-byte compressed limit; the sender's 413 is handled by halving anyway.
pub const MAX_BODY_BYTES: usize = 1_000_000;

/// Default byte bound of the log queue: a 5 MB burst of short lines costs about 2–3× its text
/// in entries (request id, level, per-entry overhead), and this still fits it whole. Beyond it
/// (a long New Relic outage) the oldest entries go first, counted.
pub const QUEUE_MAX_BYTES: usize = 16 * 1024 * 1024;

/// Level of every entry that does not carry its own (text lines, platform lines).
pub const DEFAULT_LEVEL: &str = "INFO";

/// One log line on its way to New Relic, attributes already decided (no trace id yet: it comes
/// from the invocation's agent payload, known only later; see [`LogQueue::take`]).
#[derive(Debug, Clone, PartialEq)]
pub struct LogEntry {
    /// Unix epoch milliseconds, from the record's `time` (not from when it is sent).
    pub timestamp_ms: u64,
    pub message: String,
    /// Sent as `aws.lambda_request_id` and `faas.execution`; `None` before any invocation.
    pub request_id: Option<String>,
    /// The JSON record's `level`, else [`DEFAULT_LEVEL`].
    pub level: String,
    /// Sent as `trace.id` when `NEW_RELIC_COLLECT_TRACE_ID` is on and the payload carried one.
    pub trace_id: Option<String>,
    /// The JSON record's other fields, flattened one level (see [`Attr`]).
    pub extra: Vec<(String, Attr)>,
}

/// One extra attribute value. Scalars keep their JSON type so NRQL can compare numbers;
/// objects and arrays travel as their compact JSON text; `null` fields are left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attr {
    /// A string (also the JSON text of an object or array).
    Text(String),
    /// A JSON number, `true` or `false`, as its JSON literal (written unquoted).
    Literal(String),
}

impl LogEntry {
    /// An entry with only a message: INFO, no ids, no extras.
    pub fn text(timestamp_ms: u64, message: impl Into<String>, request_id: Option<&str>) -> LogEntry {
        LogEntry {
            timestamp_ms,
            message: message.into(),
            request_id: request_id.map(str::to_string),
            level: DEFAULT_LEVEL.to_string(),
            trace_id: None,
            extra: Vec::new(),
        }
    }
}
