//! The main thread: register, set up the pipe, listener and pipeline, then loop on
//! `event/next`. It owns no telemetry data; it only tells the pipeline what happened and waits
//! (with a deadline) for the flush it asked for. It is the last thread standing: if the
//! pipeline dies, it keeps answering `event/next` so the user's function is never harmed.

use std::time::{Duration, Instant};

use crossbeam_channel::Sender as Tx;

use crate::config::Config;
use crate::error::Error;
use crate::event::{Event, FlushRequest, Invoke, ShutdownReason, ShutdownRequest, QUEUE_CAPACITY};
use crate::http_agent::Network;
use crate::lambda_api::{LambdaApi, NextEvent, Subscription};
use crate::newrelic::Context;
use crate::pipeline::{LogSettings, PipelineConfig};
use crate::sender::SenderConfig;
use crate::signals::{self, Terminator};
use crate::timefmt::now_ms;
use crate::{agent_pipe, license, listener, newrelic, oneshot, pipeline, policy};
use crate::{error, info, warn};

pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The product name, used in `log_stream_name` and `plugin` whatever the file is called.
pub const PRODUCT: &str = newrelic::EXTENSION_NAME;
/// Consecutive transport failures of `event/next` tolerated before giving up.
const MAX_NEXT_FAILURES: u32 = 3;

/// Runs the whole extension; returns the exit code. `terminator` is armed once the pipeline
/// runs, so a SIGTERM delivers what is queued (before that, it exits at once).
pub fn run(config: Config, name: &str, terminator: &Terminator) -> i32 {
    let Some(runtime_api) = config.runtime_api.clone() else {
        error!("AWS_LAMBDA_RUNTIME_API is not set: this program only runs as a Lambda extension");
        return 1;
    };
    // The key lookup (maybe Secrets Manager / SSM calls) starts before `register` so it
    // overlaps registration instead of adding to the cold start.
    let lookup = config.enabled.then(|| license::start(&config));
    let api = LambdaApi::new(&runtime_api);
    let registration = match api.register(name) {
        Ok(r) => r,
        Err(e) => {
            error!("{e}");
            return 1;
        }
    };
    let id = registration.id.clone();
    let (key, network) = match lookup.map(license::Lookup::finish) {
        None => {
            info!("disabled by NEW_RELIC_LAMBDA_EXTENSION_ENABLED=false; running as a no-op");
            return idle(&api, &id);
        }
        Some(Err(e)) => {
            warn!("{e}; running as a no-op, no telemetry is sent");
            return idle(&api, &id);
        }
        Some(Ok(found)) => (found.key.0, found.network),
    };
    let function_name =
        Some(config.function_name.clone()).filter(|n| !n.is_empty()).or(registration.function_name).unwrap_or_default();
    // Known before the first INVOKE when the platform shares the account id (Lambda does).
    let function_arn = match (&registration.account_id, &config.region) {
        (Some(account), Some(region)) if !function_name.is_empty() => {
            format!("arn:aws:lambda:{region}:{account}:function:{function_name}")
        }
        _ => String::new(),
    };
    let setup = Setup { config: &config, api: &api, id: &id, key, network, function_name, function_arn, terminator };
    match setup.start() {
        Ok(tx) => {
            let on_term = tx.clone();
            terminator.arm(Box::new(move || {
                let reason = ShutdownReason::Other("SIGTERM".into());
                finish(&on_term, reason, Instant::now() + signals::SIGTERM_BUDGET);
            }));
            // The agent pipe reader watches for SIGTERM; without one, a thread of its own.
            if let Some(watch) = terminator.take_watch() {
                watch.spawn();
            }
            event_loop(&config, &api, &id, &tx, terminator)
        }
        Err(e) => {
            error!("initialization failed: {e}");
            agent_pipe::remove(&config.pipe_path);
            if let Err(report) = api.init_error(&id, "Extension.InitError", &e.to_string()) {
                error!("{report}");
            }
            1
        }
    }
}

