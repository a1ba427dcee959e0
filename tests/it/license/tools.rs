//! External servers for the license and proxy tests: finding the tools `./build.sh test`
//! installs (failing loudly when one is missing, never skipping), free ports, waiting for a
//! port, and child processes that are killed when dropped. Also two tiny in-process fake AWS
//! endpoints for what moto cannot do (throttling, silence).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// An executable the tests need: `$env_var` if set, else `name` on `PATH`. Panics with what to
/// run when it is missing.
pub fn tool(name: &str, env_var: &str) -> PathBuf {
    if let Some(path) = std::env::var_os(env_var) {
        return PathBuf::from(path);
    }
    let paths = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&paths)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/bin"), PathBuf::from("/sbin")])
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("`{name}` is not installed: run ./build.sh test (it installs the test tools) or set {env_var}")
        })
}

/// The venv with moto: `$NR_TEST_MOTO_VENV`, else `target/moto-venv` (what build.sh creates).
pub fn moto_venv() -> PathBuf {
    let venv = std::env::var_os("NR_TEST_MOTO_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/moto-venv"));
    assert!(
        venv.join("bin/moto_server").is_file(),
        "moto is not installed in {}: run ./build.sh test (its moto_venv step) or set NR_TEST_MOTO_VENV",
        venv.display()
    );
    venv
}

/// A port that was free a moment ago (for servers that cannot be told to pick one).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr").port()
}

/// A child process, killed (and reaped) when dropped; its output goes to a file for diagnosis.
pub struct Server {
    child: Child,
    pub port: u16,
    pub log: PathBuf,
}

impl Server {
    /// Spawns `command`, then waits (bounded) until 127.0.0.1:`port` accepts connections.
    pub fn start(name: &str, mut command: Command, port: u16, log: PathBuf) -> Server {
        let out = std::fs::File::create(&log).expect("server log file");
        let err = out.try_clone().expect("server log file");
        let child = command
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({command:?}): {e}"));
        let mut server = Server { child, port, log };
        let deadline = Instant::now() + Duration::from_secs(20);
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("{name} exited ({status}) before listening on {port}:\n{}", server.log_text());
            }
            assert!(Instant::now() < deadline, "{name} is not listening on {port} after 20s:\n{}", server.log_text());
            std::thread::sleep(Duration::from_millis(20)); // polling a port, bounded above
        }
        server
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A fake AWS endpoint answering every request with `status` and `body` (JSON protocol);
/// returns its URL and a receiver counting the requests.
pub fn fake_aws(status: &'static str, body: &'static str) -> (String, mpsc::Receiver<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream);
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut request_body = vec![0; length];
            let _ = reader.read_exact(&mut request_body);
            let reply = format!(
                "HTTP/1.1 {status}\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: {}\r\n\
                 Connection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = reader.get_mut().write_all(reply.as_bytes());
            if tx.send(()).is_err() {
                return;
            }
        }
    });
    (url, rx)
}

/// A fake AWS endpoint that accepts connections and never answers; counts connections.
pub fn silent_aws() -> (String, mpsc::Receiver<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream); // kept open, unanswered, until the test process ends
            if tx.send(()).is_err() {
                return;
            }
        }
    });
    (url, rx)
}
