//! One busy-function run: Init, then many invocations back to back, each
//! with a real agent payload, real freezing in between, then SHUTDOWN. It
//! measures post-runtime overhead (runtime response → every extension back in
//! `event/next`; the first invocation apart, see `BusyRun`), data freshness
//! (payload written → collector receipt), peak RSS, CPU per invocation and
//! SHUTDOWN → exit, and checks nothing was lost.

use crate::session::{Agent, Destination, Session, Spec, Usage};
use crate::stats::ms;
use lambda_sim::collector::{EventKind, Fault, FaultPlan, Snapshot};
use lambda_sim::lambda::{Invocation, SimConfig};
use lambda_sim::util::uuid_v4;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

/// How the end-of-invocation flush is configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// The default: adaptive.
    Adaptive,
    /// `NEW_RELIC_EXTENSION_SYNCHRONOUS_FLUSH=true`
    Synchronous,
    /// `NEW_RELIC_EXTENSION_PIPELINE_FLUSH=true`
    Pipeline,
}

impl Policy {
    pub const ALL: [Policy; 3] = [Policy::Adaptive, Policy::Synchronous, Policy::Pipeline];

    pub fn key(self) -> &'static str {
        match self {
            Policy::Adaptive => "adaptive",
            Policy::Synchronous => "synchronous",
            Policy::Pipeline => "pipeline",
        }
    }

    pub fn env(self) -> Vec<(String, String)> {
        let var = match self {
            Policy::Adaptive => return Vec::new(),
            Policy::Synchronous => "NEW_RELIC_EXTENSION_SYNCHRONOUS_FLUSH",
            Policy::Pipeline => "NEW_RELIC_EXTENSION_PIPELINE_FLUSH",
        };
        vec![(var.to_string(), "true".to_string())]
    }
}

/// Which binary and how it is configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    Ours(Policy),
    /// The floor extension as it is: register, subscribe, loop, exit (the
    /// cold-start floor).
    Floor,
    /// The floor extension also reading the agent pipe, so the agent never
    /// blocks (the busy-run floor). Its FIFO comes from a `mkfifo` child
    /// process, which would distort a cold-start figure.
    FloorReadingPipe,
}

impl Subject {
    pub fn env(self) -> Vec<(String, String)> {
        match self {
            Subject::Ours(p) => p.env(),
            Subject::Floor => Vec::new(),
            Subject::FloorReadingPipe => vec![("FLOOR_READ_PIPE".to_string(), "1".to_string())],
        }
    }

    pub fn is_floor(self) -> bool {
        matches!(self, Subject::Floor | Subject::FloorReadingPipe)
    }
}

/// What one run measured.
#[derive(Debug, Clone, Default)]
pub struct BusyRun {
    pub ready_ms: Option<f64>,
    /// Post-runtime overhead of every invocation but the first, ms.
    pub overhead_ms: Vec<f64>,
    /// The first invocation's overhead: a sandbox's first invocation has no
    /// history, so the adaptive policy treats it as sparse and delivers
    /// before `event/next` by design. Kept apart from the busy figures.
    pub first_overhead_ms: Option<f64>,
    /// Agent payload written → its request received by the collector (ours only).
    pub freshness_ms: Vec<f64>,
    pub peak_rss_kb: u64,
    pub cpu_per_invocation_ms: Option<f64>,
    /// Times the extension's threads were put on a CPU per invocation (wake-ups, and returns
    /// after a preemption; every thread is stopped and woken by each freeze).
    pub runs_per_invocation: Option<f64>,
    pub shutdown_to_exit_ms: Option<f64>,
    /// SHUTDOWN → the last request the collector received (the delivery part).
    pub shutdown_delivery_ms: Option<f64>,
    pub exited_cleanly: bool,
    /// Payloads and REPORT lines not delivered / delivered twice (ours only).
    pub lost: usize,
    pub duplicated: usize,
}

