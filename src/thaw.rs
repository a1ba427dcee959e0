//! A transport wrapper that makes `ureq`'s timeouts survive a Lambda freeze.
//!
//! When the sandbox is frozen (SIGSTOP, cgroup freezer) with a request in flight, New Relic's
//! answer arrives during the freeze and waits in the socket. At the thaw, the blocked `recv`
//! returns `EINTR` (Linux does that for sockets with `SO_RCVTIMEO` after a stop signal), the
//! clock has jumped past the deadline, and `ureq` reports a timeout *without reading again*.
//! The sender would then retry data that was in fact delivered: a duplicate. This wrapper gives
//! a request a small number of short extra looks at the socket ([`GRACE`], at most
//! [`MAX_GRACES`] per request) when its budget is spent, so an answer already received is
//! read. A New Relic that really is silent still times out, at most `MAX_GRACES × GRACE` late.

use std::fmt;

use ureq::unversioned::transport::time::Duration;
use ureq::unversioned::transport::{Buffers, ConnectionDetails, Connector, NextTimeout, Transport};

/// How long one look at the socket may wait once the request's own budget is spent.
pub const GRACE: std::time::Duration = std::time::Duration::from_millis(40);
/// The budget of a request whose own budget was spent before its first byte went out: the
/// sandbox froze between the sender starting it and writing it (seen under load, right before a
/// long freeze). New Relic has not seen it, so it gets a real attempt, not a grace look, but a
/// short one: it may run into a SHUTDOWN window.
pub const UNSENT_BUDGET: std::time::Duration = std::time::Duration::from_millis(500);
/// Looks per request (reset when the next request is sent on the connection).
pub const MAX_GRACES: u32 = 2;

/// Chained last in the connector chain: wraps whatever transport the chain produced.
#[derive(Debug, Default)]
pub struct ThawTolerant;

impl Connector<Box<dyn Transport>> for ThawTolerant {
    type Out = Box<dyn Transport>;

    fn connect(
        &self,
        _details: &ConnectionDetails,
        chained: Option<Box<dyn Transport>>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        Ok(chained.map(|inner| {
            Box::new(Tolerant { inner, graces: MAX_GRACES, reading: true, unsent_until: None }) as Box<dyn Transport>
        }))
    }
}

struct Tolerant {
    inner: Box<dyn Transport>,
    graces: u32,
    /// The last call was a read, or nothing was written yet: the next write starts a request.
    reading: bool,
    /// Set when a request starts with its budget already spent: until when it may run.
    unsent_until: Option<std::time::Instant>,
}

impl fmt::Debug for Tolerant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tolerant").field("inner", &self.inner).field("graces", &self.graces).finish()
    }
}

impl Tolerant {
    /// The timeout to use: unchanged while budget is left; else what is left of
    /// [`UNSENT_BUDGET`] for a request that started without budget, else one grace look if any
    /// remain.
    fn patient(&mut self, mut timeout: NextTimeout) -> NextTimeout {
        if let Some(until) = self.unsent_until.filter(|_| timeout.after.is_zero()) {
            let left = until.saturating_duration_since(std::time::Instant::now());
            if !left.is_zero() {
                timeout.after = Duration::Exact(left);
                return timeout;
            }
        }
        if timeout.after.is_zero() && self.graces > 0 {
            self.graces -= 1;
            timeout.after = Duration::Exact(GRACE);
        }
        timeout
    }
}

impl Transport for Tolerant {
    fn buffers(&mut self) -> &mut dyn Buffers {
        self.inner.buffers()
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        if self.reading {
            // A new request: nothing of it has gone out yet.
            self.reading = false;
            self.graces = MAX_GRACES;
            self.unsent_until = timeout.after.is_zero().then(|| std::time::Instant::now() + UNSENT_BUDGET);
        }
        let timeout = self.patient(timeout);
        self.inner.transmit_output(amount, timeout)
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.reading = true;
        let first = self.patient(timeout);
        match self.inner.await_input(first) {
            // Nothing was read (the buffers are as they were): look once more, briefly.
            Err(ureq::Error::Timeout(_)) if self.graces > 0 => {
                self.graces -= 1;
                let mut again = timeout;
                again.after = Duration::Exact(GRACE);
                self.inner.await_input(again)
            }
            other => other,
        }
    }

    fn is_open(&mut self) -> bool {
        self.inner.is_open()
    }

    fn is_tls(&self) -> bool {
        self.inner.is_tls()
    }
}

/// An agent whose connections (direct, through a proxy, over TLS) all tolerate a freeze, and
/// whose name lookups start no thread per request (`http_agent/resolve.rs`).
pub fn agent(config: ureq::config::Config) -> ureq::Agent {
    use crate::http_agent::resolve::CachingResolver;
    use ureq::unversioned::transport::DefaultConnector;
    ureq::Agent::with_parts(config, DefaultConnector::default().chain(ThawTolerant), CachingResolver::default())
}
