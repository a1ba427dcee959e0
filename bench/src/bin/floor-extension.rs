//! The floor extension: the least an external Lambda extension can do, std
//! only. It registers for INVOKE and SHUTDOWN under its file name, listens on
//! 0.0.0.0:0 and subscribes to the Telemetry API (answering 200 to every
//! POST), loops on `event/next`, and exits 0 on SHUTDOWN. It is the baseline
//! of the benchmarks and the well-behaved process of the simulator's
//! self-tests. Environment switches make it misbehave on purpose:
//!
//! | variable | effect |
//! |---|---|
//! | `FLOOR_EXIT_BEFORE_REGISTER=1` | exit 0 at once (→ `Extension.Crash`) |
//! | `FLOOR_EVENTS=INVOKE` | events to register for (comma list; empty = none) |
//! | `FLOOR_ACCEPT_ACCOUNT_ID=1` | send `Lambda-Extension-Accept-Feature: accountId` |
//! | `FLOOR_INIT_ERROR=1` | call `init/error` after registering, then exit 0 |
//! | `FLOOR_NO_SUBSCRIBE=1` | no Telemetry API subscription |
//! | `FLOOR_TYPES=platform,function` | subscribed telemetry types |
//! | `FLOOR_TIMEOUT_MS=25` | subscription `timeoutMs` |
//! | `FLOOR_REJECT_FIRST=N` | answer 500 to the first N telemetry POSTs |
//! | `FLOOR_LOG_TELEMETRY=1` | print every telemetry batch body |
//! | `FLOOR_LOG_EVENTS=1` | print every event body and the registration |
//! | `FLOOR_DUMP_ENV=1` | print its environment and process group at start |
//! | `FLOOR_INVOKE_DELAY_MS=N` | work N ms after each INVOKE before `next` |
//! | `FLOOR_CRASH_ON_INVOKE=1` | exit 3 on INVOKE |
//! | `FLOOR_EXIT_ERROR_ON_INVOKE=1` | call `exit/error` on INVOKE, then exit 1 |
//! | `FLOOR_IGNORE_SHUTDOWN=1` | hang on SHUTDOWN instead of exiting |
//! | `FLOOR_READ_PIPE=1` | mkfifo `NEW_RELIC_EXTENSION_PIPE_PATH` and read it |

use std::env;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{exit, Command};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

type Headers = Vec<(String, String)>;
type Answer = (u16, Headers, String);
/// Start line (status or request line), lowercase headers, body.
type Message = (String, Headers, String);

fn flag(name: &str) -> bool {
    env::var(name).is_ok_and(|v| v == "1")
}

fn number(name: &str) -> Option<u64> {
    env::var(name).ok()?.parse().ok()
}

/// Reads a status line or request line, headers, and a Content-Length body.
fn read_message(r: &mut impl BufRead) -> io::Result<Message> {
    let mut first = String::new();
    if r.read_line(&mut first)? == 0 {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line)? == 0 || line.trim_end().is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let len =
        headers.iter().find(|(k, _)| k == "content-length").and_then(|(_, v)| v.parse::<usize>().ok()).unwrap_or(0);
    let mut body = vec![0; len];
    r.read_exact(&mut body)?;
    Ok((first, headers, String::from_utf8_lossy(&body).into_owned()))
}

/// One request on a fresh connection. No timeout: `next` is a long poll.
fn call(api: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> io::Result<Answer> {
    let mut stream = TcpStream::connect(api)?;
    let mut req =
        format!("{method} {path} HTTP/1.1\r\nHost: {api}\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    stream.write_all(req.as_bytes())?;
    let (status_line, headers, body) = read_message(&mut BufReader::new(stream))?;
    let status = status_line.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    Ok((status, headers, body))
}

fn die(what: &str, detail: impl std::fmt::Debug) -> ! {
    eprintln!("floor-extension: {what}: {detail:?}");
    exit(1)
}

/// Answers every telemetry POST at once; counts batches.
fn listen(batches: Arc<AtomicU64>) -> u16 {
    let listener = TcpListener::bind("0.0.0.0:0").unwrap_or_else(|e| die("bind", e));
    let port = listener.local_addr().map(|a| a.port()).unwrap_or_else(|e| die("local_addr", e));
    let reject_first = number("FLOOR_REJECT_FIRST").unwrap_or(0);
    let log = flag("FLOOR_LOG_TELEMETRY");
    thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let batches = Arc::clone(&batches);
            thread::spawn(move || serve(conn, &batches, reject_first, log));
        }
    });
    port
}

fn serve(conn: TcpStream, batches: &AtomicU64, reject_first: u64, log: bool) {
    let Ok(mut writer) = conn.try_clone() else { return };
    let mut reader = BufReader::new(conn);
    while let Ok((_, _, body)) = read_message(&mut reader) {
        let n = batches.fetch_add(1, Ordering::SeqCst) + 1;
        let status = if n <= reject_first { "500 Internal Server Error" } else { "200 OK" };
        if log && n > reject_first {
            println!("floor telemetry: {body}");
        }
        let answer = format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n");
        if writer.write_all(answer.as_bytes()).is_err() {
            return;
        }
    }
}

