//! Configuration: every environment variable the extension reads is a `const` here, parsed
//! once at start into a typed [`Config`]. Only this module reads the environment, and only
//! through a lookup function, so tests never touch the process environment. Bad values keep
//! the default and produce one warning each; nothing here can fail or panic.

use std::path::PathBuf;
use std::time::Duration;

use crate::duration::parse_duration;

pub const ENABLED: &str = "NEW_RELIC_LAMBDA_EXTENSION_ENABLED";
pub const LICENSE_KEY: &str = "NEW_RELIC_LICENSE_KEY";
pub const LICENSE_KEY_SECRET: &str = "NEW_RELIC_LICENSE_KEY_SECRET";
pub const LICENSE_KEY_SSM: &str = "NEW_RELIC_LICENSE_KEY_SSM_PARAMETER_NAME";
pub const TELEMETRY_ENDPOINT: &str = "NEW_RELIC_TELEMETRY_ENDPOINT";
pub const LOG_ENDPOINT: &str = "NEW_RELIC_LOG_ENDPOINT";
pub const SEND_LOGS: &str = "NEW_RELIC_EXTENSION_SEND_LOGS";
pub const SEND_FUNCTION_LOGS: &str = "NEW_RELIC_EXTENSION_SEND_FUNCTION_LOGS";
pub const SEND_EXTENSION_LOGS: &str = "NEW_RELIC_EXTENSION_SEND_EXTENSION_LOGS";
pub const SEND_PLATFORM_LOGS: &str = "NEW_RELIC_EXTENSION_SEND_PLATFORM_LOGS";
pub const LOG_LEVEL: &str = "NEW_RELIC_EXTENSION_LOG_LEVEL";
pub const LOGS_ENABLED: &str = "NEW_RELIC_EXTENSION_LOGS_ENABLED";
pub const COLLECT_TRACE_ID: &str = "NEW_RELIC_COLLECT_TRACE_ID";
pub const NR_TAGS: &str = "NR_TAGS";
pub const NR_ENV_DELIMITER: &str = "NR_ENV_DELIMITER";
pub const LABELS: &str = "NEW_RELIC_LABELS";
pub const DATA_COLLECTION_TIMEOUT: &str = "NEW_RELIC_DATA_COLLECTION_TIMEOUT";
pub const HTTP_TIMEOUT: &str = "NEW_RELIC_HTTP_TIMEOUT";
pub const SYNCHRONOUS_FLUSH: &str = "NEW_RELIC_EXTENSION_SYNCHRONOUS_FLUSH";
pub const PIPELINE_FLUSH: &str = "NEW_RELIC_EXTENSION_PIPELINE_FLUSH";
/// Ours: data older than this is delivered before `event/next` whatever the flush mode, and
/// an idle gap longer than this makes a function "sparse" (see `policy.rs`).
pub const MAX_DATA_AGE: &str = "NEW_RELIC_EXTENSION_MAX_DATA_AGE";
pub const PROXY: &str = "NEW_RELIC_LAMBDA_EXTENSION_PROXY";
pub const SSL_CERT_FILE: &str = "SSL_CERT_FILE";
/// Ours: where the agent pipe lives. The agents only ever write the default; tests move it.
pub const PIPE_PATH: &str = "NEW_RELIC_EXTENSION_PIPE_PATH";
pub const RUNTIME_API: &str = "AWS_LAMBDA_RUNTIME_API";
pub const FUNCTION_NAME: &str = "AWS_LAMBDA_FUNCTION_NAME";
pub const FUNCTION_VERSION: &str = "AWS_LAMBDA_FUNCTION_VERSION";
pub const REGION: &str = "AWS_REGION";
// The function's credentials and the standard endpoint overrides, for the license key lookup
// in Secrets Manager / SSM (newrelic.md §8).
pub const AWS_ACCESS_KEY_ID: &str = "AWS_ACCESS_KEY_ID";
pub const AWS_SECRET_ACCESS_KEY: &str = "AWS_SECRET_ACCESS_KEY";
pub const AWS_SESSION_TOKEN: &str = "AWS_SESSION_TOKEN";
pub const AWS_ENDPOINT_URL_SECRETS_MANAGER: &str = "AWS_ENDPOINT_URL_SECRETS_MANAGER";
pub const AWS_ENDPOINT_URL_SSM: &str = "AWS_ENDPOINT_URL_SSM";
pub const AWS_ENDPOINT_URL: &str = "AWS_ENDPOINT_URL";
// The conventional proxy variables, upper case first (used only without
// NEW_RELIC_LAMBDA_EXTENSION_PROXY; never for the Lambda APIs).
pub const HTTPS_PROXY: [&str; 2] = ["HTTPS_PROXY", "https_proxy"];
pub const HTTP_PROXY: [&str; 2] = ["HTTP_PROXY", "http_proxy"];
pub const NO_PROXY: [&str; 2] = ["NO_PROXY", "no_proxy"];

