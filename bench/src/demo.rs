//! `./build.sh demo`: the real extension binary run as Lambda would run it,
//! in the simulator with real freezing: a simulated New Relic agent writing
//! real Python agent payloads, a few dozen invocations with function logs, a
//! burst of collector errors, one function timeout (a reset and re-init), and
//! SHUTDOWN. It prints progress while it runs and then a report counting
//! what the collector received against what was produced. It owns the
//! scenario; the accounting is in `checks`, the printing in `print`.

pub mod checks;
pub mod print;

use crate::session::{Agent, Destination, Session, Spec, Usage};
use crate::stats::ms;
use checks::{Accounting, Produced, Received};
use lambda_sim::collector::Fault;
use lambda_sim::lambda::{Invocation, Outcome, ShutdownResult, SimConfig};
use lambda_sim::util::{uuid_v4, Rng};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Whether a demo in which no function log line reaches New Relic fails.
/// On since log forwarding shipped; `false` would tolerate a build without
/// it (reported as "log forwarding: not delivered"). Independently of this,
/// as soon as any log line arrives every line must arrive exactly once.
pub const REQUIRE_LOGS: bool = true;

/// Function log lines per invocation.
const LOG_LINES: usize = 3;
/// The collector's error burst: what the next requests get.
const BURST: [Fault; 3] = [Fault::Status(503), Fault::Status(429), Fault::Status(503)];
/// The function timeout of the invocation that runs into it.
const TIMEOUT: Duration = Duration::from_secs(1);
/// Idle time between invocations (the environment is frozen meanwhile).
const GAP: Duration = Duration::from_millis(20);

#[derive(Debug, Clone)]
pub struct DemoOptions {
    pub extension: PathBuf,
    pub invocations: usize,
    pub destination: Destination,
    pub require_logs: bool,
    /// Print a progress line every this many invocations.
    pub progress_every: usize,
}

impl DemoOptions {
    pub fn new(extension: PathBuf) -> DemoOptions {
        DemoOptions {
            extension,
            invocations: 36,
            destination: Destination::Simulated,
            require_logs: REQUIRE_LOGS,
            progress_every: 4,
        }
    }
}

/// Everything the demo measured and concluded.
#[derive(Debug)]
pub struct DemoReport {
    pub destination: Destination,
    pub invocations: usize,
    pub fixtures: usize,
    /// `None` when sending to the real New Relic (nothing to count against).
    pub accounting: Option<Accounting>,
    pub init: Option<Duration>,
    pub reinit: Option<Duration>,
    /// Post-runtime overhead of each invocation that completed, ms.
    pub overhead_ms: Vec<f64>,
    pub peak_rss_kb: u64,
    pub init_cpu: Option<Duration>,
    pub invocation_cpu: (Duration, usize),
    pub shutdown: Option<ExitFigures>,
    pub reset: Option<ExitFigures>,
    /// The extension's SHUTDOWN summary lines (one per process generation).
    pub summaries: Vec<String>,
    /// Every reason for a non-zero exit.
    pub problems: Vec<String>,
}

impl DemoReport {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// How the extension left one shutdown sequence.
#[derive(Debug, Clone)]
pub struct ExitFigures {
    pub reason: String,
    pub time_to_exit: Option<Duration>,
    pub exit_code: Option<i32>,
    pub killed: bool,
}

impl ExitFigures {
    fn of(result: &ShutdownResult, pids: &[u32]) -> Option<ExitFigures> {
        let e = result.extensions.iter().find(|e| pids.contains(&e.pid))?;
        Some(ExitFigures {
            reason: result.reason.clone(),
            time_to_exit: e.time_to_exit,
            exit_code: e.exit_code,
            killed: e.killed,
        })
    }

    fn clean(&self) -> bool {
        !self.killed && self.exit_code == Some(0)
    }
}

/// Runs the whole demo, writing progress lines to `out`.
pub fn run(opts: &DemoOptions, out: &mut dyn Write) -> Result<DemoReport, String> {
    let sim = SimConfig { function_name: "newrelic-demo-function".into(), memory_mb: 256, ..SimConfig::default() };
    let env = vec![("NEW_RELIC_EXTENSION_SEND_LOGS".to_string(), "function".to_string())];
    let spec = Spec {
        extension: &opts.extension,
        sim,
        env,
        destination: opts.destination,
        init_timeout: Duration::from_secs(10),
    };
    let session = Session::start(spec)?;
    if let Some(c) = &session.collector {
        // A freeze drops idle keep-alive connections, as it may in Lambda.
        let c = Arc::clone(c);
        session.lambda.on_freeze(move || c.close_idle_connections());
    }
    let ready = session.ready_after();
    let _ = writeln!(out, "  Init: extension ready (spawn → first event/next) in {:.2} ms", ready.map_or(f64::NAN, ms));
    let mut state = Run::new(opts, Agent::new(0x6e72));
    state.usage.sample(&session.lambda);
    for i in 0..opts.invocations {
        state.invocation(&session, i, out)?;
    }
    let pids = session.lambda.pids();
    let _ = writeln!(out, "  SHUTDOWN (spindown)");
    let result = session.lambda.shutdown("spindown");
    state.shutdown = ExitFigures::of(&result, &pids);
    Ok(state.finish(&session))
}

/// The scenario's running state.
struct Run<'a> {
    opts: &'a DemoOptions,
    agent: Agent,
    rng: Rng,
    produced: Produced,
    usage: Usage,
    overhead_ms: Vec<f64>,
    reinit: Option<Duration>,
    reset: Option<ExitFigures>,
    shutdown: Option<ExitFigures>,
    window_started: Instant,
}

