//! New Relic wire formats: endpoints, header names, the pure encoder of the telemetry request
//! (`newrelic.md` §3), REPORT lines (§4), synthesized error lines (§5) and unique event ids.
//!
//! Everything here is pure: no sockets, no clocks (callers pass `now`), no environment. Sending,
//! gzip and retries belong to `sender.rs`; which endpoint to use is decided here, once.

use std::fmt::Write as _;

use crate::telemetry::ReportMetrics;
use crate::timefmt::format_rfc3339_ms;

pub const TELEMETRY_ENDPOINT_US: &str = "https://cloud-collector.newrelic.com/aws/lambda/v1";
pub const TELEMETRY_ENDPOINT_EU: &str = "https://cloud-collector.eu01.nr-data.net/aws/lambda/v1";
pub const LOG_ENDPOINT_US: &str = "https://log-api.newrelic.com/log/v1";
pub const LOG_ENDPOINT_EU: &str = "https://log-api.eu.newrelic.com/log/v1";

pub const HEADER_LICENSE_KEY: &str = "X-License-Key";
pub const HEADER_CONTENT_TYPE: &str = "Content-Type";
pub const HEADER_CONTENT_ENCODING: &str = "Content-Encoding";
pub const HEADER_USER_AGENT: &str = "User-Agent";
pub const CONTENT_TYPE_JSON: &str = "application/json";
pub const CONTENT_ENCODING_GZIP: &str = "gzip";

/// The extension's name as New Relic sees it (User-Agent, log stream name, log `plugin`).
pub const EXTENSION_NAME: &str = "newrelic-lambda-extension";

/// `newrelic-lambda-extension/<version>`.
pub fn user_agent() -> String {
    format!("{EXTENSION_NAME}/{}", env!("CARGO_PKG_VERSION"))
}

/// EU accounts are recognised by their license key prefix (compat with the other extensions).
pub fn is_eu_key(license_key: &str) -> bool {
    license_key.starts_with("eu")
}

/// Where agent payloads, REPORT lines and synthesized errors go. A non-blank override wins.
pub fn telemetry_endpoint(license_key: &str, override_: Option<&str>) -> String {
    pick_endpoint(license_key, override_, TELEMETRY_ENDPOINT_US, TELEMETRY_ENDPOINT_EU)
}

/// Where forwarded logs go. A non-blank override wins.
pub fn log_endpoint(license_key: &str, override_: Option<&str>) -> String {
    pick_endpoint(license_key, override_, LOG_ENDPOINT_US, LOG_ENDPOINT_EU)
}

fn pick_endpoint(key: &str, override_: Option<&str>, us: &str, eu: &str) -> String {
    match override_.map(str::trim).filter(|s| !s.is_empty()) {
        Some(url) => url.to_string(),
        None if is_eu_key(key) => eu.to_string(),
        None => us.to_string(),
    }
}

/// One log event of a telemetry request: an agent payload, a REPORT line or a synthesized line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TelemetryEvent {
    /// Unique per event, across requests and processes.
    pub id: String,
    /// Unix epoch milliseconds.
    pub timestamp_ms: u64,
    pub message: String,
}

/// The `context` object of a telemetry request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Context {
    pub function_name: String,
    pub invoked_function_arn: String,
    pub log_group_name: String,
    pub log_stream_name: String,
}

/// The JSON body (before gzip) of one telemetry request. `entry` is a JSON string holding the
/// serialized CloudWatch-Logs-like subscription event, as the ingest expects. Field order and
/// names are the ingest's; `logStream`, `messageType` and `owner` must be present even though
/// nothing fills them. Written by hand, in one pass into `out` (cleared first, its capacity
/// reused): the agent payloads in it are escaped twice, and this is the largest thing the
/// extension writes per invocation.
pub fn encode_telemetry_into(ctx: &Context, events: &[TelemetryEvent], out: &mut String) {
    use crate::json::{push_str, push_str_twice_escaped as push_inner};
    out.clear();
    let size: usize = events.iter().map(|e| e.message.len() + e.id.len() + 64).sum();
    out.reserve(size + size / 8 + 512);
    out.push_str("{\"context\":{\"function_name\":");
    push_str(out, &ctx.function_name);
    out.push_str(",\"invoked_function_arn\":");
    push_str(out, &ctx.invoked_function_arn);
    out.push_str(",\"log_group_name\":");
    push_str(out, &ctx.log_group_name);
    out.push_str(",\"log_stream_name\":");
    push_str(out, &ctx.log_stream_name);
    // The entry, written as it reads inside its JSON string.
    out.push_str("},\"entry\":\"{\\\"logEvents\\\":[");
    for (i, event) in events.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\\\"id\\\":\\\"");
        push_inner(out, &event.id);
        let _ = write!(out, "\\\",\\\"timestamp\\\":{},\\\"message\\\":\\\"", event.timestamp_ms);
        push_inner(out, &event.message);
        out.push_str("\\\"}");
    }
    out.push_str("],\\\"logGroup\\\":\\\"");
    push_inner(out, &ctx.log_group_name);
    out.push_str("\\\",\\\"logStream\\\":\\\"\\\",\\\"messageType\\\":\\\"\\\",\\\"owner\\\":\\\"\\\"}\"}");
}

