//! The byte-bounded FIFO that holds data waiting for delivery: telemetry events and log
//! entries alike. Every item gets a sequence number, so a flush can wait for "everything
//! queued before me", and the instant it was queued, so the flush policy can see how old the
//! oldest data is. Undelivered items go back in front with their numbers. When full, the
//! oldest items are dropped first and the count returned for the stats. Pure: the caller
//! passes `now`.

use std::collections::VecDeque;
use std::time::Instant;

use crate::newrelic::TelemetryEvent;

/// What an item costs in memory, as counted against the queue's bound.
pub trait Weigh {
    fn weight(&self) -> usize;
}

/// Per-event bookkeeping overhead counted on top of the message bytes.
const EVENT_OVERHEAD: usize = 64;

impl Weigh for TelemetryEvent {
    fn weight(&self) -> usize {
        self.message.len() + self.id.len() + EVENT_OVERHEAD
    }
}

/// An item and its place in the queue.
#[derive(Debug, Clone, PartialEq)]
pub struct Queued<T> {
    pub seq: u64,
    pub at: Instant,
    pub item: T,
}

#[derive(Debug)]
pub struct Queue<T> {
    items: VecDeque<Queued<T>>,
    bytes: usize,
    max_bytes: usize,
    next_seq: u64,
}

impl<T: Weigh> Queue<T> {
    pub fn new(max_bytes: usize) -> Queue<T> {
        Queue { items: VecDeque::new(), bytes: 0, max_bytes, next_seq: 0 }
    }

    /// Appends an item; returns how many old items were dropped to make room.
    pub fn push(&mut self, item: T, now: Instant) -> usize {
        self.bytes += item.weight();
        self.items.push_back(Queued { seq: self.next_seq, at: now, item });
        self.next_seq += 1;
        self.trim()
    }

    /// Puts undelivered items back at the front, keeping their order, sequence numbers and age;
    /// returns how many (oldest first) were dropped because the queue is full.
    pub fn requeue(&mut self, items: Vec<Queued<T>>) -> usize {
        for queued in items.into_iter().rev() {
            self.bytes += queued.item.weight();
            self.items.push_front(queued);
        }
        self.trim()
    }

    /// Drops the oldest items beyond the bound, keeping at least the newest one.
    fn trim(&mut self) -> usize {
        let mut dropped = 0;
        while self.bytes > self.max_bytes && self.items.len() > 1 {
            if let Some(old) = self.items.pop_front() {
                self.bytes = self.bytes.saturating_sub(old.item.weight());
                dropped += 1;
            }
        }
        dropped
    }

    /// Takes items from the front up to `max_bytes` of weight (at least one).
    pub fn take(&mut self, max_bytes: usize) -> Vec<Queued<T>> {
        let mut taken = Vec::new();
        let mut size = 0;
        while let Some(front) = self.items.front() {
            let weight = front.item.weight();
            if !taken.is_empty() && size + weight > max_bytes {
                break;
            }
            size += weight;
            self.bytes = self.bytes.saturating_sub(weight);
            taken.extend(self.items.pop_front());
        }
        taken
    }

    /// Sequence number the next pushed item will get; everything queued so far is below it.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// The oldest queued sequence number.
    pub fn front_seq(&self) -> Option<u64> {
        self.items.front().map(|q| q.seq)
    }

    /// When the oldest queued item was queued.
    pub fn oldest(&self) -> Option<Instant> {
        self.items.iter().map(|q| q.at).min()
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Current weight of everything queued.
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
        assert_eq!(taken.iter().map(|q| (q.seq, q.item.id.as_str())).collect::<Vec<_>>(), vec![(1, "2"), (2, "3")]);
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