pub const DEFAULT_PIPE_PATH: &str = "/tmp/newrelic-telemetry";

/// A secret value from the environment (AWS secret key, session token). `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// The license key. Its `Debug` never shows the value.
#[derive(Clone, PartialEq, Eq)]
pub struct LicenseKey(pub String);

impl std::fmt::Debug for LicenseKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LicenseKey(<redacted>)")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Error = 1,
    Warn = 2,
    Info = 3,
    Debug = 4,
    Trace = 5,
}

/// Which Telemetry API log streams are forwarded to the New Relic Log API.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogSelection {
    pub function: bool,
    pub extension: bool,
    pub platform: bool,
}

impl LogSelection {
    pub fn any(&self) -> bool {
        self.function || self.extension || self.platform
    }
}

/// Who decides when queued data is delivered (see `policy.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlushMode {
    Adaptive,
    /// `NEW_RELIC_EXTENSION_SYNCHRONOUS_FLUSH=true`: always deliver before `event/next`.
    Synchronous,
    /// `NEW_RELIC_EXTENSION_PIPELINE_FLUSH=true`: always deliver in the background.
    Background,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub enabled: bool,
    pub license_key: Option<LicenseKey>,
    pub license_key_secret: Option<String>,
    pub license_key_ssm_parameter: Option<String>,
    pub telemetry_endpoint: Option<String>,
    pub log_endpoint: Option<String>,
    pub send_logs: LogSelection,
    pub log_level: Level,
    pub logs_enabled: bool,
    pub collect_trace_id: bool,
    /// `NR_TAGS` pairs, unprefixed.
    pub tags: Vec<(String, String)>,
    /// `NEW_RELIC_LABELS` pairs; the key is the label type (sent as `tags.<type>`).
    pub labels: Vec<(String, String)>,
    pub data_collection_timeout: Duration,
    pub http_timeout: Duration,
    pub flush_mode: FlushMode,
    pub max_data_age: Duration,
    pub proxy: Option<String>,
    pub ssl_cert_file: Option<PathBuf>,
    pub pipe_path: PathBuf,
    pub runtime_api: Option<String>,
    pub function_name: String,
    pub function_version: String,
    pub region: Option<String>,
    pub aws_access_key_id: Option<String>,
    pub aws_secret_access_key: Option<Secret>,
    pub aws_session_token: Option<Secret>,
    pub aws_endpoint_secrets_manager: Option<String>,
    pub aws_endpoint_ssm: Option<String>,
    pub aws_endpoint_url: Option<String>,
    /// `HTTPS_PROXY` / `https_proxy`.
    pub https_proxy: Option<String>,
    /// `HTTP_PROXY` / `http_proxy`.
    pub http_proxy: Option<String>,
    /// `NO_PROXY` / `no_proxy`.
    pub no_proxy: Option<String>,
}

