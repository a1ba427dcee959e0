//! Where the New Relic license key comes from (newrelic.md §8), in this order:
//! `NEW_RELIC_LICENSE_KEY`; the Secrets Manager secret `NEW_RELIC_LICENSE_KEY_SECRET` (JSON
//! with a `LicenseKey` field); the SSM parameter `NEW_RELIC_LICENSE_KEY_SSM_PARAMETER_NAME`
//! (decrypted, trimmed); else a secret, then a parameter, named `NEW_RELIC_LICENSE_KEY`.
//!
//! The lookup runs on its own thread ([`start`]) so the AWS calls overlap registration, and is
//! bounded by [`LOOKUP_BUDGET`]. Every failure becomes one specific sentence ([`LicenseError`]);
//! none is fatal (the caller runs as a no-op). The key never appears in any message.

use std::fmt;
use std::time::{Duration, Instant};

use crate::aws::client::{self, AwsError, Client, Service};
use crate::aws::sigv4::Credentials;
use crate::config::{self, Config, LicenseKey};
use crate::http_agent::Network;
use crate::json;

/// The secret and parameter name looked up when none is configured.
pub const DEFAULT_NAME: &str = "NEW_RELIC_LICENSE_KEY";
/// The whole lookup, all calls and retries included, ends by then: Lambda's Init waits for it.
pub const LOOKUP_BUDGET: Duration = Duration::from_secs(4);

/// Where a key was (or was not) found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Env,
    Secret(String),
    Parameter(String),
    DefaultSecret,
    DefaultParameter,
}

impl Source {
    fn service(&self) -> Service {
        match self {
            Source::Secret(_) | Source::DefaultSecret | Source::Env => Service::SecretsManager,
            Source::Parameter(_) | Source::DefaultParameter => Service::Ssm,
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Env => f.write_str(config::LICENSE_KEY),
            Source::Secret(id) => write!(f, "Secrets Manager secret {id:?}"),
            Source::Parameter(name) => write!(f, "SSM parameter {name:?}"),
            Source::DefaultSecret => write!(f, "Secrets Manager secret {DEFAULT_NAME:?} (the default name)"),
            Source::DefaultParameter => write!(f, "SSM parameter {DEFAULT_NAME:?} (the default name)"),
        }
    }
}

/// Why one source gave no key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Read, but not JSON.
    NotJson,
    /// JSON without a non-empty string `LicenseKey`.
    NoLicenseKeyField,
    /// A binary secret.
    NoSecretString,
    /// An empty (or whitespace) parameter value.
    Empty,
    Aws {
        region: String,
        error: AwsError,
    },
}

/// Why no key was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LicenseError {
    /// No key in the environment and no AWS credentials or region to look one up: lists the
    /// missing variables.
    NoAws(Vec<&'static str>),
    /// Every source tried, with why each gave nothing.
    NotFound(Vec<(Source, Failure)>),
}

impl fmt::Display for LicenseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("no New Relic license key: ")?;
        match self {
            LicenseError::NoAws(missing) => write!(
                f,
                "{} is not set, and without {} neither Secrets Manager nor SSM can be asked",
                config::LICENSE_KEY,
                missing.join(", ")
            ),
            LicenseError::NotFound(problems) if problems.is_empty() => f.write_str("the lookup failed unexpectedly"),
            LicenseError::NotFound(problems) => {
                let sentences: Vec<String> = problems.iter().map(|(s, why)| describe(s, why)).collect();
                f.write_str(&sentences.join("; "))
            }
        }
    }
}

