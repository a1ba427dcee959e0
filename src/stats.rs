//! Delivery counters owned by the pipeline thread, and the one summary line printed at
//! SHUTDOWN: what was sent, retried and dropped, by reason.

use std::collections::BTreeMap;

use crate::logs::LogOutcome;
use crate::sender::{DropReason, Outcome};

#[derive(Debug, Default)]
pub struct Stats {
    pub delivered: u64,
    pub logs_delivered: u64,
    pub requests: u64,
    pub retries: u64,
    pub dropped: BTreeMap<DropReason, u64>,
    pub telemetry_malformed: u64,
    pub telemetry_unknown: u64,
    pub telemetry_oversized: u64,
}

impl Stats {
    pub fn drop(&mut self, reason: DropReason, count: usize) {
        if count > 0 {
            *self.dropped.entry(reason).or_default() += count as u64;
        }
    }

    pub fn record(&mut self, outcome: &Outcome) {
        self.delivered += outcome.delivered as u64;
        self.requests += u64::from(outcome.requests);
        self.retries += u64::from(outcome.retries);
        for (reason, count) in &outcome.dropped {
            self.drop(*reason, *count);
        }
    }

    pub fn record_logs(&mut self, outcome: &LogOutcome) {
        self.logs_delivered += outcome.delivered as u64;
        self.requests += u64::from(outcome.requests);
        self.retries += u64::from(outcome.retries);
        for (reason, count) in &outcome.dropped {
            self.drop(*reason, *count);
        }
    }

    pub fn summary(&self) -> String {
        let dropped: u64 = self.dropped.values().sum();
        let mut line = format!(
            "summary: sent {} events and {} logs in {} requests, {} retries, dropped {}",
            self.delivered, self.logs_delivered, self.requests, self.retries, dropped
        );
        if dropped > 0 {
            let reasons: Vec<String> = self.dropped.iter().map(|(r, n)| format!("{}={n}", reason_name(r))).collect();
            line.push_str(&format!(" ({})", reasons.join(", ")));
        }
        let bad = self.telemetry_malformed + self.telemetry_unknown + self.telemetry_oversized;
        if bad > 0 {
            line.push_str(&format!(
                "; telemetry ignored: malformed={} unknown={} oversized={}",
                self.telemetry_malformed, self.telemetry_unknown, self.telemetry_oversized
            ));
        }
        line
    }
}

fn reason_name(reason: &DropReason) -> String {
    match reason {
        DropReason::Rejected(status) => format!("rejected_{status}"),
        DropReason::TooLarge => "too_large".into(),
        DropReason::QueueFull => "queue_full".into(),
        DropReason::ShutdownDeadline => "shutdown_deadline".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_names_every_drop_reason() {
        let mut s = Stats::default();
        s.record(&Outcome {
            delivered: 7,
            requests: 3,
            retries: 1,
            dropped: vec![(DropReason::Rejected(401), 2)],
            ..Outcome::default()
        });
        s.drop(DropReason::QueueFull, 1);
        s.drop(DropReason::TooLarge, 0);
        assert_eq!(
            s.summary(),
            "summary: sent 7 events and 0 logs in 3 requests, 1 retries, dropped 3 (rejected_401=2, queue_full=1)"
        );
    }
}
