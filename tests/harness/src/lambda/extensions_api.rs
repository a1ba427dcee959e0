//! The HTTP face of the platform: routes `/2020-01-01/extension/…` and the
//! Telemetry/Logs subscribe paths, validates register (spec §2.1) and every
//! identifier (§2.2), records `init/error` and `exit/error` (§2.3), and
//! serves the `event/next` long poll by blocking on the state condvar until
//! the lifecycle queues an event. It never starts, stops or signals anything.

use super::delivery;
use super::records::{error_body, is_uuid, obj, s, strs};
use super::state::{EventMsg, Ext, Phase, Shared, State};
use super::subscribe;
use crate::http::{Reply, Request, Response};
use crate::util::uuid_v4;
use miniserde::json::{self, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};

const MAX_EXTENSIONS: usize = 10;
const EVENTS: [&str; 2] = ["INVOKE", "SHUTDOWN"];
/// The long poll has no deadline of its own (the process may stay frozen for
/// minutes); `Shared::wait` still wakes every slice to see `closed`.
const NEXT_HORIZON: Duration = Duration::from_secs(3600);

/// An error response with the platform's JSON error body.
pub(super) fn error(status: u16, error_type: &str, message: &str) -> Response {
    Response::json(status, &error_body(error_type, message))
}

/// Routes one request.
pub(super) fn handle(shared: &Arc<Shared>, req: Request) -> Reply {
    let path = req.path.split('?').next().unwrap_or("");
    let resp = match (req.method.as_str(), path) {
        ("POST", "/2020-01-01/extension/register") => register(shared, &req),
        ("GET", "/2020-01-01/extension/event/next") => return next(shared, &req),
        ("POST", "/2020-01-01/extension/init/error") => report_error(shared, &req, "InitError"),
        ("POST", "/2020-01-01/extension/exit/error") => report_error(shared, &req, "ExitError"),
        ("PUT", "/2022-07-01/telemetry") => subscribe::handle(shared, &req),
        ("PUT", "/2020-08-15/logs") => {
            Response::json(202, &error_body("Logs.NotSupported", "Logs API is not supported"))
        }
        _ => error(404, "NotFound", &format!("no route for {} {path}", req.method)),
    };
    Reply::Respond(resp)
}

/// Validates `Lambda-Extension-Identifier`; the 403s of spec §2.2.
pub(super) fn check_identifier(st: &State, req: &Request) -> Result<String, Response> {
    let id = match req.header("Lambda-Extension-Identifier") {
        Some(id) if !id.is_empty() => id,
        _ => {
            return Err(error(
                403,
                "Extension.MissingExtensionIdentifier",
                "Missing Lambda-Extension-Identifier header",
            ))
        }
    };
    if !is_uuid(id) {
        return Err(error(403, "Extension.InvalidExtensionIdentifier", "Invalid Lambda-Extension-Identifier"));
    }
    match st.ext(id) {
        None => Err(error(403, "Extension.UnknownExtensionIdentifier", &format!("Unknown extension {id}"))),
        Some(ext) => match ext.errored {
            Some(from) => Err(error(
                403,
                "Extension.InvalidExtensionState",
                &format!("State transition from {from} to Ready failed for extension {id}. Error: State transition is not allowed"),
            )),
            None => Ok(id.to_string()),
        },
    }
}

fn register(shared: &Arc<Shared>, req: &Request) -> Response {
    let name = req.header("Lambda-Extension-Name").unwrap_or("").trim().to_string();
    if name.is_empty() {
        return error(403, "Extension.InvalidExtensionName", "Empty extension name");
    }
    let mut st = shared.lock();
    if st.phase != Phase::Init {
        return error(403, "Extension.RegistrationClosed", "Extension registration closed already");
    }
    let proc_id = st.procs.iter().find(|p| p.name == name && p.ext_id.is_none() && p.exit.is_none()).map(|p| p.id);
    let external = proc_id.is_some() || shared.config.external_names.contains(&name);
    let events = match parse_events(&req.body, external, shared.config.lmi) {
        Ok(events) => events,
        Err(resp) => return resp,
    };
    if st.extensions.iter().any(|e| e.name == name) {
        return error(403, "Extension.InvalidExtensionState", &format!("Extension {name} is already registered"));
    }
    if st.extensions.len() >= MAX_EXTENSIONS {
        return error(403, "Extension.TooManyExtensions", "Too many extensions registered");
    }
    let id = uuid_v4();
    if let Some(p) = proc_id.and_then(|pid| st.proc_mut(pid)) {
        p.ext_id = Some(id.clone());
    }
    st.extensions.push(Ext {
        id: id.clone(),
        name,
        events,
        external,
        proc_id,
        in_next: false,
        ready_at: None,
        registered_at: Instant::now(),
        pending: None,
        errored: None,
    });
    shared.cv.notify_all();
    drop(st);
    let cfg = &shared.config;
    let wants_account =
        req.header("Lambda-Extension-Accept-Feature").is_some_and(|f| f.split(',').any(|x| x.trim() == "accountId"));
    let body = obj(vec![
        ("functionName", s(&cfg.function_name)),
        ("functionVersion", s(&cfg.function_version)),
        ("handler", s(&cfg.handler)),
        ("accountId", if wants_account && cfg.return_account_id { s(&cfg.account_id) } else { Value::Null }),
    ]);
    Response::json(200, &json::to_string(&body)).with_header("Lambda-Extension-Identifier", &id)
}

