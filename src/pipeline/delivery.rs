//! The pipeline's delivery bookkeeping: when to hand a job to the sender, what a finished job
//! means, and when a pending flush or shutdown is answered. Background delivery runs whenever
//! data is queued and no job is in flight (paused after failures); a flush additionally waits
//! for delivery when the policy says so. Telemetry goes before logs when both are queued, but
//! not twice in a row while logs wait.

use std::time::{Duration, Instant};

use crossbeam_channel::Sender as Tx;

use super::{Done, InFlight, Job, Pipeline};
use crate::logs::{self, LogOutcome};
use crate::newrelic::TelemetryEvent;
use crate::policy::{self, Observations, Wait};
type Queued = crate::queue::Queued<TelemetryEvent>;
use crate::sender::{DropReason, Outcome};

/// Uncompressed bytes handed to the sender per job; it splits by the request limits.
const JOB_MAX_BYTES: usize = 3 * 1024 * 1024;
/// Background requests (nobody waits for them) start at most once per interval: a busy
/// function's data goes out in batches instead of one request per invocation. The first
/// request after a quiet interval starts at once; a flush that waits for delivery and SHUTDOWN
/// never wait for the interval. With New Relic answering in ~50 ms requests batch themselves
/// (one is in flight at a time); with a fast answer, one request per invocation cost ~45% of
/// the extension's CPU per invocation (bench, instant collector). Freshness is unchanged where
/// it matters: a busy function's sandbox is frozen right after `event/next`, so its data goes
/// out at the next thaw either way.
pub(super) const BACKGROUND_INTERVAL: Duration = Duration::from_millis(20);
/// Do not start a delivery attempt with less time than this left before its deadline.
const MIN_ATTEMPT_WINDOW: Duration = Duration::from_millis(30);
/// At SHUTDOWN, how long to wait for `platform.report` lines still buffered by Lambda.
pub(super) const SHUTDOWN_TELEMETRY_GRACE: Duration = Duration::from_millis(500);
/// With log forwarding on, SHUTDOWN waits for the record that closes the last phase, since
/// Lambda delivers a subscriber's records in order: each invocation's `platform.report` comes
/// after the invocation's log lines, and `platform.initReport` after Init's. Without it (a
/// platform that sends none), until no batch has come for this long: Lambda sends what it
/// buffered within `timeoutMs` (25 ms), possibly in several batches.
const SHUTDOWN_QUIET: Duration = Duration::from_millis(60);

impl Pipeline {
    fn has_queued(&self) -> bool {
        !self.queue.is_empty() || !self.log_queue.is_empty()
    }

    /// With trace ids collected, logs wait while the current invocation's flush waits for its
    /// agent payload (which carries the trace id), and no longer than that flush.
    fn logs_on_hold(&self) -> bool {
        self.config.logs.collect_trace_id
            && self.shutdown.is_none()
            && self.flush.as_ref().is_some_and(|f| f.target.is_none())
    }

    fn has_sendable(&self) -> bool {
        self.telemetry_sendable() || self.logs_sendable()
    }

    fn logs_sendable(&self) -> bool {
        !self.log_queue.is_empty() && !self.logs_on_hold()
    }

    /// Telemetry waits for the function ARN its request names (known from the first INVOKE, or
    /// from the registration's account id), except at SHUTDOWN.
    fn telemetry_sendable(&self) -> bool {
        !self.queue.is_empty() && (!self.config.context.invoked_function_arn.is_empty() || self.shutdown.is_some())
    }

    pub(super) fn next_timer(&self) -> Option<Instant> {
        let flush = self.flush.as_ref().map(|f| f.request.deadline);
        let quiet = Some(self.last_telemetry + SHUTDOWN_QUIET)
            .filter(|q| *q > Instant::now() && self.config.logs.selection.any() && !self.init_reported);
        let shutdown = self.shutdown.as_ref().map(|s| {
            let next = s.request.deadline.min(s.grace_until);
            quiet.map_or(next, |q| next.min(q))
        });
        let start =
            if self.waiting_deadline().is_some() { self.retry_at } else { self.retry_at.max(self.next_background) };
        let retry = (self.in_flight.is_none() && self.has_sendable()).then_some(start);
        [flush, shutdown, retry].into_iter().flatten().min()
    }

    /// The deadline of whoever waits for delivery: SHUTDOWN, or a flush whose invocation's data
    /// is queued and which the policy holds until it is delivered. `None`: delivery is
    /// background work.
    fn waiting_deadline(&self) -> Option<Instant> {
        match (&self.shutdown, &self.flush) {
            (Some(s), _) => Some(s.request.deadline),
            (None, Some(f)) if f.wait == Wait::ForDelivery && f.target.is_some() => Some(f.request.deadline),
            _ => None,
        }
    }

