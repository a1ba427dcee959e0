//! New Relic wire formats: endpoints, header names and the pure encoders of the telemetry
//! request (`newrelic.md` §3), REPORT lines (§4) and synthesized error lines (§5). (STUB.)

use crate::telemetry::ReportMetrics;

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

/// The JSON body (before gzip) of one telemetry request.
pub fn encode_telemetry(_ctx: &Context, _events: &[TelemetryEvent]) -> Vec<u8> {
    Vec::new()
}

/// `REPORT RequestId: …\tDuration: … ms…`; fields missing from the record are left out.
pub fn report_line(request_id: &str, _m: &ReportMetrics) -> String {
    format!("REPORT RequestId: {request_id}")
}
