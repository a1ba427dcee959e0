//! The license key lookup on its own thread: started before registration, joined after it,
//! so that the Secrets Manager / SSM calls (and reading `SSL_CERT_FILE`) overlap with it.
//! It logs what the caller needs to know (network warnings, the key's source, the duration at
//! debug level); the caller logs a failure and decides what to do.

use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{resolve, LicenseError, Source};
use crate::config::{Config, LicenseKey};
use crate::http_agent::Network;

/// What a lookup found.
#[derive(Debug)]
pub struct Resolved {
    pub key: LicenseKey,
    pub source: Source,
    /// The proxy and roots for New Relic traffic (resolved on the lookup thread too).
    pub network: Network,
}

/// What the lookup thread hands back: the key (or why not), the network settings and their
/// warnings, and how long the work took.
struct Outcome {
    result: Result<(LicenseKey, Source), LicenseError>,
    network: Network,
    warnings: Vec<String>,
    took: Duration,
}

fn work(config: &Config) -> Outcome {
    let started = Instant::now();
    let (network, warnings) = Network::from_config(config);
    let result = resolve(config, &network);
    Outcome { result, network, warnings, took: started.elapsed() }
}

/// A lookup: running on its own thread, done already, or to be done by [`Lookup::finish`].
pub struct Lookup {
    running: Running,
}

enum Running {
    Thread(JoinHandle<Outcome>),
    Done(Box<Outcome>),
    /// No thread could be started: [`Lookup::finish`] does the work.
    Later(Box<Config>),
}

/// Starts resolving the key and the network settings on a thread, so that the AWS calls
/// overlap with registration. With the key in the environment and no CA file to read, the work
/// takes microseconds and a thread would cost the cold start more than it saves:
/// it is done at once. If no thread can be started, [`Lookup::finish`] does the work.
pub fn start(config: &Config) -> Lookup {
    if config.license_key.is_some() && config.ssl_cert_file.is_none() {
        return Lookup { running: Running::Done(Box::new(work(config))) };
    }
    let owned = config.clone();
    let running = match std::thread::Builder::new().name("nr-license".into()).spawn(move || work(&owned)) {
        Ok(handle) => Running::Thread(handle),
        Err(_) => Running::Later(Box::new(config.clone())),
    };
    Lookup { running }
}

impl Lookup {
    /// Waits for the lookup; logs the network warnings, where the key came from and how long
    /// it took (debug). The caller logs the error, if any.
    pub fn finish(self) -> Result<Resolved, LicenseError> {
        let joining = Instant::now();
        let outcome = match self.running {
            Running::Thread(handle) => handle.join().unwrap_or_else(|_| Outcome {
                result: Err(LicenseError::NotFound(Vec::new())),
                network: Network::default(),
                warnings: vec!["the license key lookup thread failed".into()],
                took: joining.elapsed(),
            }),
            Running::Done(outcome) => *outcome,
            Running::Later(config) => work(&config),
        };
        for warning in &outcome.warnings {
            crate::warn!("{warning}");
        }
        crate::debug!("{}", outcome.network.describe());
        crate::debug!(
            "license key lookup took {:?}, of which {:?} after registration",
            outcome.took,
            joining.elapsed()
        );
        let (key, source) = outcome.result?;
        crate::info!("using the New Relic license key from {source}");
        Ok(Resolved { key, source, network: outcome.network })
    }
}
