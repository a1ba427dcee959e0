//! The pipeline's delivery bookkeeping: when to hand a job to the sender, what a finished job
//! means, and when a pending flush or shutdown is answered. Background delivery runs whenever
//! data is queued and no job is in flight (paused after failures); a flush additionally waits
//! for delivery when the policy says so.

use std::time::{Duration, Instant};

use crossbeam_channel::Sender as Tx;

use super::{InFlight, Job, Pipeline};
use crate::policy::{self, Observations, Wait};
use crate::queue::Queued;
use crate::sender::{DropReason, Outcome};

/// Uncompressed message bytes handed to the sender per job; it splits by compressed size.
const JOB_MAX_BYTES: usize = 3 * 1024 * 1024;
/// Do not start a delivery attempt with less time than this left before its deadline.
const MIN_ATTEMPT_WINDOW: Duration = Duration::from_millis(30);
/// At SHUTDOWN, how long to wait for `platform.report` lines still buffered by Lambda.
pub(super) const SHUTDOWN_TELEMETRY_GRACE: Duration = Duration::from_millis(500);

impl Pipeline {
    pub(super) fn next_timer(&self) -> Option<Instant> {
        let flush = self.flush.as_ref().map(|f| f.request.deadline);
        let shutdown = self.shutdown.as_ref().map(|s| s.request.deadline.min(s.grace_until));
        let retry = (self.in_flight.is_none() && !self.queue.is_empty()).then_some(self.retry_at);
        [flush, shutdown, retry].into_iter().flatten().min()
    }

    /// Advances flushes and shutdown: starts a delivery when one is due, answers what is done.
    pub(super) fn progress(&mut self, now: Instant, jobs: &Tx<Job>) {
        self.advance_flush(now);
        if self.in_flight.is_none() && !self.queue.is_empty() && now >= self.retry_at {
            let deadline = match (&self.shutdown, &self.flush) {
                (Some(s), _) => s.request.deadline,
                (None, Some(f)) if f.wait == Wait::ForDelivery && f.target.is_some() => f.request.deadline,
                _ => now + self.config.budget,
            };
            if deadline.saturating_duration_since(now) >= MIN_ATTEMPT_WINDOW {
                self.start_job(deadline, jobs);
            }
        }
        self.advance_flush(now);
        self.advance_shutdown(now);
    }

    fn advance_flush(&mut self, now: Instant) {
        let Some(flush) = &mut self.flush else { return };
        if flush.target.is_none() {
            let inv = self.invocations.get(&flush.request.request_id);
            if inv.is_some_and(|i| i.payload_seen || (self.config.telemetry && i.runtime_done)) {
                flush.target = Some(self.queue.next_seq());
                let observed = Observations {
                    gap: flush.request.gap,
                    oldest_queued: self.queue.oldest().map(|t| now.saturating_duration_since(t)),
                    consecutive_failures: self.failures,
                };
                flush.wait = policy::decide(self.config.flush_mode, self.config.max_data_age, &observed);
            }
        }
        let delivered = flush.target.is_some_and(|t| {
            self.queue.front_seq().is_none_or(|s| s >= t) && self.in_flight.as_ref().is_none_or(|f| f.min_seq >= t)
        });
        let queued = flush.target.is_some() && flush.wait == Wait::No;
        if delivered || queued || flush.gave_up || now >= flush.request.deadline {
            if let Some(done) = self.flush.take() {
                let _ = done.request.reply.send(());
            }
        }
    }

    fn advance_shutdown(&mut self, now: Instant) {
        let Some(shutdown) = &self.shutdown else { return };
        let reports_in =
            !self.config.telemetry || self.invocations.awaiting_report() == 0 || now >= shutdown.grace_until;
        let all_sent = self.queue.is_empty() && self.in_flight.is_none();
        let window = shutdown.request.deadline.saturating_duration_since(now);
        let out_of_time = window.is_zero() || (self.in_flight.is_none() && window < MIN_ATTEMPT_WINDOW);
        let stuck = self.in_flight.is_none() && !self.queue.is_empty() && self.retry_at >= shutdown.request.deadline;
        if (reports_in && all_sent) || out_of_time || stuck {
            self.stats.drop(DropReason::ShutdownDeadline, self.queue.len());
            if let Some(done) = self.shutdown.take() {
                let _ = done.request.reply.send(self.stats.summary());
            }
        }
    }

    fn start_job(&mut self, deadline: Instant, jobs: &Tx<Job>) {
        let taken = self.queue.take(JOB_MAX_BYTES);
        let min_seq = taken.first().map_or(u64::MAX, |q| q.seq);
        let origin = taken.iter().map(|q| (q.event.id.clone(), (q.seq, q.at))).collect();
        let events = taken.into_iter().map(|q| q.event).collect();
        let in_flight = InFlight { origin, min_seq };
        match jobs.try_send(Job { ctx: self.config.context.clone(), events, deadline }) {
            Ok(()) => self.in_flight = Some(in_flight),
            Err(err) => {
                // The sender thread is gone: keep the data; deadlines answer the waiters.
                self.requeue(err.into_inner().events, &in_flight);
                self.retry_at = Instant::now() + policy::retry_pause(u32::MAX);
            }
        }
    }

    pub(super) fn on_done(&mut self, outcome: Outcome, now: Instant) {
        let in_flight = self.in_flight.take();
        self.stats.record(&outcome);
        if outcome.requeue.is_empty() {
            self.failures = 0;
            self.retry_at = now;
            return;
        }
        self.failures = self.failures.saturating_add(1);
        self.retry_at = now + policy::retry_pause(self.failures);
        if let Some(in_flight) = in_flight {
            self.requeue(outcome.requeue, &in_flight);
        }
        // Delivery failed within this flush's budget: the data stays queued for later.
        if let Some(flush) = &mut self.flush {
            flush.gave_up = true;
        }
    }

    fn requeue(&mut self, events: Vec<crate::newrelic::TelemetryEvent>, in_flight: &InFlight) {
        let now = Instant::now();
        let back = events
            .into_iter()
            .map(|event| {
                let (seq, at) = in_flight.origin.get(&event.id).copied().unwrap_or((in_flight.min_seq, now));
                Queued { seq, at, event }
            })
            .collect();
        let dropped = self.queue.requeue(back);
        self.stats.drop(DropReason::QueueFull, dropped);
    }
}
