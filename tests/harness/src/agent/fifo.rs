//! Writing payloads to the extension's FIFO the way a New Relic agent does:
//! blocking open for writing (which waits for a reader), write, close. The
//! blocking part runs on a helper thread so a test gets `Blocked` after its
//! timeout instead of hanging when the extension does not read its pipe.
//! It never reads payload data from the pipe.

use super::AgentError;
use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::Duration;

/// Where the real agents write.
pub const DEFAULT_PIPE: &str = "/tmp/newrelic-telemetry";

/// Writes `payloads` to the FIFO at `path`. With `glued`, all payloads go in
/// ONE write on one open (the reader sees them glued together); otherwise each
/// payload gets its own open/write/close, like successive invocations.
/// `NoPipe` when the path does not exist; `Blocked` when the whole operation
/// did not finish within `timeout`.
pub fn write_payloads(path: &Path, payloads: &[Vec<u8>], glued: bool, timeout: Duration) -> Result<(), AgentError> {
    if !path.exists() {
        return Err(AgentError::NoPipe);
    }
    let groups: Vec<Vec<u8>> = if glued { vec![payloads.concat()] } else { payloads.to_vec() };
    let cancelled = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel();
    let (p, c) = (path.to_path_buf(), Arc::clone(&cancelled));
    thread::Builder::new()
        .name("sim-agent-fifo".into())
        .spawn(move || {
            let _ = tx.send(write_groups(&p, &groups, &c));
        })
        .map_err(AgentError::Io)?;
    match rx.recv_timeout(timeout) {
        Ok(result) => result,
        Err(_) => {
            cancelled.store(true, Ordering::SeqCst);
            unblock_open(path, &rx);
            Err(AgentError::Blocked)
        }
    }
}

fn write_groups(path: &PathBuf, groups: &[Vec<u8>], cancelled: &AtomicBool) -> Result<(), AgentError> {
    for bytes in groups {
        let mut pipe = OpenOptions::new().write(true).open(path).map_err(AgentError::Io)?;
        if cancelled.load(Ordering::SeqCst) {
            // Opened only because the timeout path unblocked us: write nothing.
            return Err(AgentError::Blocked);
        }
        pipe.write_all(bytes).map_err(AgentError::Io)?;
    }
    Ok(())
}

/// A writer stuck in open() is released by any reader opening the FIFO; a
/// non-blocking read open does that without waiting. The writer then sees
/// the cancel flag and closes without writing. We hold the read end until the
/// writer thread reports (briefly), so its open surely completes. A writer
/// stuck in write() (pipe full, nobody draining) is left to finish or fail
/// when the real reader closes.
fn unblock_open(path: &Path, rx: &mpsc::Receiver<Result<(), AgentError>>) {
    let reader = OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(path);
    if reader.is_ok() {
        let _ = rx.recv_timeout(Duration::from_millis(200));
    }
}
