//! A simulated New Relic language agent: builds serverless payloads in the
//! shapes of newrelic.md §1 (version 1 and 2), decodes them back (request id,
//! trace id), re-targets a real fixture to another request, and writes
//! payloads to the extension's FIFO the way the real agent does (blocking
//! open, write, close). It never reads the pipe and never talks HTTP.

mod base64;
mod decode;
mod fifo;

pub use base64::{decode as base64_decode, encode as base64_encode};
pub use decode::{decode, retarget, Decoded};
pub use fifo::{write_payloads, DEFAULT_PIPE};

use crate::util::{gzip, Rng};
use miniserde::json::{self, Array, Number, Object, Value};
use std::fmt;

/// The marker every payload carries as its second element.
pub const MARKER: &str = "NR_LAMBDA_MONITORING";

/// Why the simulated agent could not do what was asked.
#[derive(Debug)]
pub enum AgentError {
    /// The FIFO path does not exist (the real agent then prints to stdout).
    NoPipe,
    /// Nobody opened the pipe for reading (or read it) within the timeout.
    Blocked,
    Io(std::io::Error),
    /// The payload is not a decodable agent payload; says which step failed.
    Decode(String),
}

impl fmt::Display for AgentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AgentError::NoPipe => write!(f, "agent pipe does not exist"),
            AgentError::Blocked => write!(f, "agent blocked: nobody read the pipe in time"),
            AgentError::Io(e) => write!(f, "agent pipe I/O failed: {e}"),
            AgentError::Decode(why) => write!(f, "payload does not decode: {why}"),
        }
    }
}

impl std::error::Error for AgentError {}

/// Everything that varies between generated payloads.
#[derive(Debug, Clone)]
pub struct PayloadSpec {
    /// 1: `[1,"NR_LAMBDA_MONITORING","<b64 gzip {metadata,data}>"]`;
    /// 2: `[2,"NR_LAMBDA_MONITORING",{metadata},"<b64 gzip data>"]`.
    pub version: u8,
    /// Write the version element as a string (`"1"`), as some agents do.
    pub version_as_string: bool,
    pub request_id: String,
    /// 32 lowercase hex digits.
    pub trace_id: String,
    /// 16 lowercase hex digits: the transaction guid.
    pub guid: String,
    pub arn: String,
    pub function_version: String,
    pub transaction_name: String,
    pub timestamp_ms: u64,
    pub duration_s: f64,
    /// Span events to include (each ~250 bytes of JSON before gzip).
    pub spans: usize,
    /// Random characters carried in a custom event; they barely compress, so
    /// each adds about one byte to the final payload (size knob).
    pub padding: usize,
    /// Append `\n` after the JSON (some agents do, the Python one does not).
    pub trailing_newline: bool,
}

impl PayloadSpec {
    /// A ~2 KB-class version 1 payload for `request_id` with a random trace id.
    pub fn new(request_id: &str) -> PayloadSpec {
        let mut rng = Rng::from_entropy();
        PayloadSpec {
            version: 1,
            version_as_string: false,
            request_id: request_id.to_string(),
            trace_id: rng.hex(16),
            guid: rng.hex(8),
            arn: "arn:aws:lambda:us-east-1:123456789012:function:sim-fn".to_string(),
            function_version: "$LATEST".to_string(),
            transaction_name: "OtherTransaction/Function/app.handler".to_string(),
            timestamp_ms: crate::util::now_ms(),
            duration_s: 0.012,
            spans: 3,
            padding: 0,
            trailing_newline: false,
        }
    }

    pub fn version(mut self, v: u8) -> Self {
        self.version = v;
        self
    }

    pub fn padding(mut self, bytes: usize) -> Self {
        self.padding = bytes;
        self
    }

    pub fn trace_id(mut self, id: &str) -> Self {
        self.trace_id = id.to_string();
        self
    }

    pub fn arn(mut self, arn: &str) -> Self {
        self.arn = arn.to_string();
        self
    }
}

pub(crate) fn s(v: &str) -> Value {
    Value::String(v.to_string())
}

fn n(v: u64) -> Value {
    Value::Number(Number::U64(v))
}

fn f(v: f64) -> Value {
    Value::Number(Number::F64(v))
}

fn obj(pairs: Vec<(&str, Value)>) -> Value {
    Value::Object(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect::<Object>())
}

fn arr(items: Vec<Value>) -> Value {
    Value::Array(items.into_iter().collect::<Array>())
}

fn metadata(spec: &PayloadSpec) -> Value {
    obj(vec![
        ("metadata_version", n(2)),
        ("arn", s(&spec.arn)),
        ("protocol_version", n(17)),
        ("function_version", s(&spec.function_version)),
        ("execution_environment", s("AWS_Lambda_python3.12")),
        ("agent_version", s("10.3.0")),
        ("agent_language", s("python")),
    ])
}

/// `[null, {"reservoir_size":…,"events_seen":…}, [events…]]`
fn sampled(reservoir: u64, events: Vec<Value>) -> Value {
    let seen = events.len() as u64;
    arr(vec![Value::Null, obj(vec![("reservoir_size", n(reservoir)), ("events_seen", n(seen))]), arr(events)])
}

fn transaction_event(spec: &PayloadSpec) -> Value {
    let intrinsics = obj(vec![
        ("type", s("Transaction")),
        ("name", s(&spec.transaction_name)),
        ("timestamp", n(spec.timestamp_ms)),
        ("duration", f(spec.duration_s)),
        ("totalTime", f(spec.duration_s)),
        ("guid", s(&spec.guid)),
        ("traceId", s(&spec.trace_id)),
        ("priority", f(1.437_21)),
        ("sampled", Value::Bool(true)),
        ("error", Value::Bool(false)),
    ]);
    let agent = obj(vec![
        ("aws.requestId", s(&spec.request_id)),
        ("aws.lambda.arn", s(&spec.arn)),
        ("aws.lambda.coldStart", Value::Bool(false)),
        ("response.status", s("200")),
    ]);
    arr(vec![intrinsics, obj(vec![]), agent])
}

