//! The agent FIFO: creation (the one place that needs `unsafe`) and the reader thread.
//! (STUB: to be implemented.)

use std::path::{Path, PathBuf};

use crate::event::Event;

/// Removes a stale file at `path` and creates a FIFO with mode 0666.
pub fn create(_path: &Path) -> std::io::Result<()> {
    Ok(())
}

/// Removes the FIFO (best effort), e.g. when initialization fails after creating it.
pub fn remove(path: &Path) {
    let _ = std::fs::remove_file(path);
}

/// Starts the named reader thread: open, read to EOF, split, send one `Event::AgentPayload`
/// per payload, repeat. It never keeps the process alive (the process exits around it).
pub fn spawn_reader(
    _path: PathBuf,
    _tx: crossbeam_channel::Sender<Event>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("agent-pipe".into())
        .spawn(|| {})
}
