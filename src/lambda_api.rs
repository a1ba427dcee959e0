//! Client of the Lambda Extensions and Telemetry APIs: register, `event/next`, subscribe,
//! `init/error`, `exit/error`. Wire structs are read tolerantly (any content type, any case,
//! missing optional fields). `event/next` has no client timeout: the sandbox may stay frozen
//! for minutes while it waits. No proxy is ever used here (the API is on the local host).

use std::cell::RefCell;
use std::time::Duration;

use self::conn::{Answer, Conn, Request};
use crate::error::Error;
use crate::event::ShutdownReason;
use crate::json;

const EXTENSION_PATH: &str = "/2020-01-01/extension";
const TELEMETRY_PATH: &str = "/2022-07-01/telemetry";
const HEADER_NAME: &str = "Lambda-Extension-Name";
const HEADER_ID: &str = "Lambda-Extension-Identifier";
const HEADER_FEATURE: &str = "Lambda-Extension-Accept-Feature";
const HEADER_ERROR_TYPE: &str = "Lambda-Extension-Function-Error-Type";
/// Register, subscribe and error reports are answered at once by a healthy platform.
const SHORT_CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// The newest schema first; on 400 we fall back once (some runtimes reject 2025-01-29).
/// Telemetry buffering, always all three fields (doc pages disagree on defaults). A short
/// timeout gets `platform.runtimeDone` to us quickly, which ends the end-of-invocation wait.
pub const BUFFER_MAX_ITEMS: u32 = 1000;
pub const BUFFER_MAX_BYTES: u32 = 262_144;
pub const BUFFER_TIMEOUT_MS: u32 = 25;
pub const SCHEMA_VERSIONS: [&str; 2] = ["2025-01-29", "2022-12-13"];

