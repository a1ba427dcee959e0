//! SIGTERM: deliver what is queued within a bounded time, then exit 0. Lambda itself ends an
//! extension with SHUTDOWN (and SIGKILL at its deadline), never SIGTERM; but a container stop,
//! a local emulator or an orchestrator may send SIGTERM to every process, and the default
//! action would lose whatever is queued.
//!
//! The handler does one async-signal-safe thing: before the lifecycle arms it (nothing is
//! queued yet) it ends the process with `_exit(0)`; once armed it writes one byte to a pipe.
//! The pipe is watched by a thread that is there anyway, the agent pipe reader, which polls it
//! beside the FIFO ([`Watch::fd`], [`Watch::fire`]); without a reader, a thread of its own
//! watches it ([`Watch::spawn`]). What a SIGTERM does runs on a thread started at that moment:
//! the closure the lifecycle armed it with. A dedicated thread waiting in `sigwait` from the
//! start (the first design) cost every invocation two more wake-ups (every thread is woken to
//! stop at a freeze and again at the thaw) and a thread start before `register`.
// sigaction, pipe2, write and _exit have no std equivalent.
#![allow(unsafe_code)]

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::{info, warn};

/// Time a SIGTERM gives delivery before the process exits: Lambda's own SHUTDOWN budget for
/// external extensions, and well inside the 10 s a `docker stop` waits before SIGKILL.
pub const SIGTERM_BUDGET: Duration = Duration::from_millis(1500);

/// What SIGTERM runs before the process exits (deliver what is queued, print the summary).
pub type OnTerm = Box<dyn FnOnce() + Send>;

/// Whether the handler hands SIGTERM to the watcher (armed) or exits at once.
static ARMED: AtomicBool = AtomicBool::new(false);
/// The write end of the watcher's pipe; -1 until installed.
static NOTIFY_FD: AtomicI32 = AtomicI32::new(-1);

/// The lifecycle's side: arms SIGTERM, and claims the one shutdown.
pub struct Terminator {
    shared: Arc<Shared>,
    watch: Mutex<Option<Watch>>,
}

struct Shared {
    stopping: AtomicBool,
    on_term: Mutex<Option<OnTerm>>,
}

/// The read end of the SIGTERM pipe, for the thread that watches it.
pub struct Watch {
    pipe: File,
    shared: Arc<Shared>,
}

impl Terminator {
    /// What a SIGTERM runs from now on; until armed, a SIGTERM exits at once (nothing is
    /// queued yet). Only the first arming counts.
    pub fn arm(&self, on_term: OnTerm) {
        let mut slot = self.shared.on_term.lock().unwrap_or_else(PoisonError::into_inner);
        if slot.is_none() && !ARMED.load(Ordering::SeqCst) {
            *slot = Some(on_term);
            ARMED.store(true, Ordering::SeqCst);
        }
    }

    /// Claims the shutdown for the caller: false when a SIGTERM already started one, which
    /// ends the process itself.
    pub fn begin_shutdown(&self) -> bool {
        !self.shared.stopping.swap(true, Ordering::SeqCst)
    }

    /// The pipe to watch, once: for the agent pipe reader, or for [`Watch::spawn`]. `None` if
    /// already taken, or if SIGTERM could not be set up (it then keeps its default action).
    pub fn take_watch(&self) -> Option<Watch> {
        self.watch.lock().unwrap_or_else(PoisonError::into_inner).take()
    }
}

impl Watch {
    pub fn fd(&self) -> RawFd {
        self.pipe.as_raw_fd()
    }

    /// Called when [`Watch::fd`] is readable: takes the byte, and if it was a SIGTERM starts
    /// the thread that delivers and exits (nothing, on a spurious wake-up).
    pub fn fire(&self) {
        let mut byte = [0u8; 16];
        if !matches!((&self.pipe).read(&mut byte), Ok(n) if n > 0) {
            return;
        }
        let shared = Arc::clone(&self.shared);
        let started = std::thread::Builder::new().name("sigterm".into()).spawn(move || terminate(&shared));
        if let Err(e) = started {
            // No thread for it: deliver from here (the caller's own work waits; the process
            // exits afterwards anyway).
            warn!("cannot start the SIGTERM thread ({e}); delivering from the pipe reader");
            terminate(&self.shared);
        }
    }

