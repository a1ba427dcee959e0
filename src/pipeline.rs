//! The pipeline thread: the single owner of telemetry state. It receives every [`Event`],
//! turns agent payloads, REPORT lines and synthesized error lines into queued telemetry
//! events, and hands batches to the sender thread (the only one doing network I/O), so it
//! never blocks on New Relic and always keeps draining the channel. Delivery bookkeeping
//! (flushes, shutdown, background retries) lives in `pipeline/delivery.rs`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crossbeam_channel::{select, Receiver, Sender as Tx};

use crate::config::{FlushMode, LogSelection};
use crate::event::{Event, FlushRequest, ShutdownReason, ShutdownRequest};
use crate::invocations::{Invocations, Synth};
use crate::logs::{self, LogOutcome, LogQueue, Mapper};
use crate::newrelic::{self, Context, EventIds, TelemetryEvent};
use crate::payload::{self, PayloadInfo};
use crate::policy::Wait;
use crate::queue::Queue;
use crate::sender::{DropReason, Outcome, Sender, SenderConfig};
use crate::stats::Stats;
use crate::telemetry::{Record, Status};
use crate::timefmt::now_ms;

mod delivery;

/// Telemetry events waiting for delivery, at most (oldest dropped first beyond this).
pub const QUEUE_MAX_BYTES: usize = 8 * 1024 * 1024;

pub struct PipelineConfig {
    pub context: Context,
    pub sender: SenderConfig,
    /// Whether the Telemetry API subscription succeeded (else `runtimeDone`/reports never come).
    pub telemetry: bool,
    pub flush_mode: FlushMode,
    pub max_data_age: Duration,
    /// Time budget of one background delivery (`NEW_RELIC_DATA_COLLECTION_TIMEOUT`).
    pub budget: Duration,
    pub logs: LogSettings,
    /// Asks the agent pipe reader to hand over what it holds (none without a pipe).
    pub drain: Option<crate::agent_pipe::Drain>,
    /// Threads the pipeline thread starts before its first event (see [`Starter`]).
    pub starters: Vec<Starter>,
}

