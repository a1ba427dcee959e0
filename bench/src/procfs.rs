//! What `/proc` says about an extension process: CPU time (`utime + stime`
//! of `/proc/<pid>/stat`, all threads). Read while the process is frozen
//! (SIGSTOP), so the figure cannot move under us. Parsing is pure and
//! tested; reading never fails loudly (a vanished process is `None`).

use std::time::Duration;

/// `/proc` reports CPU time in clock ticks of `USER_HZ`, which the kernel
/// fixes at 100 on every architecture Lambda runs (x86_64, arm64); it is
/// the `sysconf(_SC_CLK_TCK)` value, so no libc call is needed for it.
pub const TICKS_PER_SECOND: u64 = 100;

/// One tick: the resolution of every CPU figure (10 ms).
pub const TICK: Duration = Duration::from_millis(1000 / TICKS_PER_SECOND);

/// `utime + stime` in ticks from the text of `/proc/<pid>/stat`. The
/// command name is in parentheses and may hold spaces, so fields are
/// counted after the last `)`: state is the first, utime the 12th.
pub fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let after = stat.get(stat.rfind(')')? + 1..)?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// CPU ticks used so far by `pid` (every thread, user + system).
pub fn cpu_ticks(pid: u32) -> Option<u64> {
    parse_cpu_ticks(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// Ticks as time.
pub fn ticks_to_duration(ticks: u64) -> Duration {
    TICK.saturating_mul(u32::try_from(ticks).unwrap_or(u32::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(stat: &str, expected: Option<u64>) {
        assert_eq!(parse_cpu_ticks(stat), expected, "{stat:?}");
    }

    #[test]
    fn parses_stat_lines() {
        check("42 (floor) S 1 42 42 0 -1 4194560 100 0 0 0 7 3 0 0 20 0 3 0", Some(10));
        // A name with spaces and parentheses does not shift the fields.
        check("42 (a) b (c) R 1 42 42 0 -1 0 0 0 0 0 12 5 0 0", Some(17));
        check("42 (short) S 1 2", None);
        check("no parenthesis", None);
        check("42 (x) S 1 42 42 0 -1 0 0 0 0 0 u 5", None);
    }

    #[test]
    fn reads_itself() {
        assert!(cpu_ticks(std::process::id()).is_some());
        assert_eq!(cpu_ticks(u32::MAX), None);
        assert_eq!(ticks_to_duration(3), Duration::from_millis(30));
    }
}