/// Runs `invocations` back to back against a collector that answers at
/// once or after `delay` (202, every request).
pub fn run(binary: &Path, subject: Subject, delay: Option<Duration>, invocations: usize) -> Result<BusyRun, String> {
    let sim = SimConfig { function_name: "bench-function".into(), ..SimConfig::default() };
    let spec = Spec {
        extension: binary,
        sim,
        env: subject.env(),
        destination: Destination::Simulated,
        init_timeout: Duration::from_secs(10),
    };
    let session = Session::start(spec)?;
    let collector = session.collector.clone().ok_or("no collector")?;
    if let Some(d) = delay {
        collector.set_faults(FaultPlan::Down(Fault::Delay(d)));
    }
    // Payloads are built before the clock starts: the agent's work is not the extension's.
    let mut agent = Agent::new(7);
    let plan: Vec<(String, Vec<u8>)> = (0..invocations)
        .map(|i| {
            let id = uuid_v4();
            let payload = agent.payload(i, &id);
            (id, payload)
        })
        .collect();
    let mut usage = Usage::default();
    usage.sample(&session.lambda);
    let mut out = BusyRun { ready_ms: session.ready_after().map(ms), ..BusyRun::default() };
    let mut written: Vec<(String, Instant)> = Vec::with_capacity(invocations);
    for (id, payload) in plan {
        let inv = Invocation {
            request_id: id.clone(),
            duration: Duration::from_millis(1),
            payloads: vec![payload],
            ..Invocation::default()
        };
        let result = session.lambda.invoke(inv).map_err(|e| format!("invocation failed: {e}"))?;
        if result.reset.is_some() {
            return Err(format!("the environment was reset during a busy run ({})", result.status));
        }
        let overhead = result.post_runtime_overhead.map(ms);
        if written.is_empty() {
            out.first_overhead_ms = overhead;
        } else {
            out.overhead_ms.extend(overhead);
        }
        written.push((id, result.responded_at));
        usage.sample(&session.lambda);
    }
    out.peak_rss_kb = usage.peak_rss_kb;
    out.cpu_per_invocation_ms = usage.cpu_per_invocation().map(ms);
    out.runs_per_invocation = usage.runs_per_invocation();
    let pids = session.lambda.pids();
    let started = Instant::now();
    let result = session.lambda.shutdown("spindown");
    let exit = result.extensions.iter().find(|e| pids.contains(&e.pid));
    out.shutdown_to_exit_ms = exit.and_then(|e| e.time_to_exit).map(ms);
    out.exited_cleanly = exit.is_some_and(|e| !e.killed && e.exit_code == Some(0));
    if !subject.is_floor() {
        collector.with(|snap| account(snap, &written, started, &mut out));
    }
    Ok(out)
}

/// Freshness, losses and the delivery part of SHUTDOWN, from the collector's record.
fn account(snap: &Snapshot, written: &[(String, Instant)], shutdown: Instant, out: &mut BusyRun) {
    let requests = snap.requests();
    let mut first_receipt: BTreeMap<&str, Instant> = BTreeMap::new();
    for e in snap.events_of(EventKind::AgentPayload) {
        if let (Some(id), Some(r)) = (e.request_id.as_deref(), requests.get(e.request_seq)) {
            first_receipt.entry(id).or_insert(r.at);
        }
    }
    let deliveries = snap.deliveries();
    for (id, at) in written {
        if let Some(got) = first_receipt.get(id.as_str()) {
            out.freshness_ms.push(ms(got.saturating_duration_since(*at)));
        }
        for kind in [EventKind::AgentPayload, EventKind::Report] {
            match deliveries.get(&(id.clone(), kind)).copied().unwrap_or(0) {
                0 => out.lost += 1,
                1 => {}
                _ => out.duplicated += 1,
            }
        }
    }
    out.shutdown_delivery_ms =
        requests.iter().filter(|r| r.at >= shutdown).map(|r| r.at).max().map(|at| ms(at.duration_since(shutdown)));
}