fn span_events(spec: &PayloadSpec, rng: &mut Rng) -> Vec<Value> {
    (0..spec.spans)
        .map(|i| {
            let (guid, parent) = if i == 0 { (spec.guid.clone(), None) } else { (rng.hex(8), Some(&spec.guid)) };
            let mut intrinsics = vec![
                ("type", s("Span")),
                ("traceId", s(&spec.trace_id)),
                ("guid", s(&guid)),
                ("transactionId", s(&spec.guid)),
                ("sampled", Value::Bool(true)),
                ("priority", f(1.437_21)),
                ("timestamp", n(spec.timestamp_ms + i as u64)),
                ("duration", f(spec.duration_s / (i as f64 + 1.0))),
                ("name", s(if i == 0 { &spec.transaction_name } else { "Function/app:work" })),
                ("category", s("generic")),
            ];
            match parent {
                Some(p) => intrinsics.push(("parentId", s(p))),
                None => intrinsics.push(("nr.entryPoint", Value::Bool(true))),
            }
            arr(vec![obj(intrinsics), obj(vec![]), obj(vec![])])
        })
        .collect()
}

const SUPPORTABILITY: [&str; 12] = [
    "Supportability/Python/Collector/metric_data/Output/Bytes",
    "Supportability/Python/Collector/analytic_event_data/Output/Bytes",
    "Supportability/Python/Collector/span_event_data/Output/Bytes",
    "Supportability/Python/Collector/Output/Bytes",
    "Supportability/DistributedTrace/CreatePayload/Success",
    "Supportability/TraceContext/Create/Success",
    "Supportability/SpanEvent/TotalEventsSeen",
    "Supportability/SpanEvent/TotalEventsSent",
    "Supportability/Python/FeatureFlag/ServerlessMode/enabled",
    "Supportability/Python/Application/Registration",
    "Function/app:handler",
    "Function/app:work",
];

fn metric(name: &str, d: f64) -> Value {
    let stats = arr(vec![n(1), f(d), f(d), f(d), f(d), f(d * d)]);
    arr(vec![obj(vec![("name", s(name)), ("scope", s(""))]), stats])
}

fn data(spec: &PayloadSpec) -> Value {
    let mut rng = Rng::seeded(spec.request_id.bytes().fold(7u64, |h, b| h.wrapping_mul(31) ^ u64::from(b)));
    let start = spec.timestamp_ms as f64 / 1000.0;
    let d = spec.duration_s;
    let mut metrics = vec![metric(&spec.transaction_name, d), metric("OtherTransaction/all", d)];
    // Supportability metrics with irregular values, as the real agent sends:
    // they bring a default payload to the ~2 KB of real ones.
    for name in SUPPORTABILITY {
        metrics.push(metric(name, d * (1.0 + rng.unit())));
    }
    let mut fields = vec![
        ("metric_data", arr(vec![Value::Null, f(start), f(start + d), arr(metrics)])),
        ("analytic_event_data", sampled(1200, vec![transaction_event(spec)])),
        ("span_event_data", sampled(2000, span_events(spec, &mut rng))),
        ("error_event_data", sampled(100, vec![])),
    ];
    if spec.padding > 0 {
        const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let pad: String =
            (0..spec.padding).map(|_| char::from(CHARS.get(rng.below(64) as usize).copied().unwrap_or(b'x'))).collect();
        let intrinsics = obj(vec![("type", s("SimPadding")), ("timestamp", n(spec.timestamp_ms))]);
        let event = arr(vec![intrinsics, obj(vec![("padding", s(&pad))])]);
        fields.push(("custom_event_data", sampled(10_000, vec![event])));
    }
    obj(fields)
}

/// The payload text for `spec`, as the agent writes it to the pipe.
pub fn build(spec: &PayloadSpec) -> Vec<u8> {
    let version = if spec.version_as_string { s(&spec.version.to_string()) } else { n(u64::from(spec.version)) };
    let outer = if spec.version >= 2 {
        let blob = base64::encode(&gzip(json::to_string(&data(spec)).as_bytes()));
        arr(vec![version, s(MARKER), metadata(spec), s(&blob)])
    } else {
        let inner = obj(vec![("metadata", metadata(spec)), ("data", data(spec))]);
        let blob = base64::encode(&gzip(json::to_string(&inner).as_bytes()));
        arr(vec![version, s(MARKER), s(&blob)])
    };
    let mut text = json::to_string(&outer);
    if spec.trailing_newline {
        text.push('\n');
    }
    text.into_bytes()
}

/// Shorthand: a default version 1 payload for `request_id`.
pub fn payload_for(request_id: &str) -> Vec<u8> {
    build(&PayloadSpec::new(request_id))
}

/// `tests/data/agent/` of the workspace: real payloads of the Python agent.
pub fn fixture_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/agent")
}

/// The real payload fixtures (`*.json` in `fixture_dir()`), sorted by file
/// name, as `(file name, bytes)`; empty when the directory is missing. Use
/// one as a template with `retarget`.
pub fn fixtures() -> Vec<(String, Vec<u8>)> {
    let Ok(dir) = std::fs::read_dir(fixture_dir()) else { return Vec::new() };
    let mut out: Vec<(String, Vec<u8>)> = dir
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let bytes = std::fs::read(e.path()).ok()?;
            name.ends_with(".json").then_some((name, bytes))
        })
        .collect();
    out.sort();
    out
}