/// One sentence for one failed source.
pub fn describe(source: &Source, failure: &Failure) -> String {
    let service = source.service().display_name();
    let (region, error) = match failure {
        Failure::NotJson => return format!("{source} is not JSON (expected {{\"LicenseKey\": \"<key>\"}})"),
        Failure::NoLicenseKeyField => return format!("{source} has no non-empty \"LicenseKey\" field"),
        Failure::NoSecretString => return format!("{source} has no SecretString (binary secrets are not supported)"),
        Failure::Empty => return format!("{source} is empty"),
        Failure::Aws { region, error } => (region, error),
    };
    let permission = match source.service() {
        Service::SecretsManager => "secretsmanager:GetSecretValue",
        Service::Ssm => "ssm:GetParameter (and kms:Decrypt for a customer-managed key)",
    };
    match error {
        AwsError::Api { code, .. } if is_not_found(code) => {
            format!("{source} not found in {region} ({code})")
        }
        AwsError::Api { code, message, .. } if code.contains("AccessDenied") => format!(
            "access denied reading {source} ({code}: {message}); the function's execution role needs {permission} on it"
        ),
        AwsError::Api { code, message, .. } if is_bad_credentials(code) => {
            format!("AWS rejected the function's credentials reading {source} ({code}: {message})")
        }
        AwsError::Api { status, code, message } => {
            format!("{service} answered {status} {code} reading {source}: {message}")
        }
        AwsError::Throttled { code, attempts } => {
            format!("{service} throttled reading {source} ({code}, {attempts} attempts)")
        }
        AwsError::Timeout { attempts } => {
            format!("timed out reading {source}: {service} did not answer ({attempts} attempts)")
        }
        AwsError::Transport(text) => format!("cannot reach {service} reading {source}: {text}"),
        AwsError::BadResponse(text) => format!("unexpected answer from {service} reading {source}: {text}"),
        AwsError::BadEndpoint(url) => format!("the {service} endpoint override {url:?} is not a URL"),
    }
}

fn is_not_found(code: &str) -> bool {
    matches!(code, "ResourceNotFoundException" | "ParameterNotFound")
}

fn is_bad_credentials(code: &str) -> bool {
    matches!(
        code,
        "UnrecognizedClientException"
            | "InvalidSignatureException"
            | "SignatureDoesNotMatch"
            | "InvalidClientTokenId"
            | "ExpiredTokenException"
            | "IncompleteSignature"
            | "MissingAuthenticationToken"
    )
}

/// The two reads a lookup needs; the real one calls AWS, tests substitute their own.
pub trait Fetch {
    fn secret(&self, id: &str, deadline: Instant) -> Result<Option<String>, Failure>;
    fn parameter(&self, name: &str, deadline: Instant) -> Result<Option<String>, Failure>;
}

/// The key from the sources the configuration names (or the default ones), in order.
pub fn resolve_with(
    config: &Config,
    fetch: &impl Fetch,
    deadline: Instant,
) -> Result<(LicenseKey, Source), LicenseError> {
    if let Some(key) = &config.license_key {
        return Ok((key.clone(), Source::Env));
    }
    let mut sources = Vec::new();
    sources.extend(config.license_key_secret.clone().map(Source::Secret));
    sources.extend(config.license_key_ssm_parameter.clone().map(Source::Parameter));
    if sources.is_empty() {
        sources = vec![Source::DefaultSecret, Source::DefaultParameter];
    }
    let mut problems = Vec::new();
    for source in sources {
        let found = match &source {
            Source::Secret(id) => fetch.secret(id, deadline).and_then(key_from_secret),
            Source::DefaultSecret => fetch.secret(DEFAULT_NAME, deadline).and_then(key_from_secret),
            Source::Parameter(name) => fetch.parameter(name, deadline).and_then(key_from_parameter),
            Source::DefaultParameter => fetch.parameter(DEFAULT_NAME, deadline).and_then(key_from_parameter),
            Source::Env => continue,
        };
        match found {
            Ok(key) => return Ok((LicenseKey(key), source)),
            Err(why) => problems.push((source, why)),
        }
    }
    Err(LicenseError::NotFound(problems))
}

