//! A simulated AWS Lambda execution environment for testing an external
//! extension (spec: lambda-platform.md §8). One `Lambda` plays the platform
//! and the runtime in-process: it serves the Extensions and Telemetry APIs on
//! 127.0.0.1, spawns the extension processes with the platform environment,
//! runs Init, invokes (INVOKE events, telemetry, the agent's FIFO write),
//! freezes the extensions with SIGSTOP between invokes, resets after
//! timeouts and crashes, and runs the shutdown sequence. Every wait has a
//! timeout and returns an error instead of hanging; dropping a `Lambda`
//! SIGKILLs every process it started. It never talks to the internet.

mod config;
mod delivery;
mod extensions_api;
mod freeze;
mod init;
mod invoke;
mod process;
mod records;
mod results;
mod shutdown;
mod signal;
mod state;
mod subscribe;

pub use config::{Invocation, LogFormat, Outcome, SimConfig, TelemetryMode};
pub use results::{
    ExtensionExit, ExtensionInit, InitReport, InvokeResult, RegisteredExtension, ShutdownResult, SimError,
    SpawnedExtension, SubscriptionStats,
};

use crate::http::{Reply, Request, Server};
use state::{Phase, Shared, State};
use std::io;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One simulated execution environment. All methods take `&self`; the
/// lifecycle operations (`wait_init`, `invoke`, `shutdown`) run one at a time.
pub struct Lambda {
    shared: Arc<Shared>,
    server: Server,
    /// Serialises the lifecycle operations.
    op: Mutex<()>,
}

impl Lambda {
    /// Binds 127.0.0.1:0 and opens the Init phase (`initStart` is emitted and
    /// kept for replay to subscribers).
    pub fn start(config: SimConfig) -> io::Result<Lambda> {
        let shared = Arc::new(Shared::new(config));
        let handler_state = Arc::clone(&shared);
        let handler = Arc::new(move |req: Request| -> Reply { extensions_api::handle(&handler_state, req) });
        let server = Server::start("127.0.0.1:0", handler)?;
        shared.lock().runtime_api = format!("127.0.0.1:{}", server.addr().port());
        init::begin(&shared, "init");
        Ok(Lambda { shared, server, op: Mutex::new(()) })
    }

    /// `host:port` of the simulated APIs (`AWS_LAMBDA_RUNTIME_API`).
    pub fn runtime_api(&self) -> String {
        format!("127.0.0.1:{}", self.server.addr().port())
    }

    pub fn config(&self) -> &SimConfig {
        &self.shared.config
    }

    /// Starts an extension process (its own process group, the §1
    /// environment plus `env`); only during the cold Init. The file's
    /// basename is the name it must register with. It is re-executed after
    /// every reset.
    pub fn spawn_extension(&self, path: &Path, env: &[(String, String)]) -> io::Result<SpawnedExtension> {
        {
            let mut st = self.shared.lock();
            if st.phase != Phase::Init || st.init_phase != "init" {
                return Err(io::Error::other("spawn_extension is only allowed during the cold Init"));
            }
            st.specs.push((path.to_path_buf(), env.to_vec()));
        }
        process::spawn(&self.shared, path, env)
    }

    /// Waits until every spawned process registered and every extension
    /// called `next`; emits `initRuntimeDone` and `initReport`, closes
    /// registration and subscription, then freezes. On failure
    /// (`Extension.Crash`, `init/error`, timeout) the environment is reset
    /// and the next invoke re-inits.
    pub fn wait_init(&self, timeout: Duration) -> Result<InitReport, SimError> {
        let _op = self.op.lock().unwrap_or_else(|e| e.into_inner());
        init::wait(&self.shared, timeout, true)
    }

    /// Runs one invocation (see `Invocation`); after a reset it first runs a
    /// suppressed re-init (`phase: "invoke"`) within the invoke's timeout.
    pub fn invoke(&self, invocation: Invocation) -> Result<InvokeResult, SimError> {
        let _op = self.op.lock().unwrap_or_else(|e| e.into_inner());
        invoke::invoke(&self.shared, &invocation)
    }

