//! Pure parser of Telemetry API batches (a JSON array of `{time,type,record}` events) into our
//! own [`Record`] enum. Tolerant: unknown types are counted, malformed events are counted and
//! skipped, every record field is optional. (STUB: to be implemented.)

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
    Other(String),
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

/// Parses one delivery body. Never panics.
pub fn parse_batch(_body: &[u8]) -> Batch {
    Batch::default()
}
