//! One simulated Lambda environment around the extension for the soak runs: the simulator, the
//! fake collector, the agent pipe in a scratch directory, real agent payloads re-targeted to
//! each invocation, and what `/proc` says about the extension process (RSS, threads, open file
//! descriptors). It drives and measures; the phases judge.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use lambda_sim::agent;
use lambda_sim::collector::Collector;
use lambda_sim::lambda::{Invocation, InvokeResult, Lambda, SimConfig};

/// A license key of the right shape; the collector is fake.
const KEY: &str = "0000000000000000000000000000000000000000";

/// One sample of the extension process.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sample {
    pub invocations: usize,
    pub rss_kb: u64,
    pub peak_rss_kb: u64,
    pub threads: u64,
    pub fds: u64,
}

pub struct Sandbox {
    // Dropped first: SIGKILLs whatever still runs.
    pub lambda: Lambda,
    pub collector: Arc<Collector>,
    templates: Vec<Vec<u8>>,
    dir: PathBuf,
}

impl Sandbox {
    /// Starts everything and waits for the extension's Init.
    pub fn start(extension: &Path, tag: &str, freeze: bool, extra: &[(&str, &str)]) -> Result<Sandbox, String> {
        let dir = std::env::temp_dir().join(format!("nr-soak-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let pipe = dir.join("newrelic-telemetry");
        let collector = Arc::new(Collector::start().map_err(|e| format!("collector: {e}"))?);
        let mut env = vec![
            ("NEW_RELIC_LICENSE_KEY".to_string(), KEY.to_string()),
            ("NEW_RELIC_TELEMETRY_ENDPOINT".to_string(), collector.telemetry_url()),
            ("NEW_RELIC_LOG_ENDPOINT".to_string(), collector.log_url()),
            ("NEW_RELIC_EXTENSION_PIPE_PATH".to_string(), pipe.display().to_string()),
        ];
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let config = SimConfig { freeze, pipe_path: Some(pipe), ..SimConfig::default() };
        let lambda = Lambda::start(config).map_err(|e| format!("simulator: {e}"))?;
        lambda.spawn_extension(extension, &env).map_err(|e| format!("cannot start {}: {e}", extension.display()))?;
        lambda
            .wait_init(Duration::from_secs(10))
            .map_err(|e| format!("Init failed: {e}\n{}", lambda.output().join("\n")))?;
        let templates = agent::fixtures().into_iter().map(|(_, bytes)| bytes).collect::<Vec<_>>();
        if templates.is_empty() {
            return Err("the real agent payloads of tests/data/agent are missing".into());
        }
        Ok(Sandbox { lambda, collector, templates, dir })
    }

    /// Invocation number `n`: a real agent payload for it, `logs` function log lines.
    pub fn invocation(&self, n: usize, logs: Vec<String>, timeout: Duration) -> Result<Invocation, String> {
        let request_id = request_id(n);
        let template = &self.templates[n % self.templates.len()];
        let trace_id: String = request_id.chars().filter(char::is_ascii_hexdigit).collect();
        let payload = agent::retarget(template, &request_id, &trace_id).map_err(|e| e.to_string())?;
        Ok(Invocation {
            request_id,
            payloads: vec![payload],
            logs,
            timeout,
            duration: Duration::from_millis(1),
            ..Invocation::default()
        })
    }

    pub fn invoke(&self, invocation: Invocation) -> Result<InvokeResult, String> {
        let result = self.lambda.invoke(invocation).map_err(|e| format!("{e}\n{}", self.output_tail()))?;
        if result.agent_blocked || result.status != "success" || result.reset.is_some() {
            return Err(format!("invocation {} went wrong: {result:?}\n{}", result.request_id, self.output_tail()));
        }
        Ok(result)
    }

    pub fn pid(&self) -> Option<u32> {
        self.lambda.pids().first().copied()
    }

    pub fn sample(&self, invocations: usize) -> Option<Sample> {
        let pid = self.pid()?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let field = |name: &str| {
            status.lines().find(|l| l.starts_with(name)).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        };
        let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count() as u64;
        Some(Sample {
            invocations,
            rss_kb: field("VmRSS:")?,
            peak_rss_kb: field("VmHWM:")?,
            threads: field("Threads:")?,
            fds,
        })
    }

    /// SHUTDOWN; the summary line if the extension exited 0 on its own.
    pub fn shutdown(&self) -> Result<String, String> {
        let result = self.lambda.shutdown("spindown");
        let exit = result.extensions.first().ok_or("no extension at SHUTDOWN")?;
        if exit.exit_code != Some(0) || exit.killed {
            return Err(format!("bad exit at SHUTDOWN: {exit:?}\n{}", self.output_tail()));
        }
        self.lambda.output().into_iter().rev().find(|l| l.contains("summary:")).ok_or_else(|| "no summary line".into())
    }

    /// The last lines the extension printed, for error messages.
    pub fn output_tail(&self) -> String {
        let output = self.lambda.output();
        output[output.len().saturating_sub(20)..].join("\n")
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn request_id(n: usize) -> String {
    format!("50a50a50-0000-4000-8000-{n:012}")
}

/// The number after `name=` in a summary line; 0 when absent.
pub fn count(summary: &str, name: &str) -> u64 {
    let Some(at) = summary.find(&format!("{name}=")) else { return 0 };
    summary[at + name.len() + 1..].chars().take_while(char::is_ascii_digit).collect::<String>().parse().unwrap_or(0)
}
