//! SIGTERM: deliver what is queued within a bounded time, then exit 0. Lambda itself ends an
//! extension with SHUTDOWN (and SIGKILL at its deadline), never SIGTERM; but a container stop,
//! a local emulator or an orchestrator may send SIGTERM to every process, and the default
//! action would lose whatever is queued. SIGTERM is blocked in every thread (the mask is set
//! before any thread starts, and threads inherit it) and taken synchronously by one dedicated
//! thread with `sigwait`, so no code ever runs in a signal handler. This module only owns the
//! signal; what a SIGTERM does is the closure the lifecycle arms it with.
// pthread_sigmask and sigwait have no std equivalent.
#![allow(unsafe_code)]

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};

use crate::{info, warn};

/// Time a SIGTERM gives delivery before the process exits: Lambda's own SHUTDOWN budget for
/// external extensions, and well inside the 10 s a `docker stop` waits before SIGKILL.
pub const SIGTERM_BUDGET: Duration = Duration::from_millis(1500);

/// What SIGTERM runs before the process exits (deliver what is queued, print the summary).
pub type OnTerm = Box<dyn FnOnce() + Send>;

/// The lifecycle's side of the SIGTERM thread: arms it, and claims the one shutdown.
pub struct Terminator {
    stopping: Arc<AtomicBool>,
    on_term: Sender<OnTerm>,
}

impl Terminator {
    /// What a SIGTERM runs from now on; until armed, a SIGTERM exits at once (nothing is
    /// queued yet). Only the first arming counts.
    pub fn arm(&self, on_term: OnTerm) {
        let _ = self.on_term.try_send(on_term);
    }

    /// Claims the shutdown for the caller: false when a SIGTERM already started one, which
    /// ends the process itself.
    pub fn begin_shutdown(&self) -> bool {
        !self.stopping.swap(true, Ordering::SeqCst)
    }
}

/// Blocks SIGTERM and starts the thread that waits for it. Must run before any other thread
/// starts. If either step fails, SIGTERM keeps its default action and a warning says so.
pub fn install() -> Terminator {
    let (tx, rx) = crossbeam_channel::bounded(1);
    let stopping = Arc::new(AtomicBool::new(false));
    let terminator = Terminator { stopping: Arc::clone(&stopping), on_term: tx };
    if let Err(e) = set_mask(libc::SIG_BLOCK) {
        warn!("cannot block SIGTERM ({e}); a SIGTERM ends the extension without delivering");
        return terminator;
    }
    let watcher = std::thread::Builder::new().name("sigterm".into()).spawn(move || watch(&stopping, &rx));
    if let Err(e) = watcher {
        // Nobody would ever take a blocked SIGTERM: restore the default rather than ignore it.
        let _ = set_mask(libc::SIG_UNBLOCK);
        warn!("cannot start the SIGTERM thread ({e}); a SIGTERM ends the extension without delivering");
    }
    terminator
}

/// The SIGTERM thread: waits, runs what it was armed with (unless SHUTDOWN is already being
/// handled, which exits by itself), then exits 0.
fn watch(stopping: &AtomicBool, on_term: &Receiver<OnTerm>) {
    if !wait_for_sigterm() {
        return;
    }
    if stopping.swap(true, Ordering::SeqCst) {
        return;
    }
    info!("SIGTERM; delivering what is queued, then exiting");
    if let Ok(run) = on_term.try_recv() {
        run();
    }
    std::process::exit(0);
}

fn sigterm_set() -> libc::sigset_t {
    // SAFETY: an all-zero sigset_t is a valid value to hand to sigemptyset, which initializes
    // it; sigaddset then adds one valid signal number to the set we own.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        set
    }
}

/// Blocks or unblocks SIGTERM for the calling thread (and the threads it starts later).
fn set_mask(how: libc::c_int) -> io::Result<()> {
    let set = sigterm_set();
    // SAFETY: `set` is initialized and outlives the call; a null old-set pointer is allowed.
    match unsafe { libc::pthread_sigmask(how, &set, std::ptr::null_mut()) } {
        0 => Ok(()),
        code => Err(io::Error::from_raw_os_error(code)),
    }
}

/// Blocks until SIGTERM is pending and takes it; false if waiting fails.
fn wait_for_sigterm() -> bool {
    let set = sigterm_set();
    loop {
        let mut signal: libc::c_int = 0;
        // SAFETY: `set` and `signal` are valid for the duration of the call.
        match unsafe { libc::sigwait(&set, &mut signal) } {
            0 if signal == libc::SIGTERM => return true,
            0 | libc::EINTR => continue,
            _ => return false,
        }
    }
}