    /// A thread of its own watches the pipe (when there is no agent pipe reader to do it).
    pub fn spawn(self) {
        let started = std::thread::Builder::new().name("sigterm-watch".into()).spawn(move || {
            while wait_readable(self.fd()) {
                self.fire();
            }
            warn!("the SIGTERM watcher stopped; a SIGTERM ends the extension without delivering");
            ARMED.store(false, Ordering::SeqCst);
        });
        if let Err(e) = started {
            warn!("cannot start the SIGTERM watcher ({e}); a SIGTERM ends the extension without delivering");
            ARMED.store(false, Ordering::SeqCst);
        }
    }
}

/// What a SIGTERM does once armed: unless SHUTDOWN is already being handled (which exits by
/// itself), runs what it was armed with, then exits 0.
fn terminate(shared: &Shared) {
    if shared.stopping.swap(true, Ordering::SeqCst) {
        return;
    }
    info!("SIGTERM; delivering what is queued, then exiting");
    let on_term = shared.on_term.lock().unwrap_or_else(PoisonError::into_inner).take();
    if let Some(run) = on_term {
        run();
    }
    std::process::exit(0);
}

/// Installs the handler. Must run before any other thread starts, so that no thread can be
/// in the middle of anything a SIGTERM would end. If it fails, SIGTERM keeps its default
/// action and a warning says so.
pub fn install() -> Terminator {
    let shared = Arc::new(Shared { stopping: AtomicBool::new(false), on_term: Mutex::new(None) });
    let watch = match notify_pipe().and_then(|(read, write)| set_handler().map(|()| (read, write))) {
        Ok((read, write)) => {
            NOTIFY_FD.store(write, Ordering::SeqCst);
            Some(Watch { pipe: File::from(read), shared: Arc::clone(&shared) })
        }
        Err(e) => {
            warn!("cannot handle SIGTERM ({e}); a SIGTERM ends the extension without delivering");
            None
        }
    };
    Terminator { shared, watch: Mutex::new(watch) }
}

/// A pipe whose write end never blocks (the handler must not); both ends close on exec. The
/// write end lives for the whole process (its number is kept for the handler).
fn notify_pipe() -> io::Result<(OwnedFd, RawFd)> {
    let mut fds = [-1 as libc::c_int; 2];
    // SAFETY: `fds` is a valid array of two ints for the kernel to fill.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let [read, write] = fds;
    // SAFETY: `read` was just returned by pipe2 and is owned by nobody else.
    let read = unsafe { OwnedFd::from_raw_fd(read) };
    // SAFETY: `write` is open (pipe2 succeeded); F_SETFL only changes its status flags.
    if unsafe { libc::fcntl(write, libc::F_SETFL, libc::O_NONBLOCK) } != 0 {
        let e = io::Error::last_os_error();
        // SAFETY: `write` is open and not used after this.
        unsafe { libc::close(write) };
        return Err(e);
    }
    Ok((read, write))
}

extern "C" fn on_sigterm(_: libc::c_int) {
    // Only async-signal-safe calls: an atomic load, write(2), _exit(2).
    if !ARMED.load(Ordering::SeqCst) {
        // SAFETY: _exit ends the process at once; it is async-signal-safe.
        unsafe { libc::_exit(0) };
    }
    let fd = NOTIFY_FD.load(Ordering::SeqCst);
    // SAFETY: `fd` is the pipe's write end, open for the life of the process, and the buffer
    // is a valid one-byte static. A full pipe (repeated SIGTERMs) drops the byte: fine.
    unsafe { libc::write(fd, b"T".as_ptr().cast(), 1) };
}

fn set_handler() -> io::Result<()> {
    // SAFETY: an all-zero sigaction is valid to fill in; the handler is an `extern "C"`
    // function that only makes async-signal-safe calls; SA_RESTART restarts the system calls
    // it interrupts where the kernel can.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_sigterm as extern "C" fn(libc::c_int) as libc::sighandler_t;
        action.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut action.sa_mask);
        if libc::sigaction(libc::SIGTERM, &action, std::ptr::null_mut()) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Blocks until `fd` is readable (true), or interrupted (true: look again); false when poll
/// fails for good.
fn wait_readable(fd: RawFd) -> bool {
    let mut pfd = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
    // SAFETY: one valid pollfd that outlives the call.
    let ready = unsafe { libc::poll(&mut pfd, 1, -1) };
    ready > 0 || io::Error::last_os_error().kind() == io::ErrorKind::Interrupted
}
