//! Shared pieces of the simulator's API-level self-tests: a small HTTP
//! caller, an in-process extension (a thread looping on `event/next`), and a
//! telemetry listener that records every batch. No processes are spawned.
#![allow(dead_code)] // each test binary uses a different subset

use lambda_sim::http::{self, Reply, Request, Response, Server};
use lambda_sim::lambda::{Lambda, SimConfig};
use miniserde::json::{self, Value};
use std::net::SocketAddr;
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

pub const WAIT: Duration = Duration::from_secs(5);

pub fn start(config: SimConfig) -> (Lambda, SocketAddr) {
    let lambda = Lambda::start(config).expect("simulator starts");
    let addr = lambda.runtime_api().parse().expect("runtime api is host:port");
    (lambda, addr)
}

/// `(status, headers, body)`; transport errors become status 0.
pub fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, Vec<(String, String)>, String) {
    match http::request(addr, method, path, headers, body.as_bytes(), Duration::from_secs(30)) {
        Ok((status, headers, body)) => (status, headers, String::from_utf8_lossy(&body).into_owned()),
        Err(e) => (0, Vec::new(), e.to_string()),
    }
}

pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

pub fn parse(text: &str) -> Value {
    json::from_str(text).unwrap_or(Value::Null)
}

/// `value[key]` as a string, or "".
pub fn get_str(v: &Value, key: &str) -> String {
    match v {
        Value::Object(o) => match o.get(key) {
            Some(Value::String(s)) => s.clone(),
            _ => String::new(),
        },
        _ => String::new(),
    }
}

pub fn get<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    match v {
        Value::Object(o) => o.get(key),
        _ => None,
    }
}

pub fn register(addr: SocketAddr, name: &str, events: &[&str]) -> (u16, Vec<(String, String)>, String) {
    let list: Vec<String> = events.iter().map(|e| format!("\"{e}\"")).collect();
    let body = format!("{{\"events\":[{}]}}", list.join(","));
    call(addr, "POST", "/2020-01-01/extension/register", &[("Lambda-Extension-Name", name)], &body)
}

/// Registers and returns the identifier (panics on refusal: a test bug).
pub fn register_ok(addr: SocketAddr, name: &str, events: &[&str]) -> String {
    let (status, headers, body) = register(addr, name, events);
    assert_eq!(status, 200, "register {name}: {body}");
    header(&headers, "Lambda-Extension-Identifier").unwrap_or_default().to_string()
}

pub fn subscribe_body(port: u16, types: &str, max_items: u32, max_bytes: u32, timeout_ms: u32) -> String {
    format!(
        r#"{{"schemaVersion":"2022-12-13","types":{types},"buffering":{{"maxItems":{max_items},"maxBytes":{max_bytes},"timeoutMs":{timeout_ms}}},"destination":{{"protocol":"HTTP","URI":"http://sandbox.localdomain:{port}/telemetry/in"}}}}"#
    )
}

pub fn subscribe(addr: SocketAddr, id: &str, body: &str) -> (u16, Vec<(String, String)>, String) {
    let headers = [("Lambda-Extension-Identifier", id), ("Content-Type", "application/json")];
    call(addr, "PUT", "/2022-07-01/telemetry", &headers, body)
}

/// One event handed to an in-process extension: `(status, content type, body)`.
pub type Got = (u16, String, String);

/// An in-process extension: a thread that calls `next`, reports each event,
/// waits `delay` after an INVOKE, and stops after SHUTDOWN or a refusal.
pub struct InProc {
    pub id: String,
    pub events: Receiver<Got>,
}

impl InProc {
    pub fn start(addr: SocketAddr, id: &str, delay: Duration) -> InProc {
        let (tx, rx) = mpsc::channel();
        let id_owned = id.to_string();
        thread::spawn(move || loop {
            let headers = [("Lambda-Extension-Identifier", id_owned.as_str())];
            let (status, h, body) = call(addr, "GET", "/2020-01-01/extension/event/next", &headers, "");
            let content_type = header(&h, "Content-Type").unwrap_or_default().to_string();
            let last = status != 200 || body.contains("SHUTDOWN");
            if tx.send((status, content_type, body)).is_err() || last {
                return;
            }
            thread::sleep(delay); // the scenario: post-invoke work
        });
        InProc { id: id.to_string(), events: rx }
    }

