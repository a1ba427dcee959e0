//! A minimal AWS JSON-protocol client: one signed POST per attempt, a few attempts for
//! throttling, 5xx and transport failures, all within a caller's deadline, and the answer
//! classified into [`AwsError`]. Endpoints follow the standard overrides
//! (`AWS_ENDPOINT_URL_<SERVICE>`, then `AWS_ENDPOINT_URL`), else `https://<svc>.<region>…`.
//!
//! It never logs and never puts a response body into an error, except AWS's own error
//! `message` (which never holds the secret value).

use std::time::{Duration, Instant};

use miniserde::json::Value;
use miniserde::Serialize;

use super::sigv4::{self, Credentials};
use crate::http_agent::url::{mask_userinfo, Url};
use crate::http_agent::Network;
use crate::json;

/// Attempts per call (the AWS SDKs' standard retry mode also makes 3).
pub const MAX_ATTEMPTS: u32 = 3;
/// First backoff between attempts; doubles.
const BACKOFF: Duration = Duration::from_millis(50);
/// Largest response read: a secret is at most 64 KiB, a parameter 8 KiB, plus JSON framing.
const MAX_RESPONSE_BYTES: u64 = 256 * 1024;
/// Longest AWS error message kept.
const MAX_MESSAGE_CHARS: usize = 300;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    SecretsManager,
    Ssm,
}

impl Service {
    /// The SigV4 service name, also the endpoint host prefix.
    pub fn signing_name(self) -> &'static str {
        match self {
            Service::SecretsManager => "secretsmanager",
            Service::Ssm => "ssm",
        }
    }

    pub fn display_name(self) -> &'static str {
        match self {
            Service::SecretsManager => "Secrets Manager",
            Service::Ssm => "SSM",
        }
    }

    fn target_prefix(self) -> &'static str {
        match self {
            Service::SecretsManager => "secretsmanager",
            Service::Ssm => "AmazonSSM",
        }
    }
}

/// The endpoint of `service`: `specific` override, else `any` override, else the regional one.
pub fn endpoint(service: Service, region: &str, specific: Option<&str>, any: Option<&str>) -> String {
    match specific.or(any) {
        Some(url) => url.trim().to_string(),
        None => {
            // China regions live under their own domain; every other partition uses this one.
            let domain = if region.starts_with("cn-") { "amazonaws.com.cn" } else { "amazonaws.com" };
            format!("https://{}.{region}.{domain}", service.signing_name())
        }
    }
}

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AwsError {
    /// AWS answered with an error: the HTTP status, the error code (`ResourceNotFoundException`)
    /// and AWS's message (trimmed to one short line).
    Api { status: u16, code: String, message: String },
    /// Still throttled after every attempt.
    Throttled { code: String, attempts: u32 },
    /// No answer in time (the last attempt timed out, or the deadline left no room).
    Timeout { attempts: u32 },
    /// The request could not be made or completed (connection, TLS, proxy).
    Transport(String),
    /// A 200 whose body is not what the API returns.
    BadResponse(String),
    /// The endpoint override is not a URL.
    BadEndpoint(String),
}

/// Signs and sends calls with one set of credentials.
pub struct Client {
    agent: ureq::Agent,
    creds: Credentials,
    attempt_timeout: Duration,
}

#[derive(Serialize)]
struct GetSecretValue<'a> {
    #[serde(rename = "SecretId")]
    secret_id: &'a str,
}

#[derive(Serialize)]
struct GetParameter<'a> {
    #[serde(rename = "Name")]
    name: &'a str,
    #[serde(rename = "WithDecryption")]
    with_decryption: bool,
}

impl Client {
    /// `attempt_timeout` bounds each attempt; the deadline of a call bounds all of them.
    pub fn new(network: &Network, creds: Credentials, attempt_timeout: Duration) -> Client {
        let config = network
            .configure(ureq::Agent::config_builder())
            .http_status_as_error(false)
            .max_redirects(0)
            .user_agent(crate::newrelic::user_agent())
            .build();
        Client { agent: ureq::Agent::new_with_config(config), creds, attempt_timeout }
    }

    /// `SecretString` of a secret, `None` if it has none (a binary secret).
    pub fn secret_string(
        &self,
        url: &str,
        region: &str,
        id: &str,
        deadline: Instant,
    ) -> Result<Option<String>, AwsError> {
        let body = miniserde::json::to_string(&GetSecretValue { secret_id: id });
        let value = self.call(Service::SecretsManager, url, region, "GetSecretValue", &body, deadline)?;
        Ok(json::object(&value).and_then(|o| json::str_field(o, "SecretString")).map(str::to_owned))
    }

    /// `Parameter.Value` of a parameter, decrypted; `None` if the answer has no value.
    pub fn parameter(
        &self,
        url: &str,
        region: &str,
        name: &str,
        deadline: Instant,
    ) -> Result<Option<String>, AwsError> {
        let body = miniserde::json::to_string(&GetParameter { name, with_decryption: true });
        let value = self.call(Service::Ssm, url, region, "GetParameter", &body, deadline)?;
        let parameter = json::object(&value).and_then(|o| o.get("Parameter")).and_then(json::object);
        Ok(parameter.and_then(|p| json::str_field(p, "Value")).map(str::to_owned))
    }

