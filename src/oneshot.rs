//! A one-time answer from the pipeline to the lifecycle thread (a flush is done, SHUTDOWN's
//! summary), built on `Mutex` + `Condvar` so that the waiting thread sleeps in the kernel
//! (futex) from the start.
//!
//! Why not a `crossbeam_channel::bounded(1)`: its blocking receive first spins and then calls
//! `sched_yield` up to eight times before it parks. The lifecycle thread waits for a flush on
//! every invocation, and a yield hands its CPU to whatever else is runnable there; the kernel
//! then counts the yielder as having had its turn, so an answer that arrives meanwhile waits
//! for the next scheduler tick. A scheduler trace of a busy run (50 ms collector) showed exactly
//! that as the 1–2 ms post-runtime overhead spikes: the lifecycle thread runnable, its answer
//! ready, the CPU given to another thread after its yield while the other CPU was idle.

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

enum State<T> {
    Waiting,
    Sent(T),
    /// The answering side went away without answering (its thread ended).
    Dropped,
    /// The value was taken.
    Taken,
}

struct Slot<T> {
    state: Mutex<State<T>>,
    ready: Condvar,
}

impl<T> Slot<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // The lock is never held across anything that can panic; a poisoned state is still valid.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn settle(&self, state: State<T>) {
        let mut current = self.lock();
        if matches!(*current, State::Waiting) {
            *current = state;
            drop(current);
            self.ready.notify_one();
        }
    }
}

/// The answering side: answers at most once; dropping it unanswered wakes the waiter.
pub struct Reply<T> {
    slot: Option<Arc<Slot<T>>>,
}

/// The waiting side.
pub struct Answer<T> {
    slot: Arc<Slot<T>>,
}

/// Why no answer came.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoAnswer {
    /// The deadline passed first.
    Timeout,
    /// The answering side was dropped without answering.
    Dropped,
}

pub fn channel<T>() -> (Reply<T>, Answer<T>) {
    let slot = Arc::new(Slot { state: Mutex::new(State::Waiting), ready: Condvar::new() });
    (Reply { slot: Some(slot.clone()) }, Answer { slot })
}

impl<T> Reply<T> {
    pub fn send(mut self, value: T) {
        if let Some(slot) = self.slot.take() {
            slot.settle(State::Sent(value));
        }
    }
}

impl<T> Drop for Reply<T> {
    fn drop(&mut self) {
        if let Some(slot) = self.slot.take() {
            slot.settle(State::Dropped);
        }
    }
}

impl<T> std::fmt::Debug for Reply<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Reply")
    }
}

impl<T> Answer<T> {
    /// Waits for the answer until `deadline`.
    pub fn recv_deadline(&self, deadline: Instant) -> Result<T, NoAnswer> {
        let mut state = self.slot.lock();
        loop {
            match std::mem::replace(&mut *state, State::Taken) {
                State::Sent(value) => return Ok(value),
                State::Dropped => return Err(NoAnswer::Dropped),
                State::Taken => return Err(NoAnswer::Dropped),
                State::Waiting => *state = State::Waiting,
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(NoAnswer::Timeout);
            }
            state = self.slot.ready.wait_timeout(state, left).unwrap_or_else(PoisonError::into_inner).0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn an_answer_sent_before_the_wait_is_received() {
        let (reply, answer) = channel();
        reply.send(7);
        assert_eq!(answer.recv_deadline(Instant::now()), Ok(7));
        // Taken once; a second wait does not see it again.
        assert_eq!(answer.recv_deadline(Instant::now()), Err(NoAnswer::Dropped));
    }

    #[test]
    fn an_answer_from_another_thread_wakes_the_waiter() {
        let (reply, answer) = channel();
        let (go, started) = std::sync::mpsc::channel::<()>();
        let t = std::thread::spawn(move || {
            started.recv().expect("the waiter is about to wait");
            reply.send("done".to_string());
        });
        go.send(()).expect("the answering thread is alive");
        let got = answer.recv_deadline(Instant::now() + Duration::from_secs(30));
        assert_eq!(got.as_deref(), Ok("done"));
        t.join().expect("no panic");
    }

    #[test]
    fn a_dropped_reply_ends_the_wait_at_once() {
        let (reply, answer) = channel::<()>();
        let t = std::thread::spawn(move || drop(reply));
        // A deadline far away: only the drop can end this wait within the test's lifetime.
        assert_eq!(answer.recv_deadline(Instant::now() + Duration::from_secs(3600)), Err(NoAnswer::Dropped));
        t.join().expect("no panic");
    }

    #[test]
    fn a_reply_dropped_by_a_panicking_thread_ends_the_wait() {
        let (reply, answer) = channel::<()>();
        let t = std::thread::spawn(move || {
            let _reply = reply;
            panic!("the pipeline died");
        });
        assert_eq!(answer.recv_deadline(Instant::now() + Duration::from_secs(3600)), Err(NoAnswer::Dropped));
        assert!(t.join().is_err());
    }

    #[test]
    fn no_answer_by_the_deadline_is_a_timeout() {
        let (_reply, answer) = channel::<()>();
        assert_eq!(answer.recv_deadline(Instant::now() + Duration::from_millis(5)), Err(NoAnswer::Timeout));
    }
}
