//! Turning one received request into records: headers checked against
//! newrelic.md §3/§6, body gunzipped, decoded, shape-checked and each
//! telemetry event classified. Pure apart from reading the request; the
//! caller stores the results and assigns sequence numbers.

use super::body::{self, LogRecord};
use super::classify::classify;
use super::fault::Fault;
use super::record::{Endpoint, Received, TelemetryEvent};
use crate::http::Request;
use crate::util::gunzip;
use std::time::Instant;

/// How much of a malformed body is kept for the test's error message.
const SAMPLE: usize = 4096;

/// The request's record before decoding (seq 0, filled in by the caller).
pub(crate) fn received(
    req: &Request,
    endpoint: Endpoint,
    at: Instant,
    status: Option<u16>,
    fault: Option<Fault>,
) -> Received {
    let gzip = req.header("content-encoding").is_some_and(|e| e.trim().eq_ignore_ascii_case("gzip"));
    Received {
        seq: 0,
        at,
        method: req.method.clone(),
        path: req.path.clone(),
        endpoint,
        headers: req.headers.clone(),
        compressed_size: req.body.len(),
        decoded_size: req.body.len(),
        gzip,
        status,
        fault,
        delivered: status.is_some_and(|s| (200..300).contains(&s)),
        shape_errors: Vec::new(),
        context: None,
        items: 0,
        body_sample: None,
    }
}

fn header_errors(req: &Request, errors: &mut Vec<String>) {
    for name in ["X-License-Key", "User-Agent"] {
        if req.header(name).is_none_or(|v| v.trim().is_empty()) {
            errors.push(format!("header {name} missing"));
        }
    }
    if !req.header("content-type").is_some_and(|v| v.trim().to_ascii_lowercase().starts_with("application/json")) {
        errors.push("header Content-Type is not application/json".to_string());
    }
    if !req.header("content-encoding").is_some_and(|v| v.trim().eq_ignore_ascii_case("gzip")) {
        errors.push("header Content-Encoding is not gzip".to_string());
    }
}

/// Decodes the body of a request to one of the two endpoints; fills the
/// record's sizes, context and errors; returns events and log records with
/// placeholder seq/delivered.
pub(crate) fn decode(req: &Request, rec: &mut Received) -> (Vec<TelemetryEvent>, Vec<LogRecord>) {
    if rec.endpoint == Endpoint::Other || !req.method.eq_ignore_ascii_case("POST") {
        return (Vec::new(), Vec::new());
    }
    let mut errors = Vec::new();
    header_errors(req, &mut errors);
    let raw = if rec.gzip {
        match gunzip(&req.body) {
            Ok(raw) => raw,
            Err(e) => {
                rec.shape_errors = errors;
                rec.shape_errors.push(format!("body does not gunzip: {e}"));
                return (Vec::new(), Vec::new());
            }
        }
    } else {
        req.body.clone()
    };
    rec.decoded_size = raw.len();
    let text = String::from_utf8_lossy(&raw);
    let (events, logs) = if rec.endpoint == Endpoint::Telemetry {
        let (context, raw_events, errs) = body::telemetry(&text);
        errors.extend(errs);
        rec.context = context;
        (raw_events.into_iter().map(event).collect(), Vec::new())
    } else {
        let (logs, errs) = body::logs(&text);
        errors.extend(errs);
        (Vec::new(), logs)
    };
    rec.items = events.len() + logs.len();
    if !errors.is_empty() {
        rec.body_sample = Some(text.chars().take(SAMPLE).collect());
    }
    rec.shape_errors = errors;
    (events, logs)
}

fn event(raw: body::RawEvent) -> TelemetryEvent {
    let c = classify(&raw.message);
    TelemetryEvent {
        request_seq: 0,
        delivered: false,
        id: raw.id,
        timestamp: raw.timestamp,
        message: raw.message,
        kind: c.kind,
        request_id: c.request_id,
        trace_id: c.trace_id,
    }
}