impl<'a> Run<'a> {
    fn new(opts: &'a DemoOptions, agent: Agent) -> Run<'a> {
        Run {
            opts,
            agent,
            rng: Rng::seeded(42),
            produced: Produced::default(),
            usage: Usage::default(),
            overhead_ms: Vec::new(),
            reinit: None,
            reset: None,
            shutdown: None,
            window_started: Instant::now(),
        }
    }

    fn burst_at(&self) -> usize {
        self.opts.invocations / 3
    }

    fn timeout_at(&self) -> usize {
        self.opts.invocations * 2 / 3
    }

    /// Invocation number `i`: maybe a collector burst first, then the invoke.
    fn invocation(&mut self, session: &Session, i: usize, out: &mut dyn Write) -> Result<(), String> {
        let n = self.opts.invocations;
        if let (true, Some(c)) = (i == self.burst_at(), &session.collector) {
            c.push_faults(BURST.to_vec());
            let _ = writeln!(out, "  [{:>3}/{n}] collector error burst: the next 3 requests get 503, 429, 503", i + 1);
        }
        let request_id = uuid_v4();
        let logs: Vec<String> =
            (1..=LOG_LINES).map(|k| format!("demo invocation {} log line {k} ({request_id})", i + 1)).collect();
        self.produced.logs.extend(logs.iter().cloned());
        self.produced.reports.push(request_id.clone());
        let timeout = i == self.timeout_at();
        let invocation = if timeout {
            self.produced.timeouts.push(request_id.clone());
            Invocation { request_id, timeout: TIMEOUT, logs, outcome: Outcome::Timeout, ..Invocation::default() }
        } else {
            self.produced.payloads.push(request_id.clone());
            let payload = self.agent.payload(i, &request_id);
            let duration = Duration::from_millis(5 + self.rng.below(25));
            Invocation { request_id, duration, payloads: vec![payload], logs, ..Invocation::default() }
        };
        let pids = session.lambda.pids();
        let result = session.lambda.invoke(invocation).map_err(|e| format!("invocation {} failed: {e}", i + 1))?;
        if result.agent_blocked || result.agent_error.is_some() {
            let why = result.agent_error.unwrap_or_else(|| "nobody read the pipe".into());
            let _ = writeln!(out, "  [{:>3}/{n}] the agent could not write its payload: {why}", i + 1);
        }
        if let Some(init) = &result.init {
            self.reinit = init.extensions.iter().find_map(|e| e.ready_after);
            let _ = writeln!(
                out,
                "  [{:>3}/{n}] re-init inside this invocation: extension ready in {:.2} ms",
                i + 1,
                self.reinit.map_or(f64::NAN, ms)
            );
        }
        self.overhead_ms.extend(result.post_runtime_overhead.map(ms));
        match &result.reset {
            Some(reset) => {
                self.reset = ExitFigures::of(reset, &pids);
                let exit = self.reset.as_ref().and_then(|r| r.time_to_exit).map_or(f64::NAN, ms);
                let _ = writeln!(
                    out,
                    "  [{:>3}/{n}] function timed out after {:.1} s → reset: SHUTDOWN({}) to the extension, exit in {exit:.2} ms",
                    i + 1,
                    TIMEOUT.as_secs_f64(),
                    reset.reason
                );
            }
            None => self.usage.sample(&session.lambda),
        }
        if (i + 1).is_multiple_of(self.opts.progress_every.max(1)) || i + 1 == n {
            self.progress(session, i, out);
        }
        std::thread::sleep(GAP);
        Ok(())
    }

    fn progress(&mut self, session: &Session, i: usize, out: &mut dyn Write) {
        let n = self.opts.invocations;
        let recent: Vec<f64> = self.overhead_ms.iter().rev().take(self.opts.progress_every).copied().collect();
        let max = recent.iter().copied().fold(0.0, f64::max);
        let collector = match &session.collector {
            Some(c) => {
                let k = c.counters();
                format!(
                    "collector: {} requests ({} failed on purpose), {} events",
                    k.requests, k.failed_requests, k.events_delivered
                )
            }
            None => "sending to New Relic".to_string(),
        };
        let secs = self.window_started.elapsed().as_secs_f64();
        let _ = writeln!(out, "  [{:>3}/{n}] overhead max {max:.2} ms · {collector} · {secs:.1} s", i + 1);
    }

    fn finish(self, session: &Session) -> DemoReport {
        let accounting = session.collector.as_ref().map(|c| {
            let got = c.with(Received::of);
            Accounting::of(&got, &self.produced, self.opts.require_logs)
        });
        let summaries = session.summary_lines();
        let mut problems = accounting.as_ref().map(Accounting::problems).unwrap_or_default();
        for (what, exit) in [("SHUTDOWN", &self.shutdown), ("the timeout reset", &self.reset)] {
            match exit {
                Some(e) if !e.clean() => problems.push(format!(
                    "the extension did not exit cleanly after {what} (code {:?}, killed {})",
                    e.exit_code, e.killed
                )),
                None => problems.push(format!("no exit record for {what}")),
                Some(_) => {}
            }
        }
        if summaries.is_empty() {
            problems.push("the extension printed no summary line at SHUTDOWN".into());
        }
        for line in summaries.iter().filter(|l| !l.contains("dropped 0")) {
            problems.push(format!("the extension dropped data: {line}"));
        }
        DemoReport {
            destination: self.opts.destination,
            invocations: self.opts.invocations,
            fixtures: self.agent.fixture_count(),
            accounting,
            init: session.ready_after(),
            reinit: self.reinit,
            overhead_ms: self.overhead_ms,
            peak_rss_kb: self.usage.peak_rss_kb,
            init_cpu: self.usage.init_cpu(),
            invocation_cpu: self.usage.invocation_cpu(),
            shutdown: self.shutdown,
            reset: self.reset,
            summaries,
            problems,
        }
    }
}