#[derive(Debug, Clone)]
pub struct Registration {
    pub id: String,
    pub function_name: Option<String>,
    pub function_version: Option<String>,
    pub account_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum NextEvent {
    Invoke { request_id: String, deadline_ms: u64, invoked_function_arn: String },
    Shutdown { reason: ShutdownReason, deadline_ms: u64 },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subscription {
    Subscribed {
        schema: &'static str,
    },
    /// 202 from a local emulator: carry on without telemetry, not an error.
    NotSupported,
    Failed(String),
}

mod conn;

/// The Extensions and Telemetry API client. Used by the main thread only.
pub struct LambdaApi {
    conn: RefCell<Conn>,
}

impl LambdaApi {
    pub fn new(runtime_api: &str) -> LambdaApi {
        LambdaApi { conn: RefCell::new(Conn::new(runtime_api, &crate::newrelic::user_agent())) }
    }

    /// One call; transport failures become [`Error::Transport`] with `context`.
    fn call(&self, method: &str, path: &str, request: &Request, context: &'static str) -> Result<Answer, Error> {
        self.conn
            .borrow_mut()
            .call(method, path, request)
            .map_err(|e| Error::Transport { context, message: e.to_string() })
    }

    pub fn register(&self, name: &str) -> Result<Registration, Error> {
        const CONTEXT: &str = "failed to register with the Extensions API";
        let headers = [(HEADER_NAME, name), (HEADER_FEATURE, "accountId"), ("Content-Type", "application/json")];
        let body = br#"{"events":["INVOKE","SHUTDOWN"]}"#;
        let request = Request { headers: &headers, body, timeout: Some(SHORT_CALL_TIMEOUT) };
        let Answer { status, id, body } =
            self.call("POST", &format!("{EXTENSION_PATH}/register"), &request, CONTEXT)?;
        if status != 200 {
            return Err(Error::Status { context: CONTEXT, status, body: lossy(&body) });
        }
        let id =
            id.ok_or(Error::Protocol { context: CONTEXT, message: "no Lambda-Extension-Identifier header".into() })?;
        let parsed = json::parse(&body);
        let obj = parsed.as_ref().and_then(json::object);
        let field = |k: &str| obj.and_then(|o| json::str_field(o, k)).map(str::to_string);
        Ok(Registration {
            id,
            function_name: field("functionName"),
            function_version: field("functionVersion"),
            account_id: field("accountId"),
        })
    }

    /// Blocks until the next event. No timeout, by design.
    pub fn next_event(&self, id: &str) -> Result<NextEvent, Error> {
        const CONTEXT: &str = "failed to get the next event";
        let request = Request { headers: &[(HEADER_ID, id)], body: &[], timeout: None };
        let Answer { status, body, .. } =
            self.call("GET", &format!("{EXTENSION_PATH}/event/next"), &request, CONTEXT)?;
        if status != 200 {
            return Err(Error::Status { context: CONTEXT, status, body: lossy(&body) });
        }
        parse_event(&body).ok_or_else(|| Error::Protocol {
            context: CONTEXT,
            message: format!("unrecognised event {:?}", truncate(&lossy(&body), 200)),
        })
    }

    /// Subscribes to the Telemetry API, falling back to the older schema once on a 400.
    pub fn subscribe(&self, id: &str, port: u16, types: &[&str]) -> Subscription {
        let types = types.iter().map(|t| format!("\"{t}\"")).collect::<Vec<_>>().join(",");
        let mut last = String::new();
        for schema in SCHEMA_VERSIONS {
            let body = format!(
                r#"{{"schemaVersion":"{schema}","types":[{types}],"buffering":{{"maxItems":{},"maxBytes":{},"timeoutMs":{}}},"destination":{{"protocol":"HTTP","URI":"http://sandbox.localdomain:{port}/telemetry"}}}}"#,
                BUFFER_MAX_ITEMS, BUFFER_MAX_BYTES, BUFFER_TIMEOUT_MS,
            );
            let headers = [(HEADER_ID, id), ("Content-Type", "application/json")];
            let request = Request { headers: &headers, body: body.as_bytes(), timeout: Some(SHORT_CALL_TIMEOUT) };
            let result = self.call("PUT", TELEMETRY_PATH, &request, "failed to subscribe to the Telemetry API");
            match result {
                Ok(Answer { status: 200, .. }) => return Subscription::Subscribed { schema },
                Ok(Answer { status: 202, .. }) => return Subscription::NotSupported,
                Ok(Answer { status: 400, body, .. }) => {
                    last = format!("schema {schema}: status 400: {}", truncate(&lossy(&body), 200))
                }
                Ok(Answer { status, body, .. }) => {
                    return Subscription::Failed(format!("status {status}: {}", truncate(&lossy(&body), 200)))
                }
                Err(e) => return Subscription::Failed(e.to_string()),
            }
        }
        Subscription::Failed(last)
    }

    /// Reports a fatal initialization error. Best effort: the caller exits either way.
    pub fn init_error(&self, id: &str, error_type: &str, message: &str) -> Result<(), Error> {
        self.report_error("init/error", id, error_type, message)
    }

    /// Reports an unexpected failure before exiting. Best effort.
    pub fn exit_error(&self, id: &str, error_type: &str, message: &str) -> Result<(), Error> {
        self.report_error("exit/error", id, error_type, message)
    }

    fn report_error(&self, path: &str, id: &str, error_type: &str, message: &str) -> Result<(), Error> {
        const CONTEXT: &str = "failed to report an error to the Extensions API";
        let body = format!(
            r#"{{"errorMessage":{},"errorType":{},"stackTrace":[]}}"#,
            miniserde::json::to_string(message),
            miniserde::json::to_string(error_type)
        );
        let headers = [(HEADER_ID, id), (HEADER_ERROR_TYPE, error_type), ("Content-Type", "application/json")];
        let request = Request { headers: &headers, body: body.as_bytes(), timeout: Some(SHORT_CALL_TIMEOUT) };
        let Answer { status, body: answer, .. } =
            self.call("POST", &format!("{EXTENSION_PATH}/{path}"), &request, CONTEXT)?;
        match status {
            200..=299 => Ok(()),
            _ => Err(Error::Status { context: CONTEXT, status, body: lossy(&answer) }),
        }
    }
}

/// Parses an `event/next` body as JSON whatever the content type. `None` if it is not an
/// INVOKE or SHUTDOWN we can act on.
pub fn parse_event(body: &[u8]) -> Option<NextEvent> {
    let value = json::parse(body)?;
    let obj = json::object(&value)?;
    let kind = json::str_field(obj, "eventType")?;
    let deadline_ms = json::u64_field(obj, "deadlineMs").unwrap_or(0);
    if kind.eq_ignore_ascii_case("INVOKE") {
        Some(NextEvent::Invoke {
            request_id: json::str_field(obj, "requestId").unwrap_or_default().to_string(),
            deadline_ms,
            invoked_function_arn: json::str_field(obj, "invokedFunctionArn").unwrap_or_default().to_string(),
        })
    } else if kind.eq_ignore_ascii_case("SHUTDOWN") {
        let reason = json::str_field(obj, "shutdownReason").unwrap_or("");
        Some(NextEvent::Shutdown { reason: ShutdownReason::parse(reason), deadline_ms })
    } else {
        None
    }
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn truncate(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((i, _)) => &text[..i],
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_sim::http::{Reply, Request, Response, Server};
    use std::sync::{Arc, Mutex};

    #[track_caller]
    fn check(body: &str, expected: Option<NextEvent>) {
        assert_eq!(parse_event(body.as_bytes()), expected, "{body}");
    }

    /// A local Extensions API that records every request and answers `answer`.
    fn server(answer: Response) -> (Server, Arc<Mutex<Vec<Request>>>) {
        let seen: Arc<Mutex<Vec<Request>>> = Arc::default();
        let log = seen.clone();
        let handler = move |req: Request| {
            log.lock().expect("lock").push(req);
            Reply::Respond(answer.clone())
        };
        (Server::start("127.0.0.1:0", Arc::new(handler)).expect("server"), seen)
    }

    #[test]
    fn init_error_sends_the_error_type_header_and_body() {
        let (server, seen) = server(Response::json(202, r#"{"status":"OK"}"#));
        let api = LambdaApi::new(&server.addr().to_string());
        api.init_error("id-1", "Extension.InitError", "failed to bind: \"denied\"").expect("reported");
        let requests = seen.lock().expect("lock");
        let req = &requests[0];
        assert_eq!((req.method.as_str(), req.path.as_str()), ("POST", "/2020-01-01/extension/init/error"));
        assert_eq!(req.header("Lambda-Extension-Identifier"), Some("id-1"));
        assert_eq!(req.header("Lambda-Extension-Function-Error-Type"), Some("Extension.InitError"));
        let body = json::parse(&req.body).expect("json body");
        let obj = json::object(&body).expect("object");
        assert_eq!(json::str_field(obj, "errorType"), Some("Extension.InitError"));
        assert_eq!(json::str_field(obj, "errorMessage"), Some("failed to bind: \"denied\""));
    }

    #[test]
    fn register_sends_name_events_and_feature_and_reads_the_answer() {
        let body = r#"{"functionName":"f","functionVersion":"$LATEST","handler":"h","accountId":"123456789012"}"#;
        let (server, seen) = server(Response::json(200, body).with_header("Lambda-Extension-Identifier", "uuid-1"));
        let api = LambdaApi::new(&server.addr().to_string());
        let reg = api.register("newrelic-lambda-extension").expect("registered");
        assert_eq!(reg.id, "uuid-1");
        assert_eq!(reg.account_id.as_deref(), Some("123456789012"));
        assert_eq!(reg.function_name.as_deref(), Some("f"));
        let requests = seen.lock().expect("lock");
        assert_eq!(requests[0].header("Lambda-Extension-Name"), Some("newrelic-lambda-extension"));
        assert_eq!(requests[0].header("Lambda-Extension-Accept-Feature"), Some("accountId"));
        assert_eq!(requests[0].body, br#"{"events":["INVOKE","SHUTDOWN"]}"#);
    }

    #[test]
    fn register_errors_carry_status_and_body() {
        let (server, _) = server(Response::json(403, r#"{"errorType":"Extension.RegistrationClosed"}"#));
        let err = LambdaApi::new(&server.addr().to_string()).register("x").expect_err("refused");
        assert!(err.to_string().contains("status 403") && err.to_string().contains("RegistrationClosed"), "{err}");
    }

    #[test]
    fn events_are_parsed_tolerantly() {
        check(
            r#"{"eventType":"INVOKE","deadlineMs":1795733595487,"requestId":"fe81","invokedFunctionArn":"arn:x","tracing":{"type":"X-Amzn-Trace-Id","value":"Root=1"}}"#,
            Some(NextEvent::Invoke {
                request_id: "fe81".into(),
                deadline_ms: 1795733595487,
                invoked_function_arn: "arn:x".into(),
            }),
        );
        check(
            r#"{"eventType":"invoke","requestId":"a"}"#,
            Some(NextEvent::Invoke { request_id: "a".into(), deadline_ms: 0, invoked_function_arn: String::new() }),
        );
        check(
            r#"{"eventType":"SHUTDOWN","deadlineMs":1795733613534,"shutdownReason":"Timeout"}"#,
            Some(NextEvent::Shutdown { reason: ShutdownReason::Timeout, deadline_ms: 1795733613534 }),
        );
        check(
            r#"{"eventType":"SHUTDOWN","deadlineMs":5,"shutdownReason":"SandboxTerminated"}"#,
            Some(NextEvent::Shutdown { reason: ShutdownReason::Other("SandboxTerminated".into()), deadline_ms: 5 }),
        );
        check(
            r#"{"eventType":"SHUTDOWN"}"#,
            Some(NextEvent::Shutdown { reason: ShutdownReason::Other(String::new()), deadline_ms: 0 }),
        );
        check(r#"{"eventType":"RESTORE"}"#, None);
        check("not json", None);
        check("[]", None);
    }
}
