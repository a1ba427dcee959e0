//! SIGTERM at any moment: during Init, between invocations, in the middle of one, while frozen,
//! during SHUTDOWN, and with New Relic down. Lambda never sends it (SHUTDOWN then SIGKILL), but
//! a container stop or an orchestrator may. The extension must deliver what is queued within
//! its SIGTERM budget (1.5 s), print its summary, and exit 0, never die of the signal.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use lambda_sim::collector::{EventKind, Fault, FaultPlan};
use lambda_sim::http::{Reply, Response, Server};
use lambda_sim::lambda::Invocation;

use crate::support::{assert_each_once, binary, delivered, scratch, Env, Setup};

/// The SIGTERM budget plus scheduling slack.
const EXIT_WITHIN: Duration = Duration::from_millis(2500);

fn sigterm(pid: u32) {
    let status = Command::new("kill").args(["-TERM", &pid.to_string()]).status().expect("kill runs");
    assert!(status.success(), "kill -TERM {pid} failed");
}

fn pid(env: &Env) -> u32 {
    *env.lambda.pids().first().expect("the extension is running")
}

/// Runs `n` invocations and returns their request ids.
fn invoke_all(env: &Env, n: usize) -> Vec<String> {
    (0..n).map(|i| env.invoke(env.invocation(i)).request_id).collect()
}

/// SIGTERMs the extension and waits for its summary; returns how long that took and the line.
fn terminate(env: &Env) -> (Duration, String) {
    let started = Instant::now();
    sigterm(pid(env));
    assert!(env.lambda.wait_output("summary:", EXIT_WITHIN * 2), "no summary after SIGTERM:\n{}", env.output());
    (started.elapsed(), env.line("summary:").unwrap_or_default())
}

/// The exit the simulator recorded, once the environment is shut down.
#[track_caller]
fn assert_exited_0(env: &Env) {
    let shutdown = env.shutdown("spindown");
    let exit = shutdown.extensions.first().expect("one extension");
    assert_eq!((exit.exit_code, exit.signal), (Some(0), None), "{exit:?}\n{}", env.output());
    assert!(!exit.killed, "{exit:?}");
    let summaries = env.lambda.output().iter().filter(|l| l.contains("summary:")).count();
    assert_eq!(summaries, 1, "exactly one summary:\n{}", env.output());
}

#[test]
fn between_invocations_it_delivers_what_is_queued_and_exits_0() {
    let env = Setup::new().config(|c| c.freeze = false).start("sigterm-idle");
    env.collector.set_faults(FaultPlan::Down(Fault::Delay(Duration::from_millis(30))));
    let ids = invoke_all(&env, 8);
    let (took, summary) = terminate(&env);
    assert!(took < EXIT_WITHIN, "took {took:?}");
    assert!(summary.contains("dropped 0"), "{summary}");
    assert_exited_0(&env);
    let snap = env.collector.snapshot();
    assert_each_once(&snap, EventKind::AgentPayload, &ids);
    assert_each_once(&snap, EventKind::Report, &ids);
}

#[test]
fn in_the_middle_of_an_invocation_it_delivers_and_exits_0() {
    let env = Setup::new().config(|c| c.freeze = false).start("sigterm-mid");
    let ids = invoke_all(&env, 4);
    let target = pid(&env);
    // The scenario is the moment: 150 ms into a 600 ms invocation.
    let killer = thread::spawn(move || {
        thread::sleep(Duration::from_millis(150));
        sigterm(target);
    });
    let interrupted = Invocation { duration: Duration::from_millis(600), ..env.invocation(9) };
    let result_id = interrupted.request_id.clone();
    let result = env.lambda.invoke(interrupted);
    killer.join().expect("killer thread");
    assert!(env.lambda.wait_output("summary:", EXIT_WITHIN), "no summary after SIGTERM:\n{}", env.output());
    // Depending on when the exit lands, Lambda sees a finished invocation or an extension gone
    // mid-invocation (a reset); either way the process exited 0 on its own.
    let result = result.expect("the invocation completes");
    let ended = result.reset.unwrap_or_else(|| env.shutdown("spindown"));
    let exit = ended.extensions.first().expect("one extension");
    assert_eq!((exit.exit_code, exit.signal, exit.killed), (Some(0), None, false), "{exit:?}\n{}", env.output());
    let summary = env.line("summary:").expect("summary line");
    assert!(summary.contains("dropped 0"), "{summary}");
    // The interrupted invocation's own data may or may not have been written before the exit.
    let snap = env.collector.snapshot();
    let reports = delivered(&snap, EventKind::Report);
    assert!(ids.iter().all(|id| reports.get(id) == Some(&1)), "{reports:?}");
    let mut ids = ids;
    if snap.has(EventKind::AgentPayload, &result_id) {
        ids.push(result_id);
    }
    assert_each_once(&snap, EventKind::AgentPayload, &ids);
}