    /// One API call with retries; the parsed JSON answer on a 200.
    pub fn call(
        &self,
        service: Service,
        url: &str,
        region: &str,
        action: &str,
        body: &str,
        deadline: Instant,
    ) -> Result<Value, AwsError> {
        let parsed = Url::parse(url).ok_or_else(|| AwsError::BadEndpoint(mask_userinfo(url)))?;
        let target = format!("{}.{action}", service.target_prefix());
        let call = Call { service, url, parsed, region, target: &target, body };
        let mut attempt = 0;
        loop {
            attempt += 1;
            let Some(left) = deadline.checked_duration_since(Instant::now()).filter(|d| !d.is_zero()) else {
                return Err(AwsError::Timeout { attempts: attempt - 1 });
            };
            let error = match self.attempt(&call, left.min(self.attempt_timeout)) {
                Ok(value) => return Ok(value),
                Err(e) => e,
            };
            let retryable = match &error {
                AwsError::Api { status, code, .. } => *status >= 500 || *status == 429 || is_throttling(code),
                AwsError::Timeout { .. } | AwsError::Transport(_) => true,
                _ => false,
            };
            let wait = BACKOFF * (1 << (attempt - 1).min(4));
            let room = Instant::now().checked_add(wait).is_some_and(|t| t < deadline);
            if !retryable || attempt >= MAX_ATTEMPTS || !room {
                return Err(match error {
                    AwsError::Api { code, .. } if is_throttling(&code) => {
                        AwsError::Throttled { code, attempts: attempt }
                    }
                    AwsError::Timeout { .. } => AwsError::Timeout { attempts: attempt },
                    other => other,
                });
            }
            std::thread::sleep(wait);
        }
    }

    /// One signed POST, classified.
    fn attempt(&self, call: &Call<'_>, timeout: Duration) -> Result<Value, AwsError> {
        let host = call.parsed.host_header();
        let headers = [("host", host.as_str()), ("content-type", CONTENT_TYPE), ("x-amz-target", call.target)];
        let body = call.body.as_bytes();
        let request = sigv4::Request { method: "POST", path: call.parsed.path(), query: &[], headers: &headers, body };
        let date = sigv4::amz_date(crate::timefmt::now_ms());
        let signed = sigv4::sign(&self.creds, call.region, call.service.signing_name(), &date, &request);
        let mut post = self.agent.post(call.url);
        for (name, value) in headers.iter().copied().chain(signed.iter().map(|(n, v)| (*n, v.as_str()))) {
            post = post.header(name, value);
        }
        let response = match post.config().timeout_global(Some(timeout)).build().send(body) {
            Ok(response) => response,
            Err(e) => return Err(transport_error(&e)),
        };
        let status = response.status().as_u16();
        let header_code = response.headers().get("x-amzn-errortype").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let bytes = match response.into_body().with_config().limit(MAX_RESPONSE_BYTES).read_to_vec() {
            Ok(bytes) => bytes,
            Err(e) => return Err(transport_error(&e)),
        };
        if status == 200 {
            return json::parse(&bytes)
                .ok_or_else(|| AwsError::BadResponse(format!("the answer is not JSON ({} bytes)", bytes.len())));
        }
        Err(api_error(status, header_code.as_deref(), &bytes))
    }
}

/// One call's fixed parts, shared by its attempts.
struct Call<'a> {
    service: Service,
    url: &'a str,
    parsed: Url<'a>,
    region: &'a str,
    target: &'a str,
    body: &'a str,
}

fn transport_error(e: &ureq::Error) -> AwsError {
    match e {
        ureq::Error::Timeout(_) => AwsError::Timeout { attempts: 1 },
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => AwsError::Timeout { attempts: 1 },
        other => AwsError::Transport(mask_userinfo(&other.to_string())),
    }
}

const CONTENT_TYPE: &str = "application/x-amz-json-1.1";

/// An error answer: the code from `__type` (JSON protocol), `<Code>` (the XML some endpoints
/// and emulators answer with) or the `x-amzn-ErrorType` header; AWS's message.
pub fn api_error(status: u16, header_code: Option<&str>, body: &[u8]) -> AwsError {
    let value = json::parse(body);
    let obj = value.as_ref().and_then(json::object);
    let field = |name: &str| obj.and_then(|o| json::str_field(o, name)).map(str::to_owned);
    let text = std::str::from_utf8(body).unwrap_or("");
    let raw_code = field("__type").or_else(|| xml_element(text, "Code")).or_else(|| header_code.map(str::to_owned));
    // `com.amazonaws.secretsmanager#ResourceNotFoundException`, `Code:http://…`: keep the name.
    let raw_code = raw_code.unwrap_or_default();
    let code = raw_code.rsplit('#').next().unwrap_or("").split(':').next().unwrap_or("").trim();
    let code = if code.is_empty() { format!("HTTP {status}") } else { code.to_string() };
    let message = field("message").or_else(|| field("Message")).or_else(|| xml_element(text, "Message"));
    let mut message: String = message.unwrap_or_default().split_whitespace().collect::<Vec<_>>().join(" ");
    if message.chars().count() > MAX_MESSAGE_CHARS {
        message = message.chars().take(MAX_MESSAGE_CHARS).collect::<String>() + "…";
    }
    AwsError::Api { status, code, message }
}

/// The text of the first `<name>…</name>`, with the five predefined entities decoded.
fn xml_element(text: &str, name: &str) -> Option<String> {
    let start = text.find(&format!("<{name}>"))? + name.len() + 2;
    let len = text.get(start..)?.find(&format!("</{name}>"))?;
    let raw = text.get(start..start + len)?;
    let decoded = raw.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&apos;", "'");
    Some(decoded.replace("&amp;", "&"))
}

/// The error codes AWS uses for "slow down".
pub fn is_throttling(code: &str) -> bool {
    matches!(
        code,
        "ThrottlingException"
            | "Throttling"
            | "ThrottledException"
            | "RequestThrottledException"
            | "TooManyRequestsException"
            | "RequestLimitExceeded"
            | "SlowDown"
            | "ProvisionedThroughputExceededException"
    )
}

#[cfg(test)]
mod tests;
