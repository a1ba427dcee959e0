//! What the simulator reports back to a test: Init, invoke and shutdown
//! results, the error enum, and read-only views of registrations and
//! telemetry subscriptions. Plain data; nothing here acts.

use std::fmt;
use std::io;
use std::time::{Duration, Instant};

/// Why a simulator operation failed.
#[derive(Debug)]
pub enum SimError {
    /// A wait ran out of time; says what was awaited.
    Timeout(String),
    /// `Extension.Crash`: an extension process exited during Init (before
    /// registering or before its first `next`) or mid-invoke.
    ExtensionCrash {
        name: String,
        exit_code: Option<i32>,
    },
    /// Init failed with this fatal error type (e.g. `Extension.InitError`).
    InitFailed {
        error_type: String,
    },
    /// `shutdown` already ran: this environment is gone.
    ShutDown,
    /// The test asked for something out of order (e.g. invoke during Init).
    Usage(String),
    Io(io::Error),
}

impl SimError {
    /// The Lambda error type this failure would surface as.
    pub fn error_type(&self) -> &str {
        match self {
            SimError::Timeout(_) => "Sandbox.Timedout",
            SimError::ExtensionCrash { .. } => "Extension.Crash",
            SimError::InitFailed { error_type } => error_type,
            SimError::ShutDown | SimError::Usage(_) | SimError::Io(_) => "Sandbox.Failure",
        }
    }
}

impl fmt::Display for SimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SimError::Timeout(what) => write!(f, "timed out waiting for {what}"),
            SimError::ExtensionCrash { name, exit_code } => {
                write!(f, "Extension.Crash: {name} exited (code {exit_code:?})")
            }
            SimError::InitFailed { error_type } => write!(f, "Init failed: {error_type}"),
            SimError::ShutDown => write!(f, "the environment was shut down"),
            SimError::Usage(why) => write!(f, "simulator misuse: {why}"),
            SimError::Io(e) => write!(f, "simulator I/O error: {e}"),
        }
    }
}

impl std::error::Error for SimError {}

impl From<io::Error> for SimError {
    fn from(e: io::Error) -> SimError {
        SimError::Io(e)
    }
}

/// A spawned extension process.
#[derive(Clone, Debug)]
pub struct SpawnedExtension {
    /// The file's basename: the name it must register with.
    pub name: String,
    /// Also its process group id.
    pub pid: u32,
}

/// One registered extension as seen at the end of Init.
#[derive(Clone, Debug)]
pub struct ExtensionInit {
    pub name: String,
    pub id: String,
    pub events: Vec<String>,
    /// Spawn → register (None for an in-process client without a process).
    pub registered_after: Option<Duration>,
    /// Spawn → first `next`.
    pub ready_after: Option<Duration>,
}

/// Result of a successful Init.
#[derive(Clone, Debug)]
pub struct InitReport {
    /// `init`, or `invoke` for a suppressed re-init after a reset.
    pub phase: String,
    /// Init start → every extension in `next` (the `initReport` duration).
    pub duration: Duration,
    pub extensions: Vec<ExtensionInit>,
}

/// How one extension process ended in a shutdown sequence.
#[derive(Clone, Debug)]
pub struct ExtensionExit {
    pub name: String,
    pub pid: u32,
    /// It was registered for SHUTDOWN and the event was queued for it.
    pub got_shutdown: bool,
    pub exit_code: Option<i32>,
    /// Terminating signal (9 when SIGKILLed).
    pub signal: Option<i32>,
    /// The simulator SIGKILLed it (at once, or at the deadline).
    pub killed: bool,
    /// SHUTDOWN queued (or shutdown start, without SHUTDOWN) → exit observed.
    pub time_to_exit: Option<Duration>,
}

/// Result of a shutdown sequence (explicit, or a reset).
#[derive(Clone, Debug)]
pub struct ShutdownResult {
    pub reason: String,
    /// `deadlineMs` of the SHUTDOWN event (start + budget, epoch ms).
    pub deadline_ms: u64,
    pub extensions: Vec<ExtensionExit>,
}

impl ShutdownResult {
    /// The exit record of the extension named `name`.
    pub fn extension(&self, name: &str) -> Option<&ExtensionExit> {
        self.extensions.iter().find(|e| e.name == name)
    }

    /// Every process exited 0 on its own (`Exited` in RIE terms).
    pub fn all_exited_cleanly(&self) -> bool {
        self.extensions.iter().all(|e| !e.killed && e.exit_code == Some(0))
    }
}

/// Result of one invoke.
#[derive(Clone, Debug)]
pub struct InvokeResult {
    pub request_id: String,
    /// `success`, `error`, `timeout` or `failure` (the `platform.report` status).
    pub status: String,
    pub error_type: Option<String>,
    /// `deadlineMs` sent in INVOKE.
    pub deadline_ms: u64,
    pub started_at: Instant,
    /// When the runtime responded (the caller got its answer); on a timeout,
    /// the timeout instant.
    pub responded_at: Instant,
    /// When every extension was back in `next` (None on timeout/crash).
    pub extensions_done_at: Option<Instant>,
    /// `extensions_done_at - responded_at`.
    pub post_runtime_overhead: Option<Duration>,
    /// The report's `durationMs` (start → extensions done, or → timeout).
    pub duration: Duration,
    /// The agent's FIFO write did not complete within `agent_timeout`.
    pub agent_blocked: bool,
    /// Any other agent failure (no pipe, I/O error).
    pub agent_error: Option<String>,
    /// An extension process exited or crashed during the invoke.
    pub extension_exited: bool,
    /// The environment was reset; the next invoke re-inits (`phase: invoke`).
    pub reset: Option<ShutdownResult>,
    /// Set when this invoke ran a suppressed re-init first.
    pub init: Option<InitReport>,
}

/// A registration, as listed by `Lambda::registered`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegisteredExtension {
    pub name: String,
    pub id: String,
    pub events: Vec<String>,
    /// Matched a spawned process or `SimConfig::external_names`.
    pub external: bool,
}

/// Counters of one telemetry subscription.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SubscriptionStats {
    pub name: String,
    pub schema_version: String,
    pub types: Vec<String>,
    /// `http://…` as subscribed, or `tcp:<port>`.
    pub destination: String,
    pub max_items: usize,
    pub max_bytes: usize,
    pub timeout_ms: u64,
    /// Batches acknowledged with a 2xx (TCP: written).
    pub batches_delivered: u64,
    pub events_delivered: u64,
    /// Re-sends of a batch after a non-2xx status or a connection error.
    pub redeliveries: u64,
    /// Events dropped on buffer overflow.
    pub dropped_records: u64,
    /// Events still buffered (including a batch awaiting redelivery).
    pub queued: usize,
}