/// A helper thread to start, and what it is called in the warning if it cannot be. The main
/// thread hands these over instead of starting them itself, so that it reaches the first
/// `event/next` sooner.
pub type Starter = (&'static str, Box<dyn FnOnce() -> std::io::Result<()> + Send>);

/// What log forwarding needs from the configuration.
#[derive(Debug, Clone, Default)]
pub struct LogSettings {
    pub selection: LogSelection,
    pub collect_trace_id: bool,
    pub tags: Vec<(String, String)>,
    pub labels: Vec<(String, String)>,
}

/// One delivery handed to the sender thread.
enum Job {
    Telemetry { ctx: Context, events: Vec<TelemetryEvent>, deadline: Instant },
    Logs { common: logs::Common, entries: Vec<logs::Queued>, deadline: Instant },
}

enum Done {
    Telemetry(Outcome),
    Logs(LogOutcome),
}

struct PendingFlush {
    request: FlushRequest,
    /// Everything queued below these sequence numbers (telemetry, logs) must be delivered;
    /// `None` while waiting for the invocation's data.
    target: Option<(u64, u64)>,
    wait: Wait,
    gave_up: bool,
    /// `runtimeDone` came before the agent payload: the pipe reader was asked to hand over what
    /// it holds (the agent writes before the runtime responds), and the flush waits for that.
    drained_pipe: bool,
}

struct PendingShutdown {
    request: ShutdownRequest,
    grace_until: Instant,
}

enum InFlight {
    Telemetry {
        /// Event id → (sequence number, queued at), to requeue failures where they were.
        origin: HashMap<String, (u64, Instant)>,
        min_seq: u64,
    },
    Logs {
        min_seq: u64,
        count: usize,
    },
}

impl InFlight {
    /// How many events or log entries the job carries.
    fn len(&self) -> usize {
        match self {
            InFlight::Telemetry { origin, .. } => origin.len(),
            InFlight::Logs { count, .. } => *count,
        }
    }
}

/// Starts the pipeline thread, which starts the sender thread and the `starters`.
pub fn spawn(mut config: PipelineConfig, events: Receiver<Event>) -> std::io::Result<()> {
    let (job_tx, job_rx) = crossbeam_channel::bounded::<Job>(1);
    let (done_tx, done_rx) = crossbeam_channel::bounded::<Done>(1);
    let sender_config = config.sender.clone();
    let start_sender = move || {
        std::thread::Builder::new().name("nr-sender".into()).spawn(move || {
            crate::sys::lower_this_thread();
            let sender = Sender::new(sender_config);
            for job in job_rx {
                let done = match job {
                    Job::Telemetry { ctx, events, deadline } => {
                        Done::Telemetry(sender.send_telemetry(&ctx, events, deadline))
                    }
                    Job::Logs { common, entries, deadline } => {
                        Done::Logs(logs::deliver(&common, entries, |body| sender.send_logs(body, deadline)))
                    }
                };
                if done_tx.send(done).is_err() {
                    break;
                }
            }
        })
    };
    let mut starters = std::mem::take(&mut config.starters);
    starters.insert(0, ("the sender", Box::new(move || start_sender().map(drop))));
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let mut pipeline = Pipeline {
        mapper: Mapper::new(config.logs.selection),
        log_queue: LogQueue::new(logs::QUEUE_MAX_BYTES),
        config,
        queue: Queue::new(QUEUE_MAX_BYTES),
        invocations: Invocations::default(),
        ids: EventIds::from_process(nanos),
        flush: None,
        shutdown: None,
        in_flight: None,
        failures: 0,
        retry_at: Instant::now(),
        next_background: Instant::now(),
        last_job_telemetry: false,
        last_telemetry: Instant::now(),
        init_reported: false,
        pipe_drained: true,
        stats: Stats::default(),
    };
    std::thread::Builder::new().name("nr-pipeline".into()).spawn(move || {
        for (what, start) in starters {
            if let Err(e) = start() {
                crate::error!("cannot start {what} ({e}); the extension carries on without it");
            }
        }
        pipeline.run(events, job_tx, done_rx)
    })?;
    Ok(())
}

struct Pipeline {
    config: PipelineConfig,
    queue: Queue<TelemetryEvent>,
    /// Log forwarding: records → entries, and the entries waiting for delivery.
    mapper: Mapper,
    log_queue: LogQueue,
    invocations: Invocations,
    ids: EventIds,
    flush: Option<PendingFlush>,
    shutdown: Option<PendingShutdown>,
    in_flight: Option<InFlight>,
    /// Deliveries that failed in a row, and when background delivery may try again.
    failures: u32,
    retry_at: Instant,
    /// Background delivery (nobody waiting for it) starts no sooner than this: see
    /// [`delivery::BACKGROUND_INTERVAL`].
    next_background: Instant,
    /// The last job carried telemetry (the next one carries logs if any wait).
    last_job_telemetry: bool,
    /// When the last Telemetry API batch arrived (SHUTDOWN waits for the stream to go quiet).
    last_telemetry: Instant,
    /// `platform.initReport` (or `restoreReport`) has arrived: Init's log lines are all in.
    init_reported: bool,
    /// False from SHUTDOWN until the pipe reader has handed over everything it held.
    pipe_drained: bool,
    stats: Stats,
}

impl Pipeline {
    fn run(&mut self, events: Receiver<Event>, jobs: Tx<Job>, done: Receiver<Done>) {
        loop {
            let timeout =
                self.next_timer().map_or(Duration::from_secs(3600), |t| t.saturating_duration_since(Instant::now()));
            select! {
                recv(events) -> msg => match msg {
                    Ok(event) => self.on_event(event),
                    // The lifecycle is gone: the process is exiting.
                    Err(_) => return,
                },
                recv(done) -> msg => if let Ok(outcome) = msg { self.on_done(outcome, Instant::now()) },
                default(timeout) => {},
            }
            self.progress(Instant::now(), &jobs);
        }
    }

    /// The ids inside a payload the reader did not look into, read only when they matter. The
    /// agent writes its payload before the runtime responds, and `event/next` waits for it, so
    /// the first payload that arrives while the current invocation's flush waits for one is
    /// that invocation's: reading its ids (base64, inflate, scan: about 60 % of the extension's
    /// instructions per invocation) would only confirm it. Anything else (a second payload, one
    /// between invocations) is read and attributed by its request id. Only a payload so late
    /// that its own invocation stopped waiting for it, read first in the next one, is taken
    /// for the wrong one: that flush ends one payload early; the payload is forwarded as is.
    fn payload_info(&self, read: Option<PayloadInfo>, text: &str) -> PayloadInfo {
        if let Some(info) = read {
            return info;
        }
        // A flush is always the current invocation's (it comes with that INVOKE).
        let awaited = self.flush.as_ref().is_some_and(|f| f.target.is_none())
            && !self.invocations.current().is_some_and(|i| i.payload_seen);
        if awaited {
            PayloadInfo::default()
        } else {
            payload::inspect(text.as_bytes())
        }
    }

    fn on_event(&mut self, event: Event) {
        match event {
            Event::Invoke(invoke, request) => {
                self.config.context.invoked_function_arn.clone_from(&invoke.invoked_function_arn);
                self.invocations.on_invoke(&invoke);
                if let Some(old) = self.flush.take() {
                    old.request.reply.send(());
                }
                self.flush = Some(PendingFlush {
                    request,
                    target: None,
                    wait: Wait::ForDelivery,
                    gave_up: false,
                    drained_pipe: false,
                });
            }
            Event::AgentPayload(payload) => {
                let info = self.payload_info(payload.info, &payload.text);
                let id = info.request_id.or_else(|| self.invocations.current_id().map(str::to_string));
                if let Some(id) = id {
                    let inv = self.invocations.entry(&id);
                    inv.payload_seen = true;
                    if inv.trace_id.is_none() {
                        inv.trace_id = info.trace_id;
                    }
                }
                self.enqueue(payload.received_ms, payload.text);
            }
            Event::Telemetry(batch) => {
                self.last_telemetry = Instant::now();
                self.stats.telemetry_malformed += batch.malformed as u64;
                self.stats.telemetry_unknown += batch.unknown as u64;
                self.stats.telemetry_oversized += batch.oversized as u64;
                for record in batch.records {
                    self.on_record(record);
                }
            }
            Event::PipeDrained => self.pipe_drained = true,
            Event::Shutdown(request) => {
                self.pipe_drained = !self.config.drain.as_ref().is_some_and(|d| d.request());
                self.synthesize_at_shutdown(&request.reason);
                let grace_until = (Instant::now() + delivery::SHUTDOWN_TELEMETRY_GRACE).min(request.deadline);
                // Last chance: a background retry pause must not keep us from trying.
                self.retry_at = Instant::now();
                self.shutdown = Some(PendingShutdown { request, grace_until });
            }
        }
    }

    fn on_record(&mut self, record: Record) {
        if self.config.logs.selection.any() {
            if let Some(entry) = self.mapper.map(&record, now_ms()) {
                let dropped = self.log_queue.push(entry, Instant::now());
                self.stats.drop(DropReason::QueueFull, dropped);
            }
        }
        match record {
            Record::RuntimeDone { request_id, status, error_type, duration_ms, .. } => {
                let inv = self.invocations.entry(&request_id);
                inv.runtime_done = true;
                inv.succeeded = status == Status::Success;
                let seconds = duration_ms.map(|ms| ms / 1000.0).or_else(|| self.seconds_since_invoke(&request_id));
                match status {
                    Status::Timeout => self.synthesize(&request_id, Synth::Timeout, seconds, None),
                    Status::Error | Status::Failure => {
                        self.synthesize(&request_id, Synth::Failure, seconds, error_type.as_deref())
                    }
                    _ => {}
                }
            }
            Record::Report { time_ms, request_id, status, metrics, .. } => {
                self.invocations.entry(&request_id).report_seen = true;
                self.enqueue(time_ms.unwrap_or_else(now_ms), newrelic::report_line(&request_id, &metrics));
                if status == Status::Timeout {
                    let seconds =
                        metrics.duration_ms.map(|ms| ms / 1000.0).or_else(|| self.seconds_since_invoke(&request_id));
                    self.synthesize(&request_id, Synth::Timeout, seconds, None);
                }
            }
            // The end of Init (or of a SnapStart restore): every line Init wrote came before it.
            Record::Platform { kind, .. } if kind == "platform.initReport" || kind == "platform.restoreReport" => {
                self.init_reported = true;
            }
            // Log records and other platform events matter only to log forwarding.
            Record::Start { .. } | Record::Log { .. } | Record::Platform { .. } => {}
        }
    }

    fn seconds_since_invoke(&self, request_id: &str) -> Option<f64> {
        let invoke = self.invocations.get(request_id)?.invoke.as_ref()?;
        Some(invoke.received.elapsed().as_secs_f64())
    }

    fn synthesize(&mut self, request_id: &str, kind: Synth, seconds: Option<f64>, error_type: Option<&str>) {
        if !self.invocations.claim(request_id, kind) {
            return;
        }
        let now = now_ms();
        let seconds = seconds.unwrap_or(0.0);
        let line = match kind {
            Synth::Timeout => newrelic::timeout_line(now, request_id, seconds),
            Synth::Failure => newrelic::failure_line(now, request_id, seconds, error_type.unwrap_or("Unknown")),
            Synth::PlatformFault => newrelic::platform_fault_line(request_id),
        };
        self.enqueue(now, line);
    }

    fn synthesize_at_shutdown(&mut self, reason: &ShutdownReason) {
        let Some(current) = self.invocations.current() else { return };
        let id = current.request_id.clone();
        let finished = current.succeeded;
        match reason {
            ShutdownReason::Timeout if !finished => {
                let seconds = self.seconds_since_invoke(&id);
                self.synthesize(&id, Synth::Timeout, seconds, None);
            }
            ShutdownReason::Failure => self.synthesize(&id, Synth::PlatformFault, None, None),
            _ => {}
        }
    }

    fn enqueue(&mut self, timestamp_ms: u64, message: String) {
        let event = TelemetryEvent { id: self.ids.next_id(), timestamp_ms, message };
        let dropped = self.queue.push(event, Instant::now());
        self.stats.drop(DropReason::QueueFull, dropped);
    }
}
