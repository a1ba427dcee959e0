//! What `/proc` says about an extension process: CPU time, as the scheduler
//! counts it in nanoseconds (`/proc/<pid>/task/*/schedstat`, every live
//! thread) and as `utime + stime` ticks of `/proc/<pid>/stat` (every thread,
//! 10 ms resolution). Read while the process is frozen (SIGSTOP), so the
//! figures cannot move under us. Parsing is pure and tested; reading never
//! fails loudly (a vanished process is `None`).

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

/// The first field of a `schedstat` file: time spent on a CPU, nanoseconds.
pub fn parse_schedstat(text: &str) -> Option<u64> {
    text.split_whitespace().next()?.parse().ok()
}

/// The third field of a `schedstat` file: how many times the thread was put on a CPU (each
/// wake-up, and each return after a preemption).
pub fn parse_schedstat_runs(text: &str) -> Option<u64> {
    text.split_whitespace().nth(2)?.parse().ok()
}

/// Time on a CPU so far of every live thread of `pid`, from the scheduler's
/// nanosecond account. Exact where ticks are a sample: a thread is charged a
/// whole tick when it happens to run at one, so 200 invocations of well under
/// a millisecond each come to a handful of ticks. Threads that have exited
/// are not in it (take differences over spans where none exit).
pub fn cpu_time(pid: u32) -> Option<Duration> {
    sum_over_threads(pid, parse_schedstat).map(Duration::from_nanos)
}

/// How many times, so far, the live threads of `pid` were put on a CPU (see
/// [`parse_schedstat_runs`]). A frozen process's threads are each stopped and woken again by
/// every freeze, so this counts what threads cost beyond their instructions.
pub fn cpu_runs(pid: u32) -> Option<u64> {
    sum_over_threads(pid, parse_schedstat_runs)
}

/// One `schedstat` field summed over the live threads of `pid`.
fn sum_over_threads(pid: u32, field: fn(&str) -> Option<u64>) -> Option<u64> {
    let mut total = 0u64;
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let path = task.ok()?.path().join("schedstat");
        // A thread that ended between the listing and the read ran no more.
        if let Some(value) = std::fs::read_to_string(path).ok().as_deref().and_then(field) {
            total += value;
        }
    }
    Some(total)
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
    fn parses_schedstat() {
        assert_eq!(parse_schedstat("171320 0 1\n"), Some(171_320));
        assert_eq!(parse_schedstat(""), None);
        assert_eq!(parse_schedstat("x 1 2"), None);
        assert_eq!(parse_schedstat_runs("171320 0 17\n"), Some(17));
        assert_eq!(parse_schedstat_runs("171320 0"), None);
    }

    #[test]
    fn reads_itself() {
        let before = cpu_time(std::process::id()).expect("schedstat");
        let mut x = 0u64;
        for i in 0..2_000_000u64 {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
        }
        assert!(cpu_time(std::process::id()).expect("schedstat") > before, "{x}");
        assert_eq!(cpu_time(u32::MAX), None);
        assert!(cpu_ticks(std::process::id()).is_some());
        assert_eq!(cpu_ticks(u32::MAX), None);
        assert_eq!(ticks_to_duration(3), Duration::from_millis(30));
    }
}
