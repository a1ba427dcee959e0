//! The one closed set of messages that reach the pipeline thread, and the queue capacity.
//!
//! Every input (Lambda lifecycle, agent pipe, Telemetry API listener) becomes an [`Event`] on
//! one bounded channel with one consumer (`pipeline.rs`). Flush and shutdown carry their reply
//! channel and deadline, so nobody polls shared flags.

use std::time::Instant;

use crate::payload::PayloadInfo;
use crate::telemetry::Batch;

/// Capacity of the event channel, in messages. Producers that must never block (the listener,
/// the pipe reader) use blocking sends with this much slack; the pipeline never does network
/// I/O itself, so it drains the channel continuously. The channel's array is allocated and
/// written in full when it is created, before the first `event/next`: at 4,096 messages of
/// ~150 bytes that was 600 KB, 150 page faults, ~0.2 ms of cold start (1.25× → 1.05× the
/// floor's spawn → ready) and a fifth of the peak RSS. One message is one whole batch or
/// payload, so 256 is still far more than the pipeline ever has waiting.
pub const QUEUE_CAPACITY: usize = 256;

#[derive(Debug)]
pub enum Event {
    /// The lifecycle thread received INVOKE, and asks for the end-of-invocation flush: deliver
    /// what belongs to this invocation before it calls `event/next` (one message: one wake-up).
    Invoke(Invoke, FlushRequest),
    /// One agent payload (one top-level JSON value, or raw bytes that did not split).
    AgentPayload(AgentPayload),
    /// One Telemetry API batch, already parsed by the listener.
    Telemetry(Batch),
    /// SHUTDOWN: synthesize what is missing, deliver everything, reply with the summary.
    Shutdown(ShutdownRequest),
    /// The pipe reader forwarded everything it held when asked (the SHUTDOWN barrier).
    PipeDrained,
}

#[derive(Debug, Clone)]
pub struct Invoke {
    pub request_id: String,
    /// Function-timeout instant, Unix epoch milliseconds.
    pub deadline_ms: u64,
    pub invoked_function_arn: String,
    /// When the INVOKE arrived (monotonic and epoch ms).
    pub received: Instant,
    pub received_ms: u64,
}

#[derive(Debug)]
pub struct AgentPayload {
    /// The payload text, forwarded unchanged (lossy only if it was not UTF-8).
    pub text: String,
    /// What could be read from inside it (request id, trace id); `None` when the reader did
    /// not look (the pipeline reads it only when it needs to: see `Pipeline::payload_info`).
    pub info: Option<PayloadInfo>,
    /// When the reader got it, Unix epoch milliseconds.
    pub received_ms: u64,
}

/// The flush of the invocation it comes with ([`Event::Invoke`]).
#[derive(Debug)]
pub struct FlushRequest {
    /// Give up waiting and sending at this instant.
    pub deadline: Instant,
    /// Time since the previous INVOKE (`None` for the first): tells busy from sparse.
    pub gap: Option<std::time::Duration>,
    /// Answered once, when the flush is done or the deadline has passed.
    pub reply: crate::oneshot::Reply<()>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShutdownReason {
    Spindown,
    Timeout,
    Failure,
    /// Anything else (e.g. RIE's `SandboxTerminated`): a generic shutdown.
    Other(String),
}

impl ShutdownReason {
    /// Tolerant reading: case-insensitive, unknown values are a generic shutdown.
    pub fn parse(text: &str) -> ShutdownReason {
        match text.to_ascii_lowercase().as_str() {
            "spindown" => ShutdownReason::Spindown,
            "timeout" => ShutdownReason::Timeout,
            "failure" => ShutdownReason::Failure,
            _ => ShutdownReason::Other(text.to_string()),
        }
    }
}

#[derive(Debug)]
pub struct ShutdownRequest {
    pub reason: ShutdownReason,
    pub deadline: Instant,
    pub reply: crate::oneshot::Reply<String>,
}