/// The `events` of a register body (spec §2.1 error cases).
fn parse_events(body: &[u8], external: bool, lmi: bool) -> Result<Vec<String>, Response> {
    let bad_format = |why: &str| error(403, "InvalidRequestFormat", why);
    let text = std::str::from_utf8(body).map_err(|_| bad_format("body is not UTF-8"))?;
    let root: Value = json::from_str(text).map_err(|_| bad_format("body is not valid JSON"))?;
    let Value::Object(root) = root else {
        return Err(bad_format("body must be a JSON object"));
    };
    if let Some(Value::Array(keys)) = root.get("configurationKeys") {
        if !keys.is_empty() {
            return Err(bad_format("configurationKeys is deprecated"));
        }
    }
    let mut events = Vec::new();
    let items = match root.get("events") {
        None | Some(Value::Null) => return Ok(events),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(bad_format("events must be an array")),
    };
    for item in items.iter() {
        let ev = match item {
            Value::String(ev) => ev.as_str(),
            _ => "",
        };
        let forbidden = (ev == "SHUTDOWN" && !external) || (ev == "INVOKE" && lmi);
        if !EVENTS.contains(&ev) || forbidden {
            let msg = format!("{ev}: ErrorInvalidEventType");
            return Err(error(403, "Extension.InvalidEventType", &msg));
        }
        events.push(ev.to_string());
    }
    Ok(events)
}

/// `init/error` and `exit/error`: 202, and the extension is errored for good.
fn report_error(shared: &Arc<Shared>, req: &Request, kind: &'static str) -> Response {
    let mut st = shared.lock();
    let id = match check_identifier(&st, req) {
        Ok(id) => id,
        Err(resp) => return resp,
    };
    let Some(error_type) = req.header("Lambda-Extension-Function-Error-Type") else {
        return error(403, "Extension.MissingHeader", "Lambda-Extension-Function-Error-Type not found");
    };
    if kind == "InitError" {
        if st.phase != Phase::Init {
            return error(403, "Extension.InvalidExtensionState", "init/error is only valid during Init");
        }
        st.init_error = Some(format!("Extension.InitError ({error_type})"));
    }
    if let Some(ext) = st.ext_mut(&id) {
        ext.errored = Some(kind);
        ext.in_next = false;
    }
    shared.cv.notify_all();
    Response::json(202, "{\"status\":\"OK\"}")
}

/// The long poll: marks the extension done with its previous event, then
/// blocks until the lifecycle queues the next one for it.
fn next(shared: &Arc<Shared>, req: &Request) -> Reply {
    let mut st = shared.lock();
    let id = match check_identifier(&st, req) {
        Ok(id) => id,
        Err(resp) => return Reply::Respond(resp),
    };
    let in_init = st.phase == Phase::Init;
    let mut ready = None;
    if let Some(ext) = st.ext_mut(&id) {
        ext.in_next = true;
        if ext.ready_at.is_none() {
            ext.ready_at = Some(Instant::now());
            ready = Some((ext.name.clone(), ext.events.clone()));
        }
    }
    if let (Some((name, events)), true) = (ready, in_init) {
        let record = obj(vec![("name", s(&name)), ("state", s("Ready")), ("events", strs(&events))]);
        delivery::emit(shared, &mut st, "platform.extension", record);
    }
    shared.cv.notify_all();
    loop {
        if st.closed {
            return Reply::Close;
        }
        // After a reset the identifier is gone: the process is being killed.
        let Some(ext) = st.ext_mut(&id) else { return Reply::Close };
        if let Some(msg) = ext.pending.take() {
            ext.in_next = false;
            shared.cv.notify_all();
            return Reply::Respond(event_response(msg));
        }
        st = shared.wait(st, Instant::now() + NEXT_HORIZON);
    }
}

fn event_response(msg: EventMsg) -> Response {
    let mut resp = Response::new(200).with_header("Content-Type", msg.content_type).with_body(msg.body.as_bytes());
    if let Some(event_id) = msg.event_id {
        resp = resp.with_header("Lambda-Extension-Event-Identifier", &event_id);
    }
    resp
}
