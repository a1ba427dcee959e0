//! The one error type. Messages carry their context ("failed to subscribe to Telemetry API:
//! status 400 …") so a log line is enough to act on.

use std::fmt;

#[derive(Debug)]
pub enum Error {
    /// The request did not complete (connection refused, reset, timeout, bad response).
    Transport { context: &'static str, message: String },
    /// The peer answered with a status we cannot proceed on.
    Status { context: &'static str, status: u16, body: String },
    /// The peer answered 2xx with a body we cannot understand.
    Protocol { context: &'static str, message: String },
    /// Local I/O (pipe, socket, thread spawn).
    Io { context: &'static str, source: std::io::Error },
    /// Missing or unusable configuration that makes running impossible.
    Config(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Transport { context, message } => write!(f, "{context}: {message}"),
            Error::Status { context, status, body } if body.is_empty() => write!(f, "{context}: status {status}"),
            Error::Status { context, status, body } => write!(f, "{context}: status {status}: {body}"),
            Error::Protocol { context, message } => write!(f, "{context}: {message}"),
            Error::Io { context, source } => write!(f, "{context}: {source}"),
            Error::Config(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for Error {}