    /// Advances flushes and shutdown: starts a delivery when one is due, answers what is done.
    pub(super) fn progress(&mut self, now: Instant, jobs: &Tx<Job>) {
        self.advance_flush(now);
        let waiting = self.waiting_deadline();
        let due = now >= self.retry_at && (now >= self.next_background || waiting.is_some());
        if self.in_flight.is_none() && self.has_sendable() && due {
            let deadline = waiting.unwrap_or(now + self.config.budget);
            if deadline.saturating_duration_since(now) >= MIN_ATTEMPT_WINDOW {
                self.start_job(deadline, jobs);
            }
        }
        self.advance_flush(now);
        self.advance_shutdown(now);
    }

    /// True when nothing queued below `target` (telemetry, logs) is still undelivered.
    fn delivered_up_to(&self, (telemetry, log): (u64, u64)) -> bool {
        let in_flight_below = match &self.in_flight {
            Some(InFlight::Telemetry { min_seq, .. }) => *min_seq < telemetry,
            Some(InFlight::Logs { min_seq, .. }) => *min_seq < log,
            None => false,
        };
        !in_flight_below
            && self.queue.front_seq().is_none_or(|s| s >= telemetry)
            && self.log_queue.front_seq().is_none_or(|s| s >= log)
    }

    fn advance_flush(&mut self, now: Instant) {
        let Some(flush) = &self.flush else { return };
        if flush.target.is_none() {
            // A flush is always the current invocation's (it comes with that INVOKE).
            let inv = self.invocations.current();
            let payload = inv.is_some_and(|i| i.payload_seen);
            let runtime_done = self.config.telemetry && inv.is_some_and(|i| i.runtime_done);
            if runtime_done && !payload && !flush.drained_pipe {
                // The payload may be in the pipe but not yet read: a barrier through the
                // reader puts whatever was written before the response ahead of this flush.
                self.pipe_drained = !self.config.drain.as_ref().is_some_and(|d| d.request());
                if let Some(flush) = &mut self.flush {
                    flush.drained_pipe = true;
                }
            }
            let Some(flush) = &self.flush else { return };
            if payload || (runtime_done && flush.drained_pipe && self.pipe_drained) {
                let observed = Observations {
                    gap: flush.request.gap,
                    oldest_queued: self.queue.oldest().map(|t| now.saturating_duration_since(t)),
                    consecutive_failures: self.failures,
                };
                let wait = policy::decide(self.config.flush_mode, self.config.max_data_age, &observed);
                let target = (self.queue.next_seq(), self.log_queue.next_seq());
                if let Some(flush) = &mut self.flush {
                    flush.target = Some(target);
                    flush.wait = wait;
                }
            }
        }
        let Some(flush) = &self.flush else { return };
        let delivered = flush.target.is_some_and(|t| self.delivered_up_to(t));
        let queued = flush.target.is_some() && flush.wait == Wait::No;
        if delivered || queued || flush.gave_up || now >= flush.request.deadline {
            if let Some(done) = self.flush.take() {
                done.request.reply.send(());
            }
        }
    }

    fn advance_shutdown(&mut self, now: Instant) {
        let Some(shutdown) = &self.shutdown else { return };
        // Reports of every invocation are required below; before any, Init's own closing record.
        let phase_closed = self.invocations.current().is_some() || self.init_reported;
        let quiet = !self.config.logs.selection.any() || phase_closed || now >= self.last_telemetry + SHUTDOWN_QUIET;
        let reports_in =
            !self.config.telemetry || (self.invocations.awaiting_report() == 0 && quiet) || now >= shutdown.grace_until;
        // Done only once the pipe reader has handed over what it held (the drain barrier).
        let all_sent = self.pipe_drained && !self.has_queued() && self.in_flight.is_none();
        let window = shutdown.request.deadline.saturating_duration_since(now);
        let out_of_time = window.is_zero() || (self.in_flight.is_none() && window < MIN_ATTEMPT_WINDOW);
        let stuck = self.in_flight.is_none() && self.has_queued() && self.retry_at >= shutdown.request.deadline;
        if (reports_in && all_sent) || out_of_time || stuck {
            // A job still in flight has no answer yet and the process exits after this line:
            // its events count as not delivered, like the ones still queued.
            let in_flight = self.in_flight.as_ref().map_or(0, InFlight::len);
            self.stats.drop(DropReason::ShutdownDeadline, self.queue.len() + self.log_queue.len() + in_flight);
            if let Some(done) = self.shutdown.take() {
                done.request.reply.send(self.stats.summary());
            }
        }
    }

