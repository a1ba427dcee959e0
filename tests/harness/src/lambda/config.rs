//! The knobs of one simulated execution environment (`SimConfig`) and of one
//! invocation (`Invocation`). Plain data with sensible defaults; nothing here
//! keeps state, reads the clock or touches a process.

use crate::util::uuid_v4;
use std::path::PathBuf;
use std::time::Duration;

/// How `PUT /2022-07-01/telemetry` answers (spec §4.2, §7).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TelemetryMode {
    /// Validates and subscribes like production Lambda.
    Real,
    /// Classic RIE: 202 `Telemetry.NotSupported` to every call, no checks.
    NotSupported202,
    /// Every valid-identifier subscribe gets 500 (service error).
    Error500,
    /// Like `Real`, but schema `2025-01-29` gets 400 (to test the fallback).
    Reject2025Schema,
}

/// Shape of `function` telemetry records (`LoggingConfig.LogFormat`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// Each line is a JSON string record.
    Text,
    /// Each line is an object `{timestamp, level, message, requestId}`.
    Json,
}

/// One simulated execution environment.
#[derive(Clone, Debug)]
pub struct SimConfig {
    pub function_name: String,
    pub function_version: String,
    pub memory_mb: u32,
    pub region: String,
    pub account_id: String,
    /// `None`: `arn:aws:lambda:<region>:<account>:function:<name>`.
    pub function_arn: Option<String>,
    pub handler: String,
    /// `AWS_LAMBDA_INITIALIZATION_TYPE`; `None` mimics classic RIE (unset).
    pub initialization_type: Option<String>,
    pub telemetry: TelemetryMode,
    /// Return `accountId` when register asks for it; false mimics RIE.
    pub return_account_id: bool,
    /// SIGSTOP the extensions between invokes and hold telemetry delivery.
    pub freeze: bool,
    /// Function log record shape.
    pub log_format: LogFormat,
    /// `shutdownReason` sent on a timeout reset (`timeout`, `Timeout`, …).
    pub timeout_reason: String,
    /// `shutdownReason` sent on a crash / exit-error reset.
    pub failure_reason: String,
    /// `shutdownReason` sent on the reset after a failed Init.
    pub init_failure_reason: String,
    /// First redelivery delay of a rejected batch; doubles per attempt (×16 cap).
    pub delivery_backoff: Duration,
    /// Total timeout of one telemetry POST.
    pub delivery_timeout: Duration,
    /// Events buffered per subscriber before new ones are dropped.
    pub telemetry_buffer_events: usize,
    /// Replay Init events emitted before a subscription to the new subscriber.
    pub replay_init_events: bool,
    /// Whole shutdown window (2,000 ms with external extensions).
    pub shutdown_budget: Duration,
    /// Time the in-process runtime spends in its own Init.
    pub runtime_init: Duration,
    /// Time the in-process runtime takes to exit on SIGTERM (capped at 30%).
    pub runtime_shutdown: Duration,
    /// Memory the function itself uses; `maxMemoryUsedMB` adds the extensions' peak RSS.
    pub runtime_memory_mb: u32,
    /// Names treated as files in `/opt/extensions` without a spawned process
    /// (in-process test clients that must be "external" to get SHUTDOWN).
    pub external_names: Vec<String>,
    /// Extra variables for every spawned extension (function configuration).
    pub env: Vec<(String, String)>,
    /// FIFO the simulated agent writes to (an invocation may override it).
    pub pipe_path: Option<PathBuf>,
    /// Lambda Managed Instances: SHUTDOWN-only registration, schema
    /// `2025-01-29` only, no `runtimeDone`, `durationMs`-only reports, JSON
    /// logs with `requestId`, never frozen, `lambda-managed-instances` init
    /// type. Invokes stay sequential in this simulator.
    pub lmi: bool,
}

impl Default for SimConfig {
    fn default() -> SimConfig {
        SimConfig {
            function_name: "sim-function".into(),
            function_version: "$LATEST".into(),
            memory_mb: 128,
            region: "us-east-1".into(),
            account_id: "123456789012".into(),
            function_arn: None,
            handler: "index.handler".into(),
            initialization_type: Some("on-demand".into()),
            telemetry: TelemetryMode::Real,
            return_account_id: true,
            freeze: true,
            log_format: LogFormat::Text,
            timeout_reason: "timeout".into(),
            failure_reason: "failure".into(),
            init_failure_reason: "spindown".into(),
            delivery_backoff: Duration::from_millis(50),
            delivery_timeout: Duration::from_secs(1),
            telemetry_buffer_events: 10_000,
            replay_init_events: true,
            shutdown_budget: Duration::from_millis(2000),
            runtime_init: Duration::ZERO,
            runtime_shutdown: Duration::ZERO,
            runtime_memory_mb: 40,
            external_names: Vec::new(),
            env: Vec::new(),
            pipe_path: None,
            lmi: false,
        }
    }
}

impl SimConfig {
    /// The `invokedFunctionArn` of INVOKE events.
    pub fn arn(&self) -> String {
        match &self.function_arn {
            Some(arn) => arn.clone(),
            None => format!("arn:aws:lambda:{}:{}:function:{}", self.region, self.account_id, self.function_name),
        }
    }

    /// `initializationType` of Init records (absent → on-demand).
    pub(super) fn init_type(&self) -> String {
        self.env_init_type().unwrap_or_else(|| "on-demand".into())
    }

    /// `AWS_LAMBDA_INITIALIZATION_TYPE`, if set at all.
    pub(super) fn env_init_type(&self) -> Option<String> {
        if self.lmi {
            return Some("lambda-managed-instances".into());
        }
        self.initialization_type.clone()
    }

    /// LMI has only the JSON log format.
    pub(super) fn effective_log_format(&self) -> LogFormat {
        if self.lmi {
            LogFormat::Json
        } else {
            self.log_format
        }
    }
}

/// How the function ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Success,
    /// The runtime posts `/error` with this error type (no reset).
    Error(String),
    /// The function runs past its timeout (reset, reason `timeout`).
    Timeout,
    /// The runtime process dies (`Runtime.ExitError`; reset, reason `failure`).
    Crash,
}

/// One invocation.
#[derive(Clone, Debug)]
pub struct Invocation {
    pub request_id: String,
    /// How long the handler runs before the agent writes and it responds.
    pub duration: Duration,
    /// Function timeout; `deadlineMs` = start + timeout.
    pub timeout: Duration,
    /// `X-Amzn-Trace-Id` of the invoke; becomes `tracing` when present.
    pub trace_header: Option<String>,
    /// What the agent writes into the FIFO before the runtime responds.
    pub payloads: Vec<Vec<u8>>,
    /// All payloads in one write (the reader sees them glued).
    pub glued: bool,
    /// Overrides `SimConfig::pipe_path`.
    pub pipe_path: Option<PathBuf>,
    /// How long the agent waits on the FIFO before reporting `Blocked`.
    pub agent_timeout: Duration,
    /// Function log lines (a line that is a JSON object is sent as-is in JSON mode).
    pub logs: Vec<String>,
    pub outcome: Outcome,
}

impl Default for Invocation {
    fn default() -> Invocation {
        Invocation {
            request_id: uuid_v4(),
            duration: Duration::from_millis(5),
            timeout: Duration::from_secs(3),
            trace_header: None,
            payloads: Vec::new(),
            glued: false,
            pipe_path: None,
            agent_timeout: Duration::from_secs(1),
            logs: Vec::new(),
            outcome: Outcome::Success,
        }
    }
}
