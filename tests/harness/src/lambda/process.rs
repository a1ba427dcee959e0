//! Extension processes: spawn with the §1 environment in their own process
//! group, capture stdout/stderr lines (kept for tests and emitted as
//! `extension` telemetry), and record the exit status from a waiter thread.
//! It never decides when to signal; the lifecycle modules do.

use super::delivery;
use super::records::s;
use super::results::SpawnedExtension;
use super::state::{Proc, Shared};
use std::io::{self, BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::thread;
use std::time::Instant;

/// Dummy execution-role credentials: realistic shapes, no secrets.
const CREDENTIALS: [(&str, &str); 3] = [
    ("AWS_ACCESS_KEY_ID", "ASIASIMULATEDKEY0000"),
    ("AWS_SECRET_ACCESS_KEY", "simulated/secret/access/key/not/real/0000"),
    ("AWS_SESSION_TOKEN", "simulated-session-token"),
];

/// The environment an extension sees (spec §1): platform variables, then
/// the function's configured variables, then the caller's.
pub(super) fn environment(shared: &Shared, runtime_api: &str, extra: &[(String, String)]) -> Vec<(String, String)> {
    let cfg = &shared.config;
    let mut env: Vec<(String, String)> = vec![
        ("AWS_LAMBDA_RUNTIME_API".into(), runtime_api.into()),
        ("AWS_LAMBDA_FUNCTION_NAME".into(), cfg.function_name.clone()),
        ("AWS_LAMBDA_FUNCTION_VERSION".into(), cfg.function_version.clone()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE".into(), cfg.memory_mb.to_string()),
        ("AWS_REGION".into(), cfg.region.clone()),
        ("AWS_DEFAULT_REGION".into(), cfg.region.clone()),
    ];
    if let Some(t) = cfg.env_init_type() {
        env.push(("AWS_LAMBDA_INITIALIZATION_TYPE".into(), t));
    }
    env.extend(CREDENTIALS.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    if let Ok(path) = std::env::var("PATH") {
        env.push(("PATH".into(), path));
    }
    env.extend(cfg.env.iter().cloned());
    env.extend(extra.iter().cloned());
    env
}

/// Starts one extension process and its reader and waiter threads.
pub(super) fn spawn(shared: &Arc<Shared>, path: &Path, extra: &[(String, String)]) -> io::Result<SpawnedExtension> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    // The state stays locked from fork to bookkeeping: a fast child must not
    // reach `register` before its process is on record (it would count as
    // an internal extension and be refused SHUTDOWN).
    let mut st = shared.lock();
    let runtime_api = st.runtime_api.clone();
    let spawned_at = Instant::now();
    let mut child = Command::new(path)
        .env_clear()
        .envs(environment(shared, &runtime_api, extra))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()?;
    let pid = child.id();
    let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
    let id = st.fresh_id();
    let proc = Proc {
        id,
        name: name.clone(),
        pid,
        spawned_at,
        ext_id: None,
        exit: None,
        exited_at: None,
        killed: false,
        shutdown_at: None,
    };
    st.procs.push(proc);
    shared.cv.notify_all();
    drop(st);
    let mut readers = Vec::new();
    if let Some(out) = stdout {
        readers.push(read_lines(shared, out, &name)?);
    }
    if let Some(err) = stderr {
        readers.push(read_lines(shared, err, &name)?);
    }
    let waiter = Arc::clone(shared);
    thread::Builder::new().name(format!("sim-wait-{pid}")).spawn(move || {
        let status = child.wait();
        // The exit is recorded only once every line the process wrote is in the output, so a
        // test that looks at the output after the exit sees all of it.
        for reader in readers {
            let _ = reader.join();
        }
        let mut st = waiter.lock();
        if let Some(p) = st.proc_mut(id) {
            p.exit = status.ok();
            p.exited_at = Some(Instant::now());
        }
        waiter.cv.notify_all();
    })?;
    Ok(SpawnedExtension { name, pid })
}

/// Forwards each line of `stream` to the output log and `extension` telemetry.
fn read_lines(
    shared: &Arc<Shared>,
    stream: impl Read + Send + 'static,
    name: &str,
) -> io::Result<thread::JoinHandle<()>> {
    let shared = Arc::clone(shared);
    thread::Builder::new().name(format!("sim-out-{name}")).spawn(move || {
        let mut reader = BufReader::new(stream);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match reader.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            let line = String::from_utf8_lossy(&buf).trim_end_matches(['\n', '\r']).to_string();
            let mut st = shared.lock();
            st.output.push(line.clone());
            delivery::emit(&shared, &mut st, "extension", s(&line));
        }
    })
}
