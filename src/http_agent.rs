//! How New Relic and AWS API traffic leaves the sandbox: the proxy (see `proxy.rs`) and the
//! TLS roots (built-in, plus `SSL_CERT_FILE`; see `roots.rs`), resolved once into a
//! [`Network`] and applied to every `ureq` agent that talks to New Relic or AWS.
//!
//! It owns no agent settings other than proxy and TLS (timeouts, pools and redirects are the
//! caller's), it is never used for the Lambda APIs on localhost, and no log line it produces
//! or returns contains proxy credentials.

pub mod crypto;
pub mod proxy;
pub mod resolve;
pub mod roots;
pub mod url;

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

use ureq::config::ConfigBuilder;
use ureq::tls::{Certificate, RootCerts, TlsConfig};
use ureq::typestate::AgentScope;

use crate::config::{Config, SSL_CERT_FILE};

pub use proxy::ProxySetting;

/// The resolved network settings; cheap to clone (shared certificates).
#[derive(Clone, Debug, Default)]
pub struct Network {
    pub proxy: Option<ProxySetting>,
    /// `None`: the built-in roots only. `Some`: built-in roots followed by the extra CAs.
    roots: Option<Arc<Vec<Certificate<'static>>>>,
    /// How many CAs `SSL_CERT_FILE` added.
    pub extra_cas: usize,
}

impl Network {
    /// Resolves proxy and roots from the configuration (reads `SSL_CERT_FILE`). Returns the
    /// warnings to log: an unusable proxy setting, an unreadable or invalid CA file (then
    /// the built-in roots alone are used).
    pub fn from_config(config: &Config) -> (Network, Vec<String>) {
        let (proxy, mut warnings) = proxy::choose(config);
        let mut network = Network { proxy, ..Network::default() };
        if let Some(path) = &config.ssl_cert_file {
            match roots::load_pem_file(path) {
                Ok(extra) => network.add_roots(extra),
                Err(why) => warnings.push(format!(
                    "{SSL_CERT_FILE}={} {why}; only the built-in root certificates are trusted",
                    path.display()
                )),
            }
        }
        (network, warnings)
    }

    /// Trusts `extra` CAs in addition to the built-in roots.
    pub fn add_roots(&mut self, extra: Vec<Certificate<'static>>) {
        self.extra_cas += extra.len();
        let mut all = match self.roots.take() {
            Some(existing) => existing.as_ref().clone(),
            None => roots::builtin_roots(),
        };
        all.extend(extra);
        self.roots = Some(Arc::new(all));
    }

    /// Trusts exactly `certs` and nothing else (tests of the root handling itself).
    pub fn with_only_roots(mut self, certs: Vec<Certificate<'static>>) -> Network {
        self.extra_cas = certs.len();
        self.roots = Some(Arc::new(certs));
        self
    }

    /// One line for the start-up log: proxy (masked) and CAs.
    pub fn describe(&self) -> String {
        let proxy = match &self.proxy {
            Some(p) => format!("through proxy {} (from {})", p.shown, p.origin),
            None => "direct (no proxy)".to_string(),
        };
        match self.extra_cas {
            0 => format!("New Relic and AWS traffic: {proxy}, built-in root certificates"),
            n => {
                format!("New Relic and AWS traffic: {proxy}, built-in root certificates plus {n} from {SSL_CERT_FILE}")
            }
        }
    }

    /// Applies proxy and TLS roots to an agent configuration. Always sets the proxy, so ureq
    /// never picks one up from the environment on its own.
    pub fn configure(&self, builder: ConfigBuilder<AgentScope>) -> ConfigBuilder<AgentScope> {
        let root_certs = match &self.roots {
            Some(certs) => RootCerts::Specific(Arc::clone(certs)),
            None => RootCerts::WebPki,
        };
        builder
            // ureq zero-fills 128 KiB in and 128 KiB out per new connection by default: with
            // connections renewed after freezes, that was 15% of all instructions (callgrind).
            .input_buffer_size(BUFFER_BYTES)
            .output_buffer_size(BUFFER_BYTES)
            .proxy(self.proxy.as_ref().map(|p| p.proxy.clone()))
            .tls_config(
                TlsConfig::builder()
                    .root_certs(root_certs)
                    .unversioned_rustls_crypto_provider(crypto::provider())
                    .build(),
            )
    }
}

/// Per-connection input and output buffer of ureq: response heads and streamed bodies only
/// need to fit a chunk, never a whole body.
pub const BUFFER_BYTES: usize = 16 * 1024;

/// A ureq middleware that logs the first transport failure of each kind (TLS, proxy, timeout,
/// other) with a hint, then stays quiet: requests that fail are retried and counted by their
/// caller, but the *reason* would otherwise never reach the user.
pub fn failure_log(what: &'static str, network: &Network) -> impl ureq::middleware::Middleware {
    let seen = Arc::new(AtomicU8::new(0));
    let proxy = network.proxy.as_ref().map(|p| p.shown.clone());
    move |request: ureq::http::Request<ureq::SendBody>, next: ureq::middleware::MiddlewareNext| {
        let target = request.uri().authority().map(|a| a.host().to_string()).unwrap_or_default();
        let result = next.handle(request);
        if let Err(err) = &result {
            let (bit, hint) = classify(err, proxy.as_deref());
            if seen.fetch_or(bit, Ordering::Relaxed) & bit == 0 {
                let text = url::mask_userinfo(&err.to_string());
                crate::warn!("cannot reach {what} at {target}: {text}{hint}. Later failures like this are not logged.");
            }
        }
        result
    }
}

/// The kind bit of a failure and the hint that goes with it.
fn classify(err: &ureq::Error, proxy: Option<&str>) -> (u8, String) {
    let text = err.to_string().to_ascii_lowercase();
    let via = proxy.map(|p| format!(" (through proxy {p})")).unwrap_or_default();
    if text.contains("certificate") || text.contains("tls") || text.contains("handshake") {
        let hint = " (the server's certificate is not trusted: for a private CA or a TLS-inspecting proxy, \
                    set SSL_CERT_FILE to a PEM file with that CA)";
        (1, format!("{hint}{via}"))
    } else if matches!(err, ureq::Error::ConnectProxyFailed(_)) || text.contains("socks") || text.contains("proxy") {
        (2, via)
    } else if matches!(err, ureq::Error::Timeout(_)) {
        (4, via)
    } else {
        (8, via)
    }
}

#[cfg(test)]
mod tests;
