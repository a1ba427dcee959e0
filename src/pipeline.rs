//! The pipeline thread: the single owner of telemetry state. It receives every [`Event`],
//! turns agent payloads, REPORT lines and synthesized error lines into queued telemetry
//! events, and hands batches to the sender thread (the only one doing network I/O), so it
//! never blocks on New Relic and always keeps draining the channel. Flush and shutdown are
//! requests carrying a deadline and a reply; they are answered when their data is delivered,
//! or when the deadline comes, whichever is first.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crossbeam_channel::{select, Receiver, Sender as Tx};

use crate::event::{Event, FlushRequest, ShutdownReason, ShutdownRequest};
use crate::invocations::{Invocations, Synth};
use crate::newrelic::{self, Context, EventIds, TelemetryEvent};
use crate::queue::Queue;
use crate::sender::{Outcome, Sender, SenderConfig};
use crate::stats::Stats;
use crate::telemetry::{Record, Status};
use crate::timefmt::now_ms;

/// Telemetry events waiting for delivery, at most (oldest dropped first beyond this).
pub const QUEUE_MAX_BYTES: usize = 8 * 1024 * 1024;
/// Uncompressed message bytes handed to the sender per job; it splits by compressed size.
const JOB_MAX_BYTES: usize = 3 * 1024 * 1024;
/// Do not start a delivery attempt with less time than this left before its deadline.
const MIN_ATTEMPT_WINDOW: Duration = Duration::from_millis(30);
/// At SHUTDOWN, how long to wait for `platform.report` lines still buffered by Lambda.
const SHUTDOWN_TELEMETRY_GRACE: Duration = Duration::from_millis(500);

pub struct PipelineConfig {
    pub context: Context,
    pub sender: SenderConfig,
    /// Whether the Telemetry API subscription succeeded (else `runtimeDone`/reports never come).
    pub telemetry: bool,
}

struct Job {
    ctx: Context,
    events: Vec<TelemetryEvent>,
    deadline: Instant,
}

struct PendingFlush {
    request: FlushRequest,
    /// Everything queued below this sequence number must be delivered; `None` while waiting
    /// for the invocation's data.
    target: Option<u64>,
    gave_up: bool,
}

struct PendingShutdown {
    request: ShutdownRequest,
    grace_until: Instant,
}

struct InFlight {
    seqs: HashMap<String, u64>,
    min_seq: u64,
}

/// Starts the sender thread and the pipeline thread.
pub fn spawn(config: PipelineConfig, events: Receiver<Event>) -> std::io::Result<()> {
    let (job_tx, job_rx) = crossbeam_channel::bounded::<Job>(1);
    let (done_tx, done_rx) = crossbeam_channel::bounded::<Outcome>(1);
    let sender = Sender::new(config.sender.clone());
    std::thread::Builder::new().name("nr-sender".into()).spawn(move || {
        for job in job_rx {
            if done_tx.send(sender.send_telemetry(&job.ctx, job.events, job.deadline)).is_err() {
                break;
            }
        }
    })?;
    let mut pipeline = Pipeline {
        ctx: config.context,
        telemetry: config.telemetry,
        queue: Queue::new(QUEUE_MAX_BYTES),
        invocations: Invocations::default(),
        ids: EventIds::from_process(
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos()),
        ),
        flush: None,
        shutdown: None,
        in_flight: None,
        stats: Stats::default(),
    };
    std::thread::Builder::new().name("nr-pipeline".into()).spawn(move || pipeline.run(events, job_tx, done_rx))?;
    Ok(())
}

struct Pipeline {
    ctx: Context,
    telemetry: bool,
    queue: Queue,
    invocations: Invocations,
    ids: EventIds,
    flush: Option<PendingFlush>,
    shutdown: Option<PendingShutdown>,
    in_flight: Option<InFlight>,
    stats: Stats,
}

impl Pipeline {
    fn run(&mut self, events: Receiver<Event>, jobs: Tx<Job>, done: Receiver<Outcome>) {
        loop {
            let timeout =
                self.next_timer().map_or(Duration::from_secs(3600), |t| t.saturating_duration_since(Instant::now()));
            select! {
                recv(events) -> msg => match msg {
                    Ok(event) => self.on_event(event),
                    // The lifecycle is gone: the process is exiting.
                    Err(_) => return,
                },
                recv(done) -> msg => if let Ok(outcome) = msg { self.on_done(outcome) },
                default(timeout) => {},
            }
            self.progress(Instant::now(), &jobs);
        }
    }

    fn on_event(&mut self, event: Event) {
        match event {
            Event::Invoke(invoke) => {
                self.ctx.invoked_function_arn.clone_from(&invoke.invoked_function_arn);
                self.invocations.on_invoke(&invoke);
            }
            Event::AgentPayload(payload) => {
                let id = payload.info.request_id.clone().or_else(|| self.invocations.current_id().map(str::to_string));
                if let Some(id) = id {
                    let inv = self.invocations.entry(&id);
                    inv.payload_seen = true;
                    if inv.trace_id.is_none() {
                        inv.trace_id.clone_from(&payload.info.trace_id);
                    }
                }
                self.enqueue(payload.received_ms, payload.text);
            }
            Event::Telemetry(batch) => {
                self.stats.telemetry_malformed += batch.malformed as u64;
                self.stats.telemetry_unknown += batch.unknown as u64;
                self.stats.telemetry_oversized += batch.oversized as u64;
                for record in batch.records {
                    self.on_record(record);
                }
            }
            Event::Flush(request) => {
                if let Some(old) = self.flush.take() {
                    let _ = old.request.reply.send(());
                }
                self.flush = Some(PendingFlush { request, target: None, gave_up: false });
            }
            Event::Shutdown(request) => {
                self.synthesize_at_shutdown(&request.reason);
                let grace_until = (Instant::now() + SHUTDOWN_TELEMETRY_GRACE).min(request.deadline);
                self.shutdown = Some(PendingShutdown { request, grace_until });
            }
        }
    }