struct Setup<'a> {
    config: &'a Config,
    api: &'a LambdaApi,
    id: &'a str,
    key: String,
    network: Network,
    function_name: String,
    function_arn: String,
    terminator: &'a Terminator,
}

impl Setup<'_> {
    /// Pipe, listener, subscription and pipeline, in the order Lambda requires.
    fn start(self) -> Result<Tx<Event>, Error> {
        let io = |context| move |source| Error::Io { context, source };
        let (tx, rx) = crossbeam_channel::bounded(QUEUE_CAPACITY);
        // The FIFO must exist before the first `event/next`. Without it the agents print their
        // payloads to stdout instead: degraded, but the function keeps working, so not fatal.
        // Threads that need not run before the first `event/next` are started by the pipeline
        // thread, so this one gets there sooner (each start is a few syscalls and a clone).
        let mut starters: Vec<pipeline::Starter> = Vec::new();
        let drain = match agent_pipe::create(&self.config.pipe_path) {
            Ok(()) => {
                // Trace ids are read from every payload only when logs carry them.
                let inspect = self.config.collect_trace_id;
                let (drain, mut reader) =
                    agent_pipe::prepare_reader(self.config.pipe_path.clone(), tx.clone(), inspect)
                        .map_err(io("failed to start the pipe reader"))?;
                if let Some(watch) = self.terminator.take_watch() {
                    reader.watch_sigterm(watch);
                }
                starters.push(("the agent pipe reader", Box::new(move || reader.start().map(drop))));
                Some(drain)
            }
            Err(e) => {
                warn!(
                    "cannot create the agent pipe {}: {e}; agent payloads will not be collected",
                    self.config.pipe_path.display()
                );
                None
            }
        };
        let socket = listener::bind().map_err(io("failed to bind the Telemetry API listener"))?;
        let port = socket.local_addr().map_err(io("failed to read the listener's port"))?.port();
        // Bound and listening now: Lambda's deliveries wait in the backlog until it accepts.
        let listener_tx = tx.clone();
        starters.push(("the Telemetry API listener", Box::new(move || listener::spawn(socket, listener_tx).map(drop))));
        let mut types = vec!["platform"];
        if self.config.send_logs.function {
            types.push("function");
        }
        if self.config.send_logs.extension {
            types.push("extension");
        }
        let telemetry = match self.api.subscribe(self.id, port, &types) {
            Subscription::Subscribed { schema } => {
                crate::debug!("subscribed to the Telemetry API (schema {schema}, port {port})");
                true
            }
            Subscription::NotSupported => {
                info!("the Telemetry API is not supported here (local emulator); continuing without REPORT lines");
                false
            }
            Subscription::Failed(why) => {
                warn!("failed to subscribe to the Telemetry API ({why}); continuing without REPORT lines");
                false
            }
        };
        let context = Context {
            log_group_name: format!("/aws/lambda/{}", self.function_name),
            function_name: self.function_name,
            invoked_function_arn: self.function_arn,
            log_stream_name: format!("{PRODUCT}:{VERSION}"),
        };
        let sender = SenderConfig {
            telemetry_url: newrelic::telemetry_endpoint(&self.key, self.config.telemetry_endpoint.as_deref()),
            log_url: newrelic::log_endpoint(&self.key, self.config.log_endpoint.as_deref()),
            license_key: self.key,
            user_agent: newrelic::user_agent(),
            http_timeout: self.config.http_timeout,
            network: self.network,
        };
        let pipeline = PipelineConfig {
            context,
            sender,
            telemetry,
            flush_mode: self.config.flush_mode,
            max_data_age: self.config.max_data_age,
            budget: self.config.data_collection_timeout,
            drain,
            starters,
            logs: LogSettings {
                selection: self.config.send_logs,
                collect_trace_id: self.config.collect_trace_id,
                tags: self.config.tags.clone(),
                labels: self.config.labels.clone(),
            },
        };
        pipeline::spawn(pipeline, rx).map_err(io("failed to start the pipeline"))?;
        Ok(tx)
    }
}

