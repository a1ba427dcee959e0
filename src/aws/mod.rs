//! The two AWS API calls the extension makes, for the license key (newrelic.md §8): Secrets
//! Manager `GetSecretValue` and SSM `GetParameter`, JSON protocol, signed with SigV4.
//!
//! `sigv4` is the pure signer; `client` sends signed calls through the [`Network`] of
//! `http_agent` and classifies the answers. Nothing here decides *which* secret to read or
//! logs anything: that is `license.rs`.
//!
//! [`Network`]: crate::http_agent::Network

pub mod client;
pub mod sigv4;
