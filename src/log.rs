//! The extension's own log lines: one `[NR_EXT] LEVEL message` line per call on stdout, which
//! Lambda sends to CloudWatch and to the Telemetry API `extension` stream. The level is set once
//! at start from the configuration; `NEW_RELIC_EXTENSION_LOGS_ENABLED=false` silences everything.
//! Write errors (a closed stdout) are ignored: logging must never take the process down.

use std::io::Write;
use std::sync::atomic::{AtomicU8, Ordering};

use crate::config::Level;

/// 0 = silent. Written once by `init`, read by every log call: a write-once setting, not state.
static MAX_LEVEL: AtomicU8 = AtomicU8::new(Level::Info as u8);

pub fn init(level: Level, enabled: bool) {
    MAX_LEVEL.store(if enabled { level as u8 } else { 0 }, Ordering::Relaxed);
}

pub fn enabled(level: Level) -> bool {
    level as u8 <= MAX_LEVEL.load(Ordering::Relaxed)
}

pub fn write(level: Level, args: std::fmt::Arguments<'_>) {
    if !enabled(level) {
        return;
    }
    let tag = match level {
        Level::Error => "ERROR",
        Level::Warn => "WARN",
        Level::Info => "INFO",
        Level::Debug => "DEBUG",
        Level::Trace => "TRACE",
    };
    // One write per line so lines from different threads never interleave.
    let line = format!("[NR_EXT] {tag} {args}\n");
    let _ = std::io::stdout().lock().write_all(line.as_bytes());
}

#[macro_export]
macro_rules! error { ($($t:tt)*) => { $crate::log::write($crate::config::Level::Error, format_args!($($t)*)) } }
#[macro_export]
macro_rules! warn { ($($t:tt)*) => { $crate::log::write($crate::config::Level::Warn, format_args!($($t)*)) } }
#[macro_export]
macro_rules! info { ($($t:tt)*) => { $crate::log::write($crate::config::Level::Info, format_args!($($t)*)) } }
#[macro_export]
macro_rules! debug { ($($t:tt)*) => { $crate::log::write($crate::config::Level::Debug, format_args!($($t)*)) } }
