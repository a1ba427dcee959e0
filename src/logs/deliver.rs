//! Delivery of a run of log entries under `newrelic.md` §7, with the network injected: entries
//! are cut into bodies of at most [`MAX_BODY_BYTES`] and each body goes to `post` (in the
//! extension, `Sender::send_logs` with the flush's deadline). A 413 halves the body and retries
//! both halves; a single entry still too large is dropped and counted; a rejection drops the
//! body's entries, counted by status; the first undelivered body stops the run, and it and
//! everything after it come back for the queue, in order.
//!
//! Pure given `post`: no clock, no sleeping, no logging (the sender warns once per status).

use super::encode::{body_from, Common};
use super::queue::Queued;
use super::MAX_BODY_BYTES;
use crate::sender::{Delivery, DropReason, PostResult};

/// What became of a run of entries.
#[derive(Debug, Default)]
pub struct LogOutcome {
    pub delivered: usize,
    /// Not delivered yet (retryable failure, deadline): put back with `LogQueue::requeue`.
    pub requeue: Vec<Queued>,
    /// Entries dropped, one count per reason.
    pub dropped: Vec<(DropReason, usize)>,
    /// HTTP requests made, and how many of them were retries.
    pub requests: u32,
    pub retries: u32,
}

impl LogOutcome {
    fn drop_entries(&mut self, reason: DropReason, count: usize) {
        match self.dropped.iter_mut().find(|(r, _)| *r == reason) {
            Some((_, n)) => *n += count,
            None => self.dropped.push((reason, count)),
        }
    }
}

/// Delivers `entries` in order, [`MAX_BODY_BYTES`] per body. See the module doc.
pub fn deliver(common: &Common, entries: Vec<Queued>, post: impl FnMut(&[u8]) -> PostResult) -> LogOutcome {
    deliver_with_limit(common, entries, MAX_BODY_BYTES, post)
}

/// [`deliver`] with another body limit (tests use small ones).
pub fn deliver_with_limit(
    common: &Common,
    entries: Vec<Queued>,
    max_body: usize,
    mut post: impl FnMut(&[u8]) -> PostResult,
) -> LogOutcome {
    let mut out = LogOutcome::default();
    // Chunks still to send, the next one last, so requeued entries keep their order.
    let mut todo = vec![entries];
    let mut give_up = false;
    while let Some(mut chunk) = todo.pop() {
        if chunk.is_empty() {
            continue;
        }
        if give_up {
            out.requeue.append(&mut chunk);
            continue;
        }
        let (count, body) = body_from(common, chunk.iter().map(|q| &q.item), max_body);
        if count < chunk.len() {
            todo.push(chunk.split_off(count));
        }
        let result = post(&body);
        out.requests += result.requests;
        out.retries += result.retries;
        match result.delivery {
            Delivery::Delivered => out.delivered += chunk.len(),
            Delivery::TooLarge if chunk.len() > 1 => {
                let second = chunk.split_off(chunk.len() / 2);
                todo.push(second);
                todo.push(chunk);
            }
            Delivery::TooLarge => out.drop_entries(DropReason::TooLarge, 1),
            Delivery::Rejected(status) => out.drop_entries(DropReason::Rejected(status), chunk.len()),
            Delivery::Undelivered => {
                // The endpoint is unhealthy or the time is up: don't spend more on the rest.
                give_up = true;
                out.requeue.append(&mut chunk);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests;
