//! Pure parser of Telemetry API batches (a JSON array of `{time,type,record}` events) into our
//! own [`Record`] enum. Tolerant: unknown types are counted, malformed events are counted and
//! skipped, every record field is optional and a wrong-typed field counts as missing. It does
//! no I/O and never panics, whatever the bytes. It never recurses over JSON values: miniserde
//! parses, serializes and drops without recursion, and JSON log bodies nested deeper than
//! [`MAX_LOG_DEPTH`] are kept as text so no consumer can overflow its stack on them.

use miniserde::json::{self, Object, Value};

use crate::json as fields;
use crate::timefmt::parse_iso8601_ms;

mod stream;

/// Deepest JSON log body kept as [`LogBody::Json`]; deeper ones become [`LogBody::Text`]
/// (their compact JSON), because `Clone`/`Debug` of a miniserde value and any consumer that
/// walks it recurse once per level.
pub const MAX_LOG_DEPTH: usize = 64;

/// `platform.report` metrics; fields missing from the record stay `None`, never invented.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReportMetrics {
    pub duration_ms: Option<f64>,
    pub billed_duration_ms: Option<f64>,
    pub memory_size_mb: Option<f64>,
    pub max_memory_used_mb: Option<f64>,
    pub init_duration_ms: Option<f64>,
    pub restore_duration_ms: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Success,
    Error,
    Failure,
    Timeout,
    /// Any other value, as sent; empty when the record had no `status` string.
    Other(String),
}

