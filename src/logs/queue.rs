//! The byte-bounded FIFO of log entries waiting for delivery. Every entry gets a sequence
//! number, so a flush can wait for "every log queued before me" and undelivered entries go
//! back in front with their numbers. When full, the oldest entries are dropped first and the
//! count returned for the stats. Pure: no I/O, no clock.

use std::collections::VecDeque;

use super::{Attr, LogEntry};

/// An entry and its place in the queue.
#[derive(Debug, Clone, PartialEq)]
pub struct Queued {
    pub seq: u64,
    pub entry: LogEntry,
}

/// What an entry costs in memory: its text plus the fixed size of the structs holding it.
pub fn cost(entry: &LogEntry) -> usize {
    let text = entry.message.len()
        + entry.level.len()
        + entry.request_id.as_ref().map_or(0, String::len)
        + entry.trace_id.as_ref().map_or(0, String::len);
    let extra: usize = entry
        .extra
        .iter()
        .map(|(key, value)| {
            let value = match value {
                Attr::Text(text) | Attr::Literal(text) => text.len(),
            };
            key.len() + value + std::mem::size_of::<(String, Attr)>()
        })
        .sum();
    text + extra + std::mem::size_of::<Queued>()
}

#[derive(Debug)]
pub struct LogQueue {
    items: VecDeque<Queued>,
    bytes: usize,
    max_bytes: usize,
    next_seq: u64,
}

impl LogQueue {
    pub fn new(max_bytes: usize) -> LogQueue {
        LogQueue { items: VecDeque::new(), bytes: 0, max_bytes, next_seq: 0 }
    }

    /// Appends an entry; returns how many old entries were dropped to make room.
    pub fn push(&mut self, entry: LogEntry) -> usize {
        self.bytes += cost(&entry);
        self.items.push_back(Queued { seq: self.next_seq, entry });
        self.next_seq += 1;
        self.shed()
    }

    /// Puts undelivered entries back in front, keeping their order and sequence numbers;
    /// returns how many (oldest first) were dropped because the queue is full.
    pub fn requeue(&mut self, entries: Vec<Queued>) -> usize {
        for item in entries.into_iter().rev() {
            self.bytes += cost(&item.entry);
            self.items.push_front(item);
        }
        self.shed()
    }

    /// Takes entries from the front up to `max_bytes` of [`cost`] (at least one). Entries
    /// without a trace id get `trace_of(request_id)` (pass `|_| None` when
    /// `NEW_RELIC_COLLECT_TRACE_ID` is off): the agent payload carrying it arrives at the end of
    /// the invocation, after most of its logs, so it is looked up as late as possible.
    pub fn take(&mut self, max_bytes: usize, trace_of: impl Fn(&str) -> Option<String>) -> Vec<Queued> {
        let mut taken = Vec::new();
        let mut size = 0;
        while let Some(front) = self.items.front() {
            let c = cost(&front.entry);
            if !taken.is_empty() && size + c > max_bytes {
                break;
            }
            size += c;
            self.bytes = self.bytes.saturating_sub(c);
            taken.extend(self.items.pop_front());
        }
        for item in &mut taken {
            if item.entry.trace_id.is_none() {
                item.entry.trace_id = item.entry.request_id.as_deref().and_then(&trace_of);
            }
        }
        taken
    }

    /// Sequence number of the oldest queued entry.
    pub fn front_seq(&self) -> Option<u64> {
        self.items.front().map(|item| item.seq)
    }

    /// Sequence number the next pushed entry will get; everything queued so far is below it.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Current [`cost`] of everything queued.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Drops the oldest entries while over the bound, keeping at least the newest one.
    fn shed(&mut self) -> usize {
        let mut dropped = 0;
        while self.bytes > self.max_bytes && self.items.len() > 1 {
            if let Some(old) = self.items.pop_front() {
                self.bytes = self.bytes.saturating_sub(cost(&old.entry));
                dropped += 1;
            }
        }
        dropped
    }
}

#[cfg(test)]
mod tests;
