//! Process-level self-tests of the agent's FIFO write inside an invoke: the
//! payload reaches the extension before the runtime responds; a pipe nobody
//! reads is reported as blocked instead of hanging the test.

mod sim_support;

use lambda_sim::agent;
use lambda_sim::lambda::{Invocation, SimConfig};
use sim_support::*;
use std::process::Command;
use std::time::Duration;

#[test]
fn payload_is_written_before_the_response() {
    let dir = scratch("agent-ok");
    let pipe = dir.join("pipe");
    let pipe_env = pipe.to_string_lossy().into_owned();
    // Freeze off: the floor returns to `next` without waiting for its pipe
    // reader, so a freeze could stop the process before it prints.
    let config = SimConfig { pipe_path: Some(pipe.clone()), freeze: false, ..SimConfig::default() };
    let lambda = with_floor(config, &[("FLOOR_READ_PIPE", "1"), ("NEW_RELIC_EXTENSION_PIPE_PATH", &pipe_env)]);
    let inv = Invocation::default();
    let payload = agent::payload_for(&inv.request_id);
    let result = lambda.invoke(Invocation { payloads: vec![payload.clone()], ..inv }).expect("invoke");
    assert!(!result.agent_blocked && result.agent_error.is_none(), "{result:?}");
    assert!(lambda.wait_output(&format!("floor pipe: {} bytes", payload.len()), WAIT));
    let glued = Invocation { payloads: vec![payload.clone(), payload.clone()], glued: true, ..Invocation::default() };
    assert!(!lambda.invoke(glued).expect("glued invoke").agent_blocked);
    assert!(lambda.wait_output(&format!("floor pipe: {} bytes", 2 * payload.len()), WAIT), "one read of both");
    drop(lambda);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn unread_pipe_is_reported_blocked() {
    let dir = scratch("agent-blocked");
    let pipe = dir.join("pipe");
    assert!(Command::new("mkfifo").arg(&pipe).status().is_ok_and(|s| s.success()));
    let lambda = with_floor(SimConfig::default(), &[]);
    let inv = Invocation {
        payloads: vec![b"[1,\"NR_LAMBDA_MONITORING\",\"x\"]".to_vec()],
        pipe_path: Some(pipe),
        agent_timeout: Duration::from_millis(200),
        ..Invocation::default()
    };
    let result = lambda.invoke(inv).expect("invoke");
    assert!(result.agent_blocked, "{result:?}");
    assert_eq!(result.status, "success", "the simulated agent gives up, the invoke goes on");
    let missing = Invocation { payloads: vec![b"x".to_vec()], ..Invocation::default() };
    let result = lambda.invoke(missing).expect("invoke");
    assert_eq!(result.agent_error.as_deref(), Some("no pipe path configured"));
    let _ = std::fs::remove_dir_all(dir);
}
