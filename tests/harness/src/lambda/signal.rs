//! Signals to extension process groups (freeze = SIGSTOP, thaw = SIGCONT,
//! kill = SIGKILL) and a look at a process's scheduler state and peak memory
//! in `/proc`. The only `unsafe` of the simulator lives here.
#![allow(unsafe_code)] // reason: std cannot signal a process group; libc::kill(-pgid) is the one call.

use std::time::{Duration, Instant};

pub(super) use libc::{SIGCONT, SIGKILL, SIGSTOP};

/// Sends `sig` to the process group `pgid` (each extension leads its own
/// group). Refuses groups 0 and 1, which would hit the simulator or init.
pub(super) fn group(pgid: u32, sig: i32) -> bool {
    let Ok(pgid) = i32::try_from(pgid) else { return false };
    if pgid <= 1 {
        return false;
    }
    // SAFETY: kill(2) takes plain integers and has no memory effects.
    unsafe { libc::kill(-pgid, sig) == 0 }
}

/// The state letter of `/proc/<pid>/stat` (`R`, `S`, `T` stopped, `Z` …).
pub(super) fn proc_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may contain spaces: the state
    // is the first field after the last ')'.
    let after = stat.get(stat.rfind(')')? + 1..)?;
    after.split_whitespace().next()?.chars().next()
}

/// True once every pid is stopped (or gone), polling `/proc` until `timeout`:
/// SIGSTOP is asynchronous and the kernel offers no wait for "stopped" on a
/// child another thread already waits for.
pub(super) fn wait_stopped(pids: &[u32], timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        let all = pids.iter().all(|&p| matches!(proc_state(p), None | Some('T') | Some('t') | Some('Z') | Some('X')));
        if all || Instant::now() >= deadline {
            return all;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Peak resident set (`VmHWM`) of `pid` in kB.
pub(super) fn peak_rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_dangerous_groups() {
        assert!(!group(0, 0));
        assert!(!group(1, 0));
        assert!(!group(u32::MAX, 0));
    }

    #[test]
    fn reads_own_state_and_memory() {
        let me = std::process::id();
        assert!(matches!(proc_state(me), Some('R' | 'S')));
        assert!(peak_rss_kb(me).is_some_and(|kb| kb > 0));
        assert_eq!(proc_state(u32::MAX), None);
    }
}
