//! The Telemetry API listener: a tiny `std::net` HTTP/1.1 server on an ephemeral port that
//! always answers 200 at once and hands parsed batches to the pipeline. (STUB.)

use std::net::TcpListener;

use crate::event::Event;

/// Largest request body accepted; larger bodies are answered 200, discarded and counted.
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// Binds `0.0.0.0:0` (never 9001). Returns the listener so the caller can read the port
/// before subscribing.
pub fn bind() -> std::io::Result<TcpListener> {
    TcpListener::bind("0.0.0.0:0")
}

/// Starts the accept loop on a named thread.
pub fn spawn(
    listener: TcpListener,
    _tx: crossbeam_channel::Sender<Event>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("telemetry-listener".into())
        .spawn(move || drop(listener))
}