impl Status {
    /// Case-insensitive reading of a Telemetry API status.
    pub fn parse(text: &str) -> Status {
        match text.trim().to_ascii_lowercase().as_str() {
            "success" => Status::Success,
            "error" => Status::Error,
            "failure" => Status::Failure,
            "timeout" => Status::Timeout,
            _ => Status::Other(text.to_string()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogStream {
    Function,
    Extension,
}

#[derive(Debug, Clone)]
pub enum LogBody {
    /// Text log format: the line as is (a trailing newline removed).
    Text(String),
    /// JSON log format: the record object.
    Json(miniserde::json::Object),
}

#[derive(Debug, Clone)]
pub enum Record {
    Start {
        time_ms: Option<u64>,
        request_id: String,
    },
    RuntimeDone {
        time_ms: Option<u64>,
        request_id: String,
        status: Status,
        error_type: Option<String>,
        duration_ms: Option<f64>,
    },
    Report {
        time_ms: Option<u64>,
        request_id: String,
        status: Status,
        error_type: Option<String>,
        metrics: ReportMetrics,
    },
    Log {
        time_ms: Option<u64>,
        stream: LogStream,
        body: LogBody,
    },
    /// Any other `platform.*` event, kept (type and record re-serialized) for platform logs.
    Platform {
        time_ms: Option<u64>,
        kind: String,
        record_json: String,
    },
}

/// One parsed batch, with what could not be used counted.
#[derive(Debug, Clone, Default)]
pub struct Batch {
    pub records: Vec<Record>,
    /// Events (or whole bodies) that were not valid JSON of the expected shape.
    pub malformed: usize,
    /// Events whose `type` we do not know (not `platform.*`, `function`, `extension`).
    pub unknown: usize,
    /// Bodies discarded because they exceeded the listener's cap.
    pub oversized: usize,
}

/// Parses one delivery body. Never panics. A body that is not a JSON array counts as one
/// malformed event; invalid UTF-8 is replaced (U+FFFD) rather than rejecting the batch. Events
/// are parsed one at a time ([`stream`]), so memory stays near the body's own size.
pub fn parse_batch(body: &[u8]) -> Batch {
    let text = String::from_utf8_lossy(body);
    match json::from_str::<stream::Events>(&text) {
        Ok(events) => events.batch,
        Err(_) => Batch { malformed: 1, ..Batch::default() },
    }
}

/// Why one event produced no record.
enum Skip {
    Malformed,
    Unknown,
}

fn parse_event(event: Value) -> Result<Record, Skip> {
    let Value::Object(mut event) = event else {
        return Err(Skip::Malformed);
    };
    let Some(Value::String(kind)) = event.remove("type") else {
        return Err(Skip::Malformed);
    };
    let time_ms = match event.get("time") {
        Some(Value::String(time)) => parse_iso8601_ms(time),
        _ => None,
    };
    let record = event.remove("record");
    match kind.as_str() {
        "function" => log(time_ms, LogStream::Function, record),
        "extension" => log(time_ms, LogStream::Extension, record),
        "platform.start" => {
            let request_id = request_id(record.as_ref())?;
            Ok(Record::Start { time_ms, request_id })
        }
        "platform.runtimeDone" => {
            let request_id = request_id(record.as_ref())?;
            let record = as_object(record.as_ref());
            Ok(Record::RuntimeDone {
                time_ms,
                request_id,
                status: status(record),
                error_type: error_type(record),
                duration_ms: metrics(record).and_then(|m| fields::f64_field(m, "durationMs")),
            })
        }
        "platform.report" => {
            let request_id = request_id(record.as_ref())?;
            let record = as_object(record.as_ref());
            Ok(Record::Report {
                time_ms,
                request_id,
                status: status(record),
                error_type: error_type(record),
                metrics: report_metrics(metrics(record)),
            })
        }
        _ if kind.starts_with("platform.") => {
            // An absent record is kept as an empty object so platform logs stay uniform.
            let record_json = match record {
                Some(record) => json::to_string(&record),
                None => "{}".to_string(),
            };
            Ok(Record::Platform { time_ms, kind, record_json })
        }
        _ => Err(Skip::Unknown),
    }
}

fn log(time_ms: Option<u64>, stream: LogStream, record: Option<Value>) -> Result<Record, Skip> {
    let body = match record {
        Some(Value::String(mut line)) => {
            if line.ends_with("\r\n") {
                line.truncate(line.len() - 2);
            } else if line.ends_with('\n') {
                line.truncate(line.len() - 1);
            }
            LogBody::Text(line)
        }
        Some(Value::Object(object)) if depth_exceeds(&object, MAX_LOG_DEPTH) => LogBody::Text(json::to_string(&object)),
        Some(Value::Object(object)) => LogBody::Json(object),
        _ => return Err(Skip::Malformed),
    };
    Ok(Record::Log { time_ms, stream, body })
}

/// True when `object` nests more than `max` objects/arrays deep (itself is level 1).
/// Iterative, so hostile nesting cannot overflow the stack here either.
fn depth_exceeds(object: &Object, max: usize) -> bool {
    if max == 0 {
        return true;
    }
    let mut pending: Vec<(&Value, usize)> = object.values().map(|v| (v, 2)).collect();
    while let Some((value, depth)) = pending.pop() {
        match value {
            Value::Array(_) | Value::Object(_) if depth > max => return true,
            Value::Array(array) => pending.extend(array.iter().map(|c| (c, depth + 1))),
            Value::Object(object) => pending.extend(object.values().map(|c| (c, depth + 1))),
            _ => {}
        }
    }
    false
}

fn as_object(value: Option<&Value>) -> Option<&Object> {
    fields::object(value?)
}

fn string<'a>(object: Option<&'a Object>, key: &str) -> Option<&'a str> {
    fields::str_field(object?, key)
}

/// The `requestId` these records are correlated by; without it the event is malformed.
fn request_id(record: Option<&Value>) -> Result<String, Skip> {
    match string(as_object(record), "requestId") {
        Some(id) if !id.is_empty() => Ok(id.to_string()),
        _ => Err(Skip::Malformed),
    }
}

fn status(record: Option<&Object>) -> Status {
    string(record, "status").map_or(Status::Other(String::new()), Status::parse)
}

fn error_type(record: Option<&Object>) -> Option<String> {
    string(record, "errorType").filter(|e| !e.is_empty()).map(str::to_string)
}

fn metrics(record: Option<&Object>) -> Option<&Object> {
    as_object(record?.get("metrics"))
}

fn report_metrics(metrics: Option<&Object>) -> ReportMetrics {
    let Some(m) = metrics else {
        return ReportMetrics::default();
    };
    ReportMetrics {
        duration_ms: fields::f64_field(m, "durationMs"),
        billed_duration_ms: fields::f64_field(m, "billedDurationMs"),
        memory_size_mb: fields::f64_field(m, "memorySizeMB"),
        max_memory_used_mb: fields::f64_field(m, "maxMemoryUsedMB"),
        init_duration_ms: fields::f64_field(m, "initDurationMs"),
        restore_duration_ms: fields::f64_field(m, "restoreDurationMs"),
    }
}

#[cfg(test)]
mod tests;