    fn start_job(&mut self, deadline: Instant, jobs: &Tx<Job>) {
        // Telemetry first, but never twice in a row while logs wait: a busy function queues
        // new telemetry before every job starts, which must not starve its logs.
        let telemetry = self.telemetry_sendable() && !(self.last_job_telemetry && self.logs_sendable());
        self.last_job_telemetry = telemetry;
        let (job, in_flight) = if telemetry {
            let taken = self.queue.take(JOB_MAX_BYTES);
            let min_seq = taken.first().map_or(u64::MAX, |q| q.seq);
            let origin = taken.iter().map(|q| (q.item.id.clone(), (q.seq, q.at))).collect();
            let events = taken.into_iter().map(|q| q.item).collect();
            let job = Job::Telemetry { ctx: self.config.context.clone(), events, deadline };
            (job, InFlight::Telemetry { origin, min_seq })
        } else {
            let (invocations, collect) = (&self.invocations, self.config.logs.collect_trace_id);
            let trace_of = |id: &str| collect.then(|| invocations.get(id).and_then(|i| i.trace_id.clone())).flatten();
            let mut entries = self.log_queue.take(JOB_MAX_BYTES);
            logs::fill_trace_ids(&mut entries, trace_of);
            let min_seq = entries.first().map_or(u64::MAX, |q| q.seq);
            let ctx = &self.config.context;
            let settings = &self.config.logs;
            let common =
                logs::Common::new(&ctx.function_name, &ctx.invoked_function_arn, &settings.tags, &settings.labels);
            let count = entries.len();
            (Job::Logs { common, entries, deadline }, InFlight::Logs { min_seq, count })
        };
        match jobs.try_send(job) {
            Ok(()) => {
                self.in_flight = Some(in_flight);
                self.next_background = Instant::now() + BACKGROUND_INTERVAL;
            }
            Err(err) => {
                // The sender thread is gone: keep the data; deadlines answer the waiters.
                match err.into_inner() {
                    Job::Telemetry { events, .. } => self.requeue_telemetry(events, &in_flight),
                    Job::Logs { entries, .. } => self.requeue_logs(entries),
                }
                self.retry_at = Instant::now() + policy::retry_pause(u32::MAX);
            }
        }
    }

    pub(super) fn on_done(&mut self, done: Done, now: Instant) {
        let in_flight = self.in_flight.take();
        let failed = match done {
            Done::Telemetry(outcome) => self.telemetry_done(outcome, in_flight.as_ref()),
            Done::Logs(outcome) => self.logs_done(outcome),
        };
        if !failed {
            self.failures = 0;
            self.retry_at = now;
            return;
        }
        self.failures = self.failures.saturating_add(1);
        self.retry_at = now + policy::retry_pause(self.failures);
        // Delivery failed within this flush's budget: the data stays queued for later.
        if let Some(flush) = &mut self.flush {
            flush.gave_up = true;
        }
    }

    /// Records the outcome; true if something must be retried later.
    fn telemetry_done(&mut self, outcome: Outcome, in_flight: Option<&InFlight>) -> bool {
        self.stats.record(&outcome);
        if outcome.requeue.is_empty() {
            return false;
        }
        match in_flight {
            Some(f) => self.requeue_telemetry(outcome.requeue, f),
            None => self.requeue_telemetry(outcome.requeue, &InFlight::Logs { min_seq: 0, count: 0 }),
        }
        true
    }

    fn logs_done(&mut self, outcome: LogOutcome) -> bool {
        self.stats.record_logs(&outcome);
        let failed = !outcome.requeue.is_empty();
        self.requeue_logs(outcome.requeue);
        failed
    }

    fn requeue_logs(&mut self, entries: Vec<logs::Queued>) {
        let dropped = self.log_queue.requeue(entries);
        self.stats.drop(DropReason::QueueFull, dropped);
    }

    fn requeue_telemetry(&mut self, events: Vec<TelemetryEvent>, in_flight: &InFlight) {
        let now = Instant::now();
        let back = events
            .into_iter()
            .map(|event| {
                let origin = match in_flight {
                    InFlight::Telemetry { origin, min_seq } => {
                        origin.get(&event.id).copied().unwrap_or((*min_seq, now))
                    }
                    InFlight::Logs { .. } => (0, now),
                };
                Queued { seq: origin.0, at: origin.1, item: event }
            })
            .collect();
        let dropped = self.queue.requeue(back);
        self.stats.drop(DropReason::QueueFull, dropped);
    }
}
