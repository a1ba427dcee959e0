//! Telemetry API records → [`LogEntry`] (`newrelic.md` §6), with the stream selection applied
//! and the request id of the latest `platform.start` remembered. Pure: the caller passes `now`
//! for records without a usable `time`.
//!
//! Mapping rules:
//! - timestamp: the record's `time`; `now` only when Lambda sent none we can read.
//! - text record: the line as is (the parser already dropped one trailing newline), INFO.
//! - JSON record: message = its `message` (serialized JSON if not a string); without one, the
//!   whole record serialized (New Relic parses JSON messages into attributes itself). level =
//!   its `level` (a non-string one as its JSON text), else INFO; never guessed from text.
//!   request id = its `requestId`, else `AWSRequestId` (Java), else the current invocation's.
//!   Other fields become extra attributes *when the record has a `message`*, flattened one
//!   level: strings as is, numbers and booleans as JSON literals, objects and arrays as their
//!   compact JSON text, `null` left out; `timestamp` (the record's `time` is authoritative) and
//!   names New Relic reserves are not sent (`encode::is_reserved`).
//! - platform records: `START RequestId: <id>`, `END RequestId: <id>` (for `runtimeDone`), the
//!   REPORT line, `PLATFORM <type> <record JSON>` for the rest; INFO.
//!
//! Feedback-loop guard: the extension's own stdout lines come back as `extension` records. Its
//! `[NR_EXT] DEBUG` and `[NR_EXT] TRACE` lines are never forwarded (skipped and counted); INFO,
//! WARN and ERROR lines are, once each. That is loop-free as long as the extension logs at INFO
//! or above only a bounded number of times per process (startup, configuration, one warning per
//! rejected status, SHUTDOWN) and never per batch, flush or delivery — anything per-batch must
//! be DEBUG or TRACE. Forwarding a line then never causes a line that is forwarded.

use miniserde::json::{self, Object, Value};

use super::encode::{is_reserved, limit_entry};
use super::{Attr, LogEntry, DEFAULT_LEVEL};
use crate::config::LogSelection;
use crate::newrelic::report_line;
use crate::telemetry::{LogBody, LogStream, Record};

/// What every line the extension prints starts with (`log.rs`).
pub const OWN_LINE_PREFIX: &str = "[NR_EXT]";

/// Own lines at these levels may be per-batch chatter: never forwarded (see the module doc).
const OWN_SKIPPED_LEVELS: [&str; 2] = ["DEBUG", "TRACE"];

/// Maps records in arrival order; owns the "current invocation" of the log stream.
#[derive(Debug, Clone, Default)]
pub struct Mapper {
    selection: LogSelection,
    current_request_id: Option<String>,
    /// The extension's own DEBUG/TRACE lines not forwarded.
    pub own_lines_skipped: u64,
}

impl Mapper {
    pub fn new(selection: LogSelection) -> Mapper {
        Mapper { selection, current_request_id: None, own_lines_skipped: 0 }
    }

    /// The request id of the latest `platform.start` seen, if any.
    pub fn current_request_id(&self) -> Option<&str> {
        self.current_request_id.as_deref()
    }

    /// The entry for `record`, or `None` when its stream is not selected (or it is one of our
    /// own skipped lines). Must see every record, selected or not, in arrival order: a
    /// `platform.start` changes the current request id even when platform logs are off.
    pub fn map(&mut self, record: &Record, now_ms: u64) -> Option<LogEntry> {
        let current = self.current_request_id.as_deref();
        let mut entry = match record {
            Record::Start { time_ms, request_id } => {
                self.current_request_id = Some(request_id.clone());
                self.platform(*time_ms, now_ms, format!("START RequestId: {request_id}"), Some(request_id))?
            }
            Record::RuntimeDone { time_ms, request_id, .. } => {
                self.platform(*time_ms, now_ms, format!("END RequestId: {request_id}"), Some(request_id))?
            }
            Record::Report { time_ms, request_id, metrics, .. } => {
                self.platform(*time_ms, now_ms, report_line(request_id, metrics), Some(request_id))?
            }
            Record::Platform { time_ms, kind, record_json } => {
                self.platform(*time_ms, now_ms, format!("PLATFORM {kind} {record_json}"), current)?
            }
            Record::Log { time_ms, stream, body } => {
                let selected = match stream {
                    LogStream::Function => self.selection.function,
                    LogStream::Extension => self.selection.extension,
                };
                if !selected {
                    return None;
                }
                let entry = log_entry(time_ms.unwrap_or(now_ms), body, current);
                if *stream == LogStream::Extension && is_skipped_own_line(&entry.message) {
                    self.own_lines_skipped += 1;
                    return None;
                }
                entry
            }
        };
        limit_entry(&mut entry);
        Some(entry)
    }

    fn platform(&self, time_ms: Option<u64>, now_ms: u64, line: String, id: Option<&str>) -> Option<LogEntry> {
        self.selection.platform.then(|| LogEntry::text(time_ms.unwrap_or(now_ms), line, id))
    }
}

/// `[NR_EXT] DEBUG …` or `[NR_EXT] TRACE …`.
pub fn is_skipped_own_line(message: &str) -> bool {
    let Some(rest) = message.strip_prefix(OWN_LINE_PREFIX) else { return false };
    let level = rest.trim_start().split(' ').next().unwrap_or("");
    OWN_SKIPPED_LEVELS.contains(&level)
}

/// One `function` or `extension` record.
pub fn log_entry(timestamp_ms: u64, body: &LogBody, current: Option<&str>) -> LogEntry {
    match body {
        LogBody::Text(line) => LogEntry::text(timestamp_ms, line.as_str(), current),
        LogBody::Json(object) => json_entry(timestamp_ms, object, current),
    }
}

fn json_entry(timestamp_ms: u64, object: &Object, current: Option<&str>) -> LogEntry {
    let (message, extra) = match object.get("message") {
        Some(Value::String(text)) => (text.clone(), extras(object)),
        Some(other) => (json::to_string(other), extras(object)),
        None => (json::to_string(object), Vec::new()),
    };
    let level = match object.get("level") {
        Some(Value::String(text)) if !text.is_empty() => text.clone(),
        Some(Value::Number(number)) => number.to_string(),
        _ => DEFAULT_LEVEL.to_string(),
    };
    let own_id = ["requestId", "AWSRequestId"].iter().find_map(|key| match object.get(*key) {
        Some(Value::String(id)) if !id.is_empty() => Some(id.as_str()),
        _ => None,
    });
    LogEntry { timestamp_ms, message, request_id: own_id.or(current).map(str::to_string), level, trace_id: None, extra }
}

/// The fields of a JSON record other than the ones mapped or reserved, flattened one level.
fn extras(object: &Object) -> Vec<(String, Attr)> {
    let mut out = Vec::new();
    for (key, value) in object {
        if is_reserved(key) {
            continue;
        }
        let attr = match value {
            Value::Null => continue,
            Value::String(text) => Attr::Text(text.clone()),
            Value::Bool(flag) => Attr::Literal(flag.to_string()),
            Value::Number(number) => Attr::Literal(json::to_string(number)),
            Value::Array(_) | Value::Object(_) => Attr::Text(json::to_string(value)),
        };
        out.push((key.clone(), attr));
    }
    out
}

#[cfg(test)]
mod tests;
