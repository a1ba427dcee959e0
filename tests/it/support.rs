//! Shared setup of the integration tests: the real extension binary in the simulator, with a
//! fake New Relic collector and the agent pipe in a scratch directory.
#![allow(dead_code)] // each test module uses a different subset

use std::path::{Path, PathBuf};
use std::time::Duration;

use lambda_sim::agent;
use lambda_sim::collector::{Collector, EventKind, Snapshot};
use lambda_sim::lambda::{Invocation, InvokeResult, Lambda, ShutdownResult, SimConfig};

pub const WAIT: Duration = Duration::from_secs(10);
pub const KEY: &str = "test-license-key-0123456789";

/// The extension under test: this build's, or `NR_TEST_EXTENSION` (`./build.sh test` runs the
/// suite a second time against the static release binary, which aborts on a panic).
pub fn binary() -> &'static Path {
    static CHOSEN: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    CHOSEN.get_or_init(|| match std::env::var_os("NR_TEST_EXTENSION").filter(|v| !v.is_empty()) {
        Some(path) => {
            let path = PathBuf::from(path);
            assert!(path.is_file(), "NR_TEST_EXTENSION={} is not a file", path.display());
            path
        }
        None => PathBuf::from(env!("CARGO_BIN_EXE_newrelic-lambda-extension")),
    })
}

/// A fresh scratch directory, unique per call (tests run in parallel and may share a tag).
pub fn scratch(tag: &str) -> PathBuf {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("nr-ext-it-{}-{n}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// `http://127.0.0.1:<port>` of a port nothing listens on.
pub fn closed_port_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    format!("http://127.0.0.1:{port}")
}

pub struct Env {
    pub lambda: Lambda,
    pub collector: std::sync::Arc<Collector>,
    pub pipe: PathBuf,
    /// Real agent payloads used as templates.
    templates: Vec<Vec<u8>>,
}

pub struct Setup {
    pub config: SimConfig,
    pub env: Vec<(String, String)>,
    pub license_key: bool,
}

impl Setup {
    pub fn new() -> Setup {
        Setup { config: SimConfig::default(), env: Vec::new(), license_key: true }
    }

    pub fn env(mut self, name: &str, value: &str) -> Setup {
        self.env.push((name.into(), value.into()));
        self
    }

    pub fn config(mut self, f: impl FnOnce(&mut SimConfig)) -> Setup {
        f(&mut self.config);
        self
    }

    pub fn without_license_key(mut self) -> Setup {
        self.license_key = false;
        self
    }

    /// Starts the simulator and collector, spawns the extension and waits for its Init.
    pub fn start(self, tag: &str) -> Env {
        let env = self.spawn(tag);
        if let Err(e) = env.lambda.wait_init(WAIT) {
            panic!("init failed: {e}\n{}", env.lambda.output().join("\n"));
        }
        env
    }

    /// Starts everything and spawns the extension, without waiting for Init.
    pub fn spawn(mut self, tag: &str) -> Env {
        let dir = scratch(tag);
        let pipe = dir.join("newrelic-telemetry");
        self.config.pipe_path = Some(pipe.clone());
        let collector = std::sync::Arc::new(Collector::start().expect("collector starts"));
        let mut vars = vec![
            ("NEW_RELIC_TELEMETRY_ENDPOINT".to_string(), collector.telemetry_url()),
            ("NEW_RELIC_LOG_ENDPOINT".to_string(), collector.log_url()),
            ("NEW_RELIC_EXTENSION_PIPE_PATH".to_string(), pipe.display().to_string()),
            ("NEW_RELIC_EXTENSION_LOG_LEVEL".to_string(), "debug".to_string()),
        ];
        if self.license_key {
            vars.push(("NEW_RELIC_LICENSE_KEY".to_string(), KEY.to_string()));
        } else {
            // Without a key the extension asks Secrets Manager and SSM for one: keep that on
            // this machine (a closed port refuses at once) instead of reaching amazonaws.com.
            vars.push(("AWS_ENDPOINT_URL".to_string(), closed_port_url()));
        }
        vars.extend(self.env);
        let lambda = Lambda::start(self.config).expect("simulator starts");
        lambda.spawn_extension(binary(), &vars).expect("extension spawns");
        let templates = agent::fixtures().into_iter().map(|(_, bytes)| bytes).collect::<Vec<_>>();
        assert!(!templates.is_empty(), "real agent fixtures missing from tests/data/agent");
        Env { lambda, collector, pipe, templates }
    }
}

impl Env {
    /// A real agent payload carrying `request_id`.
    pub fn payload(&self, request_id: &str, n: usize) -> Vec<u8> {
        let template = &self.templates[n % self.templates.len()];
        let trace_id: String = request_id.chars().filter(char::is_ascii_hexdigit).collect();
        agent::retarget(template, request_id, &trace_id).expect("fixture retargets")
    }

    /// An invocation whose agent writes one real payload for it.
    pub fn invocation(&self, n: usize) -> Invocation {
        let request_id = format!("00000000-0000-4000-8000-{n:012}");
        Invocation { payloads: vec![self.payload(&request_id, n)], request_id, ..Invocation::default() }
    }

    pub fn invoke(&self, invocation: Invocation) -> InvokeResult {
        match self.lambda.invoke(invocation) {
            Ok(result) => {
                assert!(!result.agent_blocked, "the agent blocked on the pipe: {:?}", result.agent_error);
                result
            }
            Err(e) => panic!("invoke failed: {e}\n{}", self.lambda.output().join("\n")),
        }
    }

    pub fn shutdown(&self, reason: &str) -> ShutdownResult {
        self.lambda.shutdown(reason)
    }

    /// The one line of the extension's output containing `needle`.
    pub fn line(&self, needle: &str) -> Option<String> {
        self.lambda.output().into_iter().find(|l| l.contains(needle))
    }

    pub fn output(&self) -> String {
        self.lambda.output().join("\n")
    }
}

/// How many times each request id was delivered as `kind`.
pub fn delivered(snapshot: &Snapshot, kind: EventKind) -> std::collections::BTreeMap<String, usize> {
    snapshot.deliveries().into_iter().filter(|((_, k), _)| *k == kind).map(|((id, _), n)| (id, n)).collect()
}

/// Asserts that `ids` were each delivered exactly once as `kind`, and nothing else was.
#[track_caller]
pub fn assert_each_once(snapshot: &Snapshot, kind: EventKind, ids: &[String]) {
    let got = delivered(snapshot, kind);
    let missing: Vec<_> = ids.iter().filter(|id| !got.contains_key(*id)).collect();
    let twice: Vec<_> = got.iter().filter(|(_, n)| **n > 1).collect();
    let extra: Vec<_> = got.keys().filter(|id| !ids.contains(id)).collect();
    assert!(
        missing.is_empty() && twice.is_empty() && extra.is_empty(),
        "{kind:?}: {} expected, {} delivered; missing {missing:?}; twice {twice:?}; unexpected {extra:?}",
        ids.len(),
        got.len()
    );
}