#[test]
fn while_frozen_it_is_handled_at_the_thaw_together_with_shutdown() {
    let env = Setup::new().start("sigterm-frozen");
    let ids = invoke_all(&env, 5);
    assert!(env.lambda.extensions_stopped(), "frozen between invocations");
    sigterm(pid(&env));
    // SHUTDOWN thaws the sandbox: the pending SIGTERM and SHUTDOWN race; one flush wins.
    assert_exited_0(&env);
    let snap = env.collector.snapshot();
    assert_each_once(&snap, EventKind::AgentPayload, &ids);
    assert_each_once(&snap, EventKind::Report, &ids);
}

#[test]
fn during_shutdown_it_changes_nothing() {
    let env = Setup::new().start("sigterm-shutdown");
    env.collector.set_faults(FaultPlan::Down(Fault::Delay(Duration::from_millis(100))));
    let ids = invoke_all(&env, 5);
    let target = pid(&env);
    // The scenario is the moment: 50 ms into the SHUTDOWN flush.
    let killer = thread::spawn(move || {
        thread::sleep(Duration::from_millis(50));
        sigterm(target);
    });
    let shutdown = env.shutdown("spindown");
    killer.join().expect("killer thread");
    let exit = &shutdown.extensions[0];
    assert_eq!((exit.exit_code, exit.signal, exit.killed), (Some(0), None, false), "{exit:?}\n{}", env.output());
    let snap = env.collector.snapshot();
    assert_each_once(&snap, EventKind::AgentPayload, &ids);
    assert_each_once(&snap, EventKind::Report, &ids);
}

#[test]
fn with_new_relic_down_it_exits_within_its_budget_and_counts_what_is_lost() {
    let env = Setup::new().config(|c| c.freeze = false).start("sigterm-down");
    env.collector.refuse();
    invoke_all(&env, 5);
    let (took, summary) = terminate(&env);
    assert!(took < EXIT_WITHIN, "took {took:?}");
    assert!(summary.contains("shutdown_deadline=10"), "5 payloads and 5 REPORT lines counted: {summary}");
    assert_exited_0(&env);
}

#[test]
fn during_init_it_exits_0_at_once() {
    // A platform slow to answer `register`: the SIGTERM lands before any pipeline exists.
    let server =
        Server::start("127.0.0.1:0", Arc::new(|_| Reply::Delayed(Duration::from_secs(5), Response::json(500, "{}"))))
            .expect("server");
    let dir = scratch("sigterm-init");
    let mut child = Command::new(binary())
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", server.addr().to_string())
        .env("NEW_RELIC_LICENSE_KEY", "k")
        .env("NEW_RELIC_EXTENSION_PIPE_PATH", dir.join("pipe"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let first = lines.next().and_then(Result::ok).unwrap_or_default();
    assert!(first.contains("starting"), "{first}");
    let started = Instant::now();
    sigterm(child.id());
    let status = child.wait().expect("exit status");
    assert_eq!(status.code(), Some(0), "{status:?}");
    assert!(started.elapsed() < Duration::from_secs(1), "took {:?}", started.elapsed());
}

#[test]
fn without_an_agent_pipe_a_thread_of_its_own_takes_it() {
    // The FIFO cannot be created, so there is no pipe reader, which otherwise watches for SIGTERM.
    let env = Setup::new()
        .env("NEW_RELIC_EXTENSION_PIPE_PATH", "/nonexistent-directory/newrelic-telemetry")
        .config(|c| c.freeze = false)
        .start("sigterm-no-pipe");
    let ids: Vec<String> =
        (0..4).map(|n| env.invoke(Invocation { payloads: Vec::new(), ..env.invocation(n) }).request_id).collect();
    assert!(env.line("cannot create the agent pipe").is_some(), "{}", env.output());
    let (took, summary) = terminate(&env);
    assert!(took < EXIT_WITHIN, "took {took:?}");
    assert!(summary.contains("dropped 0"), "{summary}");
    assert_exited_0(&env);
    assert_each_once(&env.collector.snapshot(), EventKind::Report, &ids);
}