    pub fn next_event(&self) -> Got {
        self.events.recv_timeout(WAIT).expect("an event within the wait")
    }
}

/// One telemetry POST as received.
#[derive(Clone, Debug)]
pub struct Batch {
    pub path: String,
    pub content_type: String,
    pub body: String,
}

/// A telemetry listener; `script(n)` decides the reply to the n-th POST (from 1).
pub struct Listener {
    pub server: Server,
    got: Arc<(Mutex<Vec<Batch>>, Condvar)>,
}

impl Listener {
    pub fn start(script: impl Fn(usize) -> Reply + Send + Sync + 'static) -> Listener {
        let got: Arc<(Mutex<Vec<Batch>>, Condvar)> = Arc::default();
        let sink = Arc::clone(&got);
        let handler = Arc::new(move |req: Request| {
            let (lock, cv) = &*sink;
            let mut batches = lock.lock().unwrap_or_else(|e| e.into_inner());
            let content_type = req.header("Content-Type").unwrap_or_default().to_string();
            let body = String::from_utf8_lossy(&req.body).into_owned();
            batches.push(Batch { path: req.path.clone(), content_type, body });
            let n = batches.len();
            cv.notify_all();
            drop(batches);
            script(n)
        });
        let server = Server::start("127.0.0.1:0", handler).expect("listener starts");
        Listener { server, got }
    }

    pub fn ok() -> Listener {
        Listener::start(|_| Reply::Respond(Response::new(200)))
    }

    pub fn port(&self) -> u16 {
        self.server.addr().port()
    }

    pub fn batches(&self) -> Vec<Batch> {
        self.got.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Waits until `done(batches)` holds.
    pub fn wait(&self, done: impl Fn(&[Batch]) -> bool) -> bool {
        let deadline = Instant::now() + WAIT;
        let (lock, cv) = &*self.got;
        let mut batches = lock.lock().unwrap_or_else(|e| e.into_inner());
        while !done(&batches) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            batches = cv.wait_timeout(batches, left).unwrap_or_else(|e| e.into_inner()).0;
        }
        true
    }

    /// Every event of every accepted batch, in arrival order (a rejected
    /// batch's redelivery counts once).
    pub fn events(&self) -> Vec<Value> {
        let mut out = Vec::new();
        let mut seen: Vec<String> = Vec::new();
        for b in self.batches() {
            if seen.contains(&b.body) {
                continue;
            }
            seen.push(b.body.clone());
            if let Value::Array(items) = parse(&b.body) {
                out.extend(items.iter().cloned());
            }
        }
        out
    }

    pub fn types(&self) -> Vec<String> {
        self.events().iter().map(|e| get_str(e, "type")).collect()
    }

    /// Waits until an event of type `kind` arrived.
    pub fn wait_type(&self, kind: &str) -> bool {
        let needle = format!("\"type\":\"{kind}\"");
        self.wait(|b| b.iter().any(|x| x.body.contains(&needle)))
    }

    /// The record of the first event of type `kind` whose record mentions `needle`.
    pub fn record(&self, kind: &str, needle: &str) -> Option<Value> {
        self.events()
            .into_iter()
            .filter(|e| get_str(e, "type") == kind)
            .filter_map(|e| get(&e, "record").cloned())
            .find(|r| json::to_string(r).contains(needle))
    }
}

/// A simulator with one in-process extension registered (name `inproc`,
/// external so it may take SHUTDOWN), subscribed to `types` at a fresh
/// listener, and Init completed.
pub fn ready(mut config: SimConfig, types: &str, timeout_ms: u32, delay: Duration) -> (Lambda, InProc, Listener) {
    config.external_names.push("inproc".into());
    let (lambda, addr) = start(config);
    let id = register_ok(addr, "inproc", &["INVOKE", "SHUTDOWN"]);
    let listener = Listener::ok();
    let (status, _, body) = subscribe(addr, &id, &subscribe_body(listener.port(), types, 1000, 262_144, timeout_ms));
    assert_eq!((status, body.as_str()), (200, "\"OK\""));
    let ext = InProc::start(addr, &id, delay);
    lambda.wait_init(WAIT).expect("init completes");
    (lambda, ext, listener)
}