/// [`encode_telemetry_into`] a new buffer.
pub fn encode_telemetry(ctx: &Context, events: &[TelemetryEvent]) -> Vec<u8> {
    let mut out = String::new();
    encode_telemetry_into(ctx, events, &mut out);
    out.into_bytes()
}

/// `REPORT RequestId: …\tDuration: … ms…`; fields missing from the record are left out.
pub fn report_line(request_id: &str, m: &ReportMetrics) -> String {
    let mut line = format!("REPORT RequestId: {request_id}");
    // `write!` into a String cannot fail; the results are ignored on purpose.
    if let Some(v) = m.duration_ms {
        let _ = write!(line, "\tDuration: {v:.2} ms");
    }
    if let Some(v) = m.billed_duration_ms {
        let _ = write!(line, "\tBilled Duration: {v:.0} ms");
    }
    if let Some(v) = m.memory_size_mb {
        let _ = write!(line, "\tMemory Size: {v:.0} MB");
    }
    if let Some(v) = m.max_memory_used_mb {
        let _ = write!(line, "\tMax Memory Used: {v:.0} MB");
    }
    if let Some(v) = m.init_duration_ms {
        let _ = write!(line, "\tInit Duration: {v:.2} ms");
    }
    line
}

/// `<RFC 3339> <requestId> Task timed out after <%.2f> seconds`.
pub fn timeout_line(now_ms: u64, request_id: &str, seconds: f64) -> String {
    format!("{} {request_id} Task timed out after {seconds:.2} seconds", format_rfc3339_ms(now_ms))
}

/// `<RFC 3339> <requestId> Function invocation failed after <%.2f> seconds: <errorType>`.
pub fn failure_line(now_ms: u64, request_id: &str, seconds: f64, error_type: &str) -> String {
    let time = format_rfc3339_ms(now_ms);
    format!("{time} {request_id} Function invocation failed after {seconds:.2} seconds: {error_type}")
}

/// `RequestId: <requestId> AWS Lambda platform fault caused a shutdown`.
pub fn platform_fault_line(request_id: &str) -> String {
    format!("RequestId: {request_id} AWS Lambda platform fault caused a shutdown")
}

/// Unique event ids: a 64-bit per-process nonce followed by a 64-bit counter, as 32 hex digits.
/// The nonce keeps ids of different processes (and restarts) apart; the counter keeps the ids
/// of one process apart. Pure given its seed.
#[derive(Debug, Clone)]
pub struct EventIds {
    nonce: u64,
    counter: u64,
}

impl EventIds {
    /// Ids from a caller-chosen seed (tests, or [`EventIds::from_process`]).
    pub fn new(seed: u64) -> EventIds {
        EventIds { nonce: mix64(seed), counter: 0 }
    }

    /// Seeded from the process id, the wall clock and std's per-process random hasher keys,
    /// so two sandboxes started in the same nanosecond still differ.
    pub fn from_process(now_nanos: u128) -> EventIds {
        use std::hash::{BuildHasher, Hasher};
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u32(std::process::id());
        hasher.write_u128(now_nanos);
        EventIds::new(hasher.finish() ^ (now_nanos as u64))
    }

    /// The next id; never repeats within this generator (the counter would need 2^64 calls).
    pub fn next_id(&mut self) -> String {
        self.counter = self.counter.wrapping_add(1);
        format!("{:016x}{:016x}", self.nonce, self.counter)
    }
}

/// SplitMix64 finalizer: spreads seeds that differ in few bits over all 64 bits.
fn mix64(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests;