    /// The shutdown sequence with `shutdownReason` = `reason` (any spelling).
    /// After it the environment is gone: `invoke` returns `SimError::ShutDown`.
    pub fn shutdown(&self, reason: &str) -> ShutdownResult {
        let _op = self.op.lock().unwrap_or_else(|e| e.into_inner());
        let phase = self.shared.lock().phase;
        let result = match phase {
            Phase::Dead | Phase::NeedsInit => {
                ShutdownResult { reason: reason.to_string(), deadline_ms: 0, extensions: Vec::new() }
            }
            _ => shutdown::sequence(&self.shared, reason),
        };
        self.shared.lock().phase = Phase::Dead;
        result
    }

    /// Runs `hook` after every freeze, once the processes are stopped (e.g.
    /// close the collector's idle connections, as a real freeze does).
    pub fn on_freeze(&self, hook: impl Fn() + Send + Sync + 'static) {
        self.shared.lock().freeze_hook = Some(Arc::new(hook));
    }

    /// True while the environment is frozen (delivery held, groups stopped).
    pub fn is_frozen(&self) -> bool {
        self.shared.lock().frozen
    }

    /// True when every live extension process is in the stopped state (`T`).
    pub fn extensions_stopped(&self) -> bool {
        let pids = self.shared.lock().live_pids();
        !pids.is_empty() && pids.iter().all(|&p| matches!(signal::proc_state(p), Some('T' | 't')))
    }

    /// Pids (= process group ids) of the live extension processes.
    pub fn pids(&self) -> Vec<u32> {
        self.shared.lock().live_pids()
    }

    /// Sum of the live extension processes' peak RSS (`VmHWM`), kB.
    pub fn peak_rss_kb(&self) -> u64 {
        self.pids().iter().filter_map(|&p| signal::peak_rss_kb(p)).sum()
    }

    /// Every stdout/stderr line of every extension process so far.
    pub fn output(&self) -> Vec<String> {
        self.shared.lock().output.clone()
    }

    /// Waits until some output line contains `needle`.
    pub fn wait_output(&self, needle: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let st = self.shared.lock();
        self.shared.wait_for(st, deadline, |s| s.output.iter().any(|l| l.contains(needle))).1
    }

    /// Registrations of the current generation.
    pub fn registered(&self) -> Vec<RegisteredExtension> {
        let st = self.shared.lock();
        st.extensions
            .iter()
            .map(|e| RegisteredExtension {
                name: e.name.clone(),
                id: e.id.clone(),
                events: e.events.clone(),
                external: e.external,
            })
            .collect()
    }

    /// Counters of every telemetry subscription so far (all generations).
    pub fn telemetry_stats(&self) -> Vec<SubscriptionStats> {
        self.shared.lock().subs.iter().map(delivery::stats).collect()
    }

    /// Waits until `done` holds for the subscription counters.
    pub fn wait_telemetry(&self, timeout: Duration, done: impl Fn(&[SubscriptionStats]) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        let st = self.shared.lock();
        let stats = |s: &State| s.subs.iter().map(delivery::stats).collect::<Vec<_>>();
        self.shared.wait_for(st, deadline, |s| done(&stats(s))).1
    }

    /// Emits one `function` log record now (per `SimConfig::log_format`).
    pub fn emit_function_log(&self, line: &str) {
        let mut st = self.shared.lock();
        let request_id = st.current_request.clone().unwrap_or_default();
        let record = invoke::log_record(self.shared.config.effective_log_format(), line, &request_id);
        delivery::emit(&self.shared, &mut st, "function", record);
    }
}

impl Drop for Lambda {
    fn drop(&mut self) {
        let mut st = self.shared.lock();
        st.closed = true;
        for pid in st.live_pids() {
            signal::group(pid, signal::SIGKILL);
        }
        self.shared.cv.notify_all();
    }
}