    fn on_record(&mut self, record: Record) {
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
        let dropped = self.queue.push(TelemetryEvent { id: self.ids.next_id(), timestamp_ms, message });
        self.stats.drop(crate::sender::DropReason::QueueFull, dropped);
    }

    fn on_done(&mut self, outcome: Outcome) {
        let in_flight = self.in_flight.take();
        self.stats.record(&outcome);
        if outcome.requeue.is_empty() {
            return;
        }
        let seqs = in_flight.map(|f| f.seqs).unwrap_or_default();
        let back = outcome.requeue.into_iter().map(|e| (seqs.get(&e.id).copied().unwrap_or(u64::MAX), e)).collect();
        let dropped = self.queue.requeue(back);
        self.stats.drop(crate::sender::DropReason::QueueFull, dropped);
        // Delivery failed within this flush's budget: the data stays queued for the next one.
        if let Some(flush) = &mut self.flush {
            flush.gave_up = true;
        }
    }

    fn next_timer(&self) -> Option<Instant> {
        let flush = self.flush.as_ref().map(|f| f.request.deadline);
        let shutdown = self.shutdown.as_ref().map(|s| s.request.deadline.min(s.grace_until));
        match (flush, shutdown) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Advances flushes and shutdown: starts a delivery when one is due, answers what is done.
    fn progress(&mut self, now: Instant, jobs: &Tx<Job>) {
        self.advance_flush(now);
        let deadline = if let Some(s) = &self.shutdown {
            Some(s.request.deadline)
        } else {
            self.flush
                .as_ref()
                .filter(|f| f.target.is_some_and(|t| self.queue.front_seq().is_some_and(|s| s < t)) && !f.gave_up)
                .map(|f| f.request.deadline)
        };
        if let Some(deadline) = deadline {
            if self.in_flight.is_none()
                && !self.queue.is_empty()
                && deadline.saturating_duration_since(now) >= MIN_ATTEMPT_WINDOW
            {
                self.start_job(deadline, jobs);
            }
        }
        self.advance_shutdown(now);
    }

    fn advance_flush(&mut self, now: Instant) {
        let Some(flush) = &mut self.flush else { return };
        if flush.target.is_none() {
            let inv = self.invocations.get(&flush.request.request_id);
            let arrived = inv.is_some_and(|i| i.payload_seen || (self.telemetry && i.runtime_done));
            if arrived {
                flush.target = Some(self.queue.next_seq());
            }
        }
        let delivered = flush.target.is_some_and(|t| {
            self.queue.front_seq().is_none_or(|s| s >= t) && self.in_flight.as_ref().is_none_or(|f| f.min_seq >= t)
        });
        if delivered || flush.gave_up || now >= flush.request.deadline {
            if let Some(done) = self.flush.take() {
                let _ = done.request.reply.send(());
            }
        }
    }

    fn advance_shutdown(&mut self, now: Instant) {
        let Some(shutdown) = &self.shutdown else { return };
        let reports_in = !self.telemetry || self.invocations.awaiting_report() == 0 || now >= shutdown.grace_until;
        let all_sent = self.queue.is_empty() && self.in_flight.is_none();
        let out_of_time = now >= shutdown.request.deadline
            || (self.in_flight.is_none()
                && shutdown.request.deadline.saturating_duration_since(now) < MIN_ATTEMPT_WINDOW);
        if (reports_in && all_sent) || out_of_time {
            self.stats.drop(crate::sender::DropReason::ShutdownDeadline, self.queue.len());
            if let Some(done) = self.shutdown.take() {
                let _ = done.request.reply.send(self.stats.summary());
            }
        }
    }

    fn start_job(&mut self, deadline: Instant, jobs: &Tx<Job>) {
        let taken = self.queue.take(JOB_MAX_BYTES);
        let min_seq = taken.first().map_or(u64::MAX, |(s, _)| *s);
        let seqs = taken.iter().map(|(s, e)| (e.id.clone(), *s)).collect();
        let events = taken.into_iter().map(|(_, e)| e).collect();
        match jobs.try_send(Job { ctx: self.ctx.clone(), events, deadline }) {
            Ok(()) => self.in_flight = Some(InFlight { seqs, min_seq }),
            Err(err) => {
                // The sender thread is gone; keep the data and let deadlines answer the waiters.
                let job = err.into_inner();
                let back = job.events.into_iter().map(|e| (seqs.get(&e.id).copied().unwrap_or(u64::MAX), e)).collect();
                self.queue.requeue(back);
                if let Some(flush) = &mut self.flush {
                    flush.gave_up = true;
                }
            }
        }
    }
}