impl Config {
    /// Parses the configuration. Returns the warnings to log once the logger is set up.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> (Config, Vec<String>) {
        let mut warnings = Vec::new();
        // Empty values count as unset: Lambda consoles make it easy to leave one blank.
        let get = |name: &str| lookup(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        let mut flag = |name: &str, default: bool| match get(name) {
            None => default,
            Some(v) => parse_bool(&v).unwrap_or_else(|| {
                warnings.push(format!("{name}={v:?} is not a boolean (true/false/1/0/yes/no/on/off); using {default}"));
                default
            }),
        };
        let enabled = flag(ENABLED, true);
        let logs_enabled = flag(LOGS_ENABLED, true);
        let collect_trace_id = flag(COLLECT_TRACE_ID, false);
        let sync_flush = flag(SYNCHRONOUS_FLUSH, false);
        let pipeline_flush = flag(PIPELINE_FLUSH, false);
        let flags = LogSelection {
            function: flag(SEND_FUNCTION_LOGS, false),
            extension: flag(SEND_EXTENSION_LOGS, false),
            platform: flag(SEND_PLATFORM_LOGS, false),
        };
        let send_logs = match get(SEND_LOGS) {
            Some(list) => parse_log_selection(&list, &mut warnings),
            None => flags,
        };
        let flush_mode = match (sync_flush, pipeline_flush) {
            (true, true) => {
                warnings
                    .push(format!("{SYNCHRONOUS_FLUSH} and {PIPELINE_FLUSH} are both set; {SYNCHRONOUS_FLUSH} wins"));
                FlushMode::Synchronous
            }
            (true, false) => FlushMode::Synchronous,
            (false, true) => FlushMode::Background,
            (false, false) => FlushMode::Adaptive,
        };
        let log_level = match get(LOG_LEVEL) {
            None => Level::Info,
            Some(v) => parse_level(&v).unwrap_or_else(|| {
                warnings.push(format!("{LOG_LEVEL}={v:?} is not one of error, warn, info, debug, trace; using info"));
                Level::Info
            }),
        };
        let mut duration = |name: &str, default: Duration| match get(name) {
            None => default,
            Some(v) => match parse_duration(&v) {
                Some(d) if !d.is_zero() && d <= Duration::from_secs(900) => d,
                _ => {
                    warnings.push(format!(
                        "{name}={v:?} is not a duration between 1ms and 15m (e.g. 500ms, 2s, 1m30s); using {default:?}"
                    ));
                    default
                }
            },
        };
        let data_collection_timeout = duration(DATA_COLLECTION_TIMEOUT, Duration::from_secs(10));
        let http_timeout = duration(HTTP_TIMEOUT, Duration::from_millis(2400));
        let max_data_age = duration(MAX_DATA_AGE, Duration::from_secs(10));
        let delimiter = get(NR_ENV_DELIMITER).unwrap_or_else(|| ";".to_string());
        let tags = get(NR_TAGS).map_or_else(Vec::new, |v| parse_pairs(NR_TAGS, &v, &delimiter, &mut warnings));
        let labels = get(LABELS).map_or_else(Vec::new, |v| parse_pairs(LABELS, &v, ";", &mut warnings));
        let function_name = get(FUNCTION_NAME).unwrap_or_default();
        let config = Config {
            enabled,
            license_key: get(LICENSE_KEY).map(LicenseKey),
            license_key_secret: get(LICENSE_KEY_SECRET),
            license_key_ssm_parameter: get(LICENSE_KEY_SSM),
            telemetry_endpoint: get(TELEMETRY_ENDPOINT),
            log_endpoint: get(LOG_ENDPOINT),
            send_logs,
            log_level,
            logs_enabled,
            collect_trace_id,
            tags,
            labels,
            data_collection_timeout,
            http_timeout,
            flush_mode,
            max_data_age,
            proxy: get(PROXY),
            ssl_cert_file: get(SSL_CERT_FILE).map(PathBuf::from),
            pipe_path: get(PIPE_PATH).map_or_else(|| PathBuf::from(DEFAULT_PIPE_PATH), PathBuf::from),
            runtime_api: get(RUNTIME_API),
            function_name,
            function_version: get(FUNCTION_VERSION).unwrap_or_else(|| "$LATEST".to_string()),
            region: get(REGION),
            aws_access_key_id: get(AWS_ACCESS_KEY_ID),
            aws_secret_access_key: get(AWS_SECRET_ACCESS_KEY).map(Secret),
            aws_session_token: get(AWS_SESSION_TOKEN).map(Secret),
            aws_endpoint_secrets_manager: get(AWS_ENDPOINT_URL_SECRETS_MANAGER),
            aws_endpoint_ssm: get(AWS_ENDPOINT_URL_SSM),
            aws_endpoint_url: get(AWS_ENDPOINT_URL),
            https_proxy: HTTPS_PROXY.iter().find_map(|name| get(name)),
            http_proxy: HTTP_PROXY.iter().find_map(|name| get(name)),
            no_proxy: NO_PROXY.iter().find_map(|name| get(name)),
        };
        (config, warnings)
    }

    /// The configuration of the running process.
    pub fn from_env() -> (Config, Vec<String>) {
        // `var_os` + lossy conversion: a non-UTF-8 value must not crash anything.
        Config::from_lookup(|name| std::env::var_os(name).map(|v| v.to_string_lossy().into_owned()))
    }
}

pub fn parse_bool(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

fn parse_level(text: &str) -> Option<Level> {
    match text.trim().to_ascii_lowercase().as_str() {
        "error" => Some(Level::Error),
        "warn" | "warning" => Some(Level::Warn),
        "info" => Some(Level::Info),
        "debug" => Some(Level::Debug),
        "trace" => Some(Level::Trace),
        _ => None,
    }
}

fn parse_log_selection(list: &str, warnings: &mut Vec<String>) -> LogSelection {
    let mut selection = LogSelection::default();
    for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        match item.to_ascii_lowercase().as_str() {
            "function" => selection.function = true,
            "extension" => selection.extension = true,
            "platform" => selection.platform = true,
            "all" => selection = LogSelection { function: true, extension: true, platform: true },
            _ => warnings.push(format!(
                "{SEND_LOGS}: unknown log type {item:?} ignored (use function, extension, platform, all)"
            )),
        }
    }
    selection
}

/// `key:value<delim>key:value`; a malformed entry is skipped with one warning.
fn parse_pairs(name: &str, text: &str, delimiter: &str, warnings: &mut Vec<String>) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    for entry in text.split(delimiter).map(str::trim).filter(|s| !s.is_empty()) {
        match entry.split_once(':') {
            Some((k, v)) if !k.trim().is_empty() => pairs.push((k.trim().to_string(), v.trim().to_string())),
            _ => warnings.push(format!("{name}: skipped malformed entry {entry:?} (expected key:value)")),
        }
    }
    pairs
}

#[cfg(test)]
mod tests;
