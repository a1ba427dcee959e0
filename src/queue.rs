//! The byte-bounded FIFO of telemetry events waiting for delivery. Every event gets a sequence
//! number, so a flush can wait for "everything queued before me", and the instant it was
//! queued, so the flush policy can see how old the oldest data is. When full, the oldest events
//! are dropped first and counted. Pure: the caller passes `now`.

use std::collections::VecDeque;
use std::time::Instant;

use crate::newrelic::TelemetryEvent;

/// Per-event bookkeeping overhead counted on top of the message bytes.
const EVENT_OVERHEAD: usize = 64;

#[derive(Debug)]
pub struct Queued {
    pub seq: u64,
    pub at: Instant,
    pub event: TelemetryEvent,
}

#[derive(Debug)]
pub struct Queue {
    items: VecDeque<Queued>,
    bytes: usize,
    max_bytes: usize,
    next_seq: u64,
}

fn cost(event: &TelemetryEvent) -> usize {
    event.message.len() + event.id.len() + EVENT_OVERHEAD
}

impl Queue {
    pub fn new(max_bytes: usize) -> Queue {
        Queue { items: VecDeque::new(), bytes: 0, max_bytes, next_seq: 0 }
    }

    /// Appends an event; returns how many old events were dropped to make room.
    pub fn push(&mut self, event: TelemetryEvent, now: Instant) -> usize {
        self.bytes += cost(&event);
        self.items.push_back(Queued { seq: self.next_seq, at: now, event });
        self.next_seq += 1;
        self.trim()
    }

    /// Puts undelivered events back at the front, keeping their order, sequence numbers and age.
    pub fn requeue(&mut self, items: Vec<Queued>) -> usize {
        for item in items.into_iter().rev() {
            self.bytes += cost(&item.event);
            self.items.push_front(item);
        }
        self.trim()
    }

    /// Drops the oldest events beyond the cap, keeping at least the newest one.
    fn trim(&mut self) -> usize {
        let mut dropped = 0;
        while self.bytes > self.max_bytes && self.items.len() > 1 {
            if let Some(old) = self.items.pop_front() {
                self.bytes -= cost(&old.event);
                dropped += 1;
            }
        }
        dropped
    }

    /// Takes events from the front up to `max_bytes` (at least one).
    pub fn take(&mut self, max_bytes: usize) -> Vec<Queued> {
        let mut taken = Vec::new();
        let mut size = 0;
        while let Some(front) = self.items.front() {
            let c = cost(&front.event);
            if !taken.is_empty() && size + c > max_bytes {
                break;
            }
            size += c;
            self.bytes -= c;
            taken.extend(self.items.pop_front());
        }
        taken
    }

    /// Sequence number the next pushed event will get; everything queued so far is below it.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// The oldest queued sequence number.
    pub fn front_seq(&self) -> Option<u64> {
        self.items.front().map(|q| q.seq)
    }

    /// When the oldest queued event was queued.
    pub fn oldest(&self) -> Option<Instant> {
        self.items.iter().map(|q| q.at).min()
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn ev(n: usize, size: usize) -> TelemetryEvent {
        TelemetryEvent { id: n.to_string(), timestamp_ms: 0, message: "x".repeat(size) }
    }

    #[test]
    fn drops_oldest_first_when_full() {
        let now = Instant::now();
        let mut q = Queue::new(1000);
        assert_eq!(q.push(ev(1, 400), now), 0);
        assert_eq!(q.push(ev(2, 400), now), 0);
        assert_eq!(q.push(ev(3, 400), now), 1);
        let taken = q.take(usize::MAX);
        assert_eq!(taken.iter().map(|q| (q.seq, q.event.id.as_str())).collect::<Vec<_>>(), vec![(1, "2"), (2, "3")]);
        assert_eq!(q.bytes(), 0);
    }

    #[test]
    fn a_single_huge_event_is_kept() {
        let mut q = Queue::new(100);
        assert_eq!(q.push(ev(1, 10_000), Instant::now()), 0);
        assert_eq!(q.len(), 1);
    }

    #[test]
    fn take_respects_size_and_requeue_restores_order_and_age() {
        let t0 = Instant::now();
        let mut q = Queue::new(1 << 20);
        for n in 0..5 {
            q.push(ev(n, 100), t0 + Duration::from_millis(n as u64));
        }
        let first = q.take(2 * (100 + 1 + EVENT_OVERHEAD));
        assert_eq!(first.len(), 2);
        assert_eq!(q.front_seq(), Some(2));
        assert_eq!(q.oldest(), Some(t0 + Duration::from_millis(2)));
        q.requeue(first);
        assert_eq!(q.front_seq(), Some(0));
        assert_eq!(q.oldest(), Some(t0));
        assert_eq!(q.take(usize::MAX).len(), 5);
        assert_eq!(q.next_seq(), 5);
        assert!(q.is_empty() && q.oldest().is_none());
    }
}