fn event_loop(config: &Config, api: &LambdaApi, id: &str, tx: &Tx<Event>, terminator: &Terminator) -> i32 {
    let mut failures = 0;
    let mut previous_invoke: Option<Instant> = None;
    loop {
        let event = match api.next_event(id) {
            Ok(event) => event,
            Err(e) => match next_failed(api, id, e, &mut failures) {
                Some(code) => return code,
                None => continue,
            },
        };
        failures = 0;
        let (now, now_epoch) = (Instant::now(), now_ms());
        match event {
            NextEvent::Invoke { request_id, deadline_ms, invoked_function_arn } => {
                let invoke =
                    Invoke { request_id, deadline_ms, invoked_function_arn, received: now, received_ms: now_epoch };
                let deadline = policy::flush_deadline(config, policy::instant_of(deadline_ms, now, now_epoch), now);
                let gap = previous_invoke.replace(now).map(|p| now.saturating_duration_since(p));
                let (reply, done) = oneshot::channel();
                let flush = FlushRequest { deadline, gap, reply };
                if deliver(tx, Event::Invoke(invoke, flush), deadline) {
                    let _ = done.recv_deadline(deadline);
                }
            }
            NextEvent::Shutdown { reason, deadline_ms } => {
                let deadline = policy::shutdown_deadline(policy::instant_of(deadline_ms, now, now_epoch), now);
                if terminator.begin_shutdown() {
                    info!("SHUTDOWN ({reason:?}); delivering what is queued");
                    finish(tx, reason, deadline);
                } else {
                    // A SIGTERM is already delivering, and ends the process when done.
                    std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
                }
                return 0;
            }
        }
    }
}

/// The last delivery (SHUTDOWN or SIGTERM): everything queued, until `deadline`, then the
/// summary line.
fn finish(tx: &Tx<Event>, reason: ShutdownReason, deadline: Instant) {
    let (reply, done) = oneshot::channel();
    if deliver(tx, Event::Shutdown(ShutdownRequest { reason, deadline, reply }), deadline) {
        match done.recv_deadline(deadline + Duration::from_millis(50)) {
            Ok(summary) => info!("{summary}"),
            Err(_) => warn!("SHUTDOWN deadline reached before delivery finished"),
        }
    }
}

/// Sends to the pipeline without ever blocking past `deadline`; false if it is gone or stuck.
fn deliver(tx: &Tx<Event>, event: Event, deadline: Instant) -> bool {
    tx.send_deadline(event, deadline).is_ok()
}

/// Decides what a failed `event/next` means: `Some(exit code)` to stop, `None` to retry.
fn next_failed(api: &LambdaApi, id: &str, e: Error, failures: &mut u32) -> Option<i32> {
    match e {
        // 403/500: the platform says this extension or the container is done. Never loop.
        Error::Status { .. } => {
            error!("{e}; exiting");
            Some(1)
        }
        // An event we do not understand (a newer platform?) is skipped; only a platform that
        // keeps answering garbage is an unexpected failure worth reporting.
        Error::Protocol { .. } => {
            *failures += 1;
            if *failures < MAX_NEXT_FAILURES {
                warn!("{e}; ignored");
                return None;
            }
            error!("{e}; {failures} in a row, exiting");
            if let Err(report) = api.exit_error(id, "Extension.UnexpectedEvent", &e.to_string()) {
                error!("{report}");
            }
            Some(1)
        }
        _ => {
            *failures += 1;
            if *failures >= MAX_NEXT_FAILURES {
                error!("{e}; giving up after {failures} attempts");
                return Some(1);
            }
            warn!("{e}; retrying");
            std::thread::sleep(Duration::from_millis(100 << *failures));
            None
        }
    }
}

/// No-op mode: registered, nothing else; answers `event/next` until SHUTDOWN.
fn idle(api: &LambdaApi, id: &str) -> i32 {
    let mut failures = 0;
    loop {
        match api.next_event(id) {
            Ok(NextEvent::Shutdown { .. }) => return 0,
            Ok(NextEvent::Invoke { .. }) => failures = 0,
            Err(e) => {
                if let Some(code) = next_failed(api, id, e, &mut failures) {
                    return code;
                }
            }
        }
    }
}