/// `{"LicenseKey": "…"}` → the key, trimmed.
pub fn key_from_secret(secret: Option<String>) -> Result<String, Failure> {
    let text = secret.ok_or(Failure::NoSecretString)?;
    let value = json::parse(text.as_bytes()).ok_or(Failure::NotJson)?;
    let object = json::object(&value).ok_or(Failure::NoLicenseKeyField)?;
    match json::str_field(object, "LicenseKey").map(str::trim) {
        Some(key) if !key.is_empty() => Ok(key.to_string()),
        _ => Err(Failure::NoLicenseKeyField),
    }
}

fn key_from_parameter(value: Option<String>) -> Result<String, Failure> {
    match value.as_deref().map(str::trim) {
        Some(key) if !key.is_empty() => Ok(key.to_string()),
        _ => Err(Failure::Empty),
    }
}

/// The region of a Secrets Manager ARN (`arn:aws:secretsmanager:<region>:…`), if it is one.
pub fn region_of_arn(id: &str) -> Option<&str> {
    let mut parts = id.split(':');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some("arn"), Some(_), Some("secretsmanager"), Some(region)) if !region.is_empty() => Some(region),
        _ => None,
    }
}

/// The real [`Fetch`]: signed calls with the function's credentials.
pub struct AwsFetch<'a> {
    client: Client,
    config: &'a Config,
    region: String,
}

impl<'a> AwsFetch<'a> {
    /// `Err` lists the variables that are missing for any AWS call.
    pub fn new(config: &'a Config, network: &Network) -> Result<AwsFetch<'a>, Vec<&'static str>> {
        let (id, secret, region) = (&config.aws_access_key_id, &config.aws_secret_access_key, &config.region);
        let (Some(id), Some(secret), Some(region)) = (id, secret, region) else {
            let names = [config::AWS_ACCESS_KEY_ID, config::AWS_SECRET_ACCESS_KEY, config::REGION];
            let present = [id.is_some(), secret.is_some(), region.is_some()];
            return Err(names.iter().zip(present).filter(|(_, p)| !p).map(|(n, _)| *n).collect());
        };
        let creds = Credentials {
            access_key_id: id.clone(),
            secret_access_key: secret.0.clone(),
            session_token: config.aws_session_token.as_ref().map(|t| t.0.clone()),
        };
        let client = Client::new(network, creds, config.http_timeout);
        Ok(AwsFetch { client, config, region: region.clone() })
    }
}

impl Fetch for AwsFetch<'_> {
    fn secret(&self, id: &str, deadline: Instant) -> Result<Option<String>, Failure> {
        // A secret ARN names its region; a cross-region ARN must be asked there.
        let region = region_of_arn(id).unwrap_or(&self.region);
        let c = self.config;
        let specific = c.aws_endpoint_secrets_manager.as_deref();
        let url = client::endpoint(Service::SecretsManager, region, specific, c.aws_endpoint_url.as_deref());
        let region_owned = region.to_string();
        self.client
            .secret_string(&url, region, id, deadline)
            .map_err(|error| Failure::Aws { region: region_owned, error })
    }

    fn parameter(&self, name: &str, deadline: Instant) -> Result<Option<String>, Failure> {
        let c = self.config;
        let url =
            client::endpoint(Service::Ssm, &self.region, c.aws_endpoint_ssm.as_deref(), c.aws_endpoint_url.as_deref());
        let region = self.region.clone();
        self.client.parameter(&url, &self.region, name, deadline).map_err(|error| Failure::Aws { region, error })
    }
}

/// The key, looked up synchronously.
pub fn resolve(config: &Config, network: &Network) -> Result<(LicenseKey, Source), LicenseError> {
    if let Some(key) = &config.license_key {
        return Ok((key.clone(), Source::Env));
    }
    let fetch = AwsFetch::new(config, network).map_err(LicenseError::NoAws)?;
    resolve_with(config, &fetch, Instant::now() + LOOKUP_BUDGET)
}

mod lookup;
pub use lookup::{start, Lookup, Resolved};

#[cfg(test)]
mod tests;