/// Creates the agent FIFO and prints the size of each payload read from it.
fn read_pipe() {
    let Ok(path) = env::var("NEW_RELIC_EXTENSION_PIPE_PATH") else { return };
    let made = Command::new("mkfifo").arg(&path).status();
    if !made.is_ok_and(|s| s.success()) {
        die("mkfifo", &path);
    }
    thread::spawn(move || loop {
        let mut bytes = Vec::new();
        match File::open(&path).and_then(|mut f| f.read_to_end(&mut bytes)) {
            Ok(_) => println!("floor pipe: {} bytes", bytes.len()),
            Err(e) => die("pipe", e),
        }
    });
}

fn dump_env() {
    let mut vars: Vec<(String, String)> = env::vars().collect();
    vars.sort();
    for (k, v) in vars {
        println!("floor env: {k}={v}");
    }
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    // After the command name: state, ppid, pgrp.
    println!("floor pid={} pgrp={}", std::process::id(), fields.get(2).unwrap_or(&"?"));
}

fn register(api: &str, name: &str) -> String {
    let events = env::var("FLOOR_EVENTS").unwrap_or_else(|_| "INVOKE,SHUTDOWN".into());
    let list: Vec<String> = events.split(',').filter(|e| !e.is_empty()).map(|e| format!("\"{e}\"")).collect();
    let body = format!("{{\"events\":[{}]}}", list.join(","));
    let mut headers = vec![("Lambda-Extension-Name", name)];
    if flag("FLOOR_ACCEPT_ACCOUNT_ID") {
        headers.push(("Lambda-Extension-Accept-Feature", "accountId"));
    }
    let path = "/2020-01-01/extension/register";
    let (status, headers, body) = call(api, "POST", path, &headers, &body).unwrap_or_else(|e| die("register", e));
    if status != 200 {
        die("register refused", (status, body));
    }
    if flag("FLOOR_LOG_EVENTS") {
        println!("floor registered: {body}");
    }
    let id = headers.iter().find(|(k, _)| k == "lambda-extension-identifier");
    id.map(|(_, v)| v.clone()).unwrap_or_else(|| die("register", "no identifier"))
}

fn subscribe(api: &str, id: &str, port: u16) {
    let types = env::var("FLOOR_TYPES").unwrap_or_else(|_| "platform".into());
    let types: Vec<String> = types.split(',').map(|t| format!("\"{t}\"")).collect();
    let timeout = number("FLOOR_TIMEOUT_MS").unwrap_or(25);
    let body = format!(
        "{{\"schemaVersion\":\"2022-12-13\",\"types\":[{}],\"buffering\":{{\"maxItems\":1000,\"maxBytes\":262144,\"timeoutMs\":{timeout}}},\"destination\":{{\"protocol\":\"HTTP\",\"URI\":\"http://sandbox.localdomain:{port}/telemetry\"}}}}",
        types.join(",")
    );
    let headers = [("Lambda-Extension-Identifier", id), ("Content-Type", "application/json")];
    match call(api, "PUT", "/2022-07-01/telemetry", &headers, &body) {
        Ok((200 | 202, _, _)) => {}
        other => die("subscribe", other),
    }
}

fn report_error(api: &str, id: &str, which: &str) {
    let headers = [("Lambda-Extension-Identifier", id), ("Lambda-Extension-Function-Error-Type", "Extension.Floor")];
    let _ = call(api, "POST", &format!("/2020-01-01/extension/{which}"), &headers, "");
}

fn main() {
    if flag("FLOOR_EXIT_BEFORE_REGISTER") {
        exit(0);
    }
    if flag("FLOOR_DUMP_ENV") {
        dump_env();
    }
    let api = env::var("AWS_LAMBDA_RUNTIME_API").unwrap_or_else(|e| die("AWS_LAMBDA_RUNTIME_API", e));
    let exe = env::args().next().unwrap_or_default();
    let name = exe.rsplit('/').next().unwrap_or("floor-extension").to_string();
    if flag("FLOOR_READ_PIPE") {
        read_pipe();
    }
    let batches = Arc::new(AtomicU64::new(0));
    let port = listen(Arc::clone(&batches));
    let id = register(&api, &name);
    if flag("FLOOR_INIT_ERROR") {
        report_error(&api, &id, "init/error");
        exit(0);
    }
    if !flag("FLOOR_NO_SUBSCRIBE") {
        subscribe(&api, &id, port);
    }
    let headers = [("Lambda-Extension-Identifier", id.as_str())];
    loop {
        let (status, _, body) =
            call(&api, "GET", "/2020-01-01/extension/event/next", &headers, "").unwrap_or_else(|e| die("next", e));
        if status != 200 {
            die("next refused", (status, body));
        }
        if flag("FLOOR_LOG_EVENTS") {
            println!("floor event: {body}");
        }
        if body.contains("\"SHUTDOWN\"") {
            println!("floor shutdown: batches={}", batches.load(Ordering::SeqCst));
            while flag("FLOOR_IGNORE_SHUTDOWN") {
                thread::sleep(Duration::from_secs(60));
            }
            exit(0);
        }
        if flag("FLOOR_CRASH_ON_INVOKE") {
            exit(3);
        }
        if flag("FLOOR_EXIT_ERROR_ON_INVOKE") {
            report_error(&api, &id, "exit/error");
            exit(1);
        }
        if let Some(ms) = number("FLOOR_INVOKE_DELAY_MS") {
            thread::sleep(Duration::from_millis(ms));
        }
    }
}
