//! Thread scheduling: the sender thread runs at a lower priority (nice +10) than the rest of
//! the extension and than the user's function. Compressing and sending is the only CPU-heavy
//! work the extension does; it must never delay the function, nor the end-of-invocation
//! bookkeeping Lambda bills as post-runtime time. Raising one's own niceness needs no privilege.
// FFI to setpriority(2) and gettid(2), which std does not offer.
#![allow(unsafe_code)]

/// Niceness added to the calling thread by [`lower_this_thread`].
pub const SENDER_NICENESS: i32 = 10;

/// Lowers the calling thread's scheduling priority. Best effort: returns false if refused.
pub fn lower_this_thread() -> bool {
    // SAFETY: gettid takes no arguments and cannot fail.
    let tid = unsafe { libc::syscall(libc::SYS_gettid) };
    let Ok(tid) = libc::id_t::try_from(tid) else { return false };
    // SAFETY: plain syscall on this thread's own id; no memory is passed.
    unsafe { libc::setpriority(libc::PRIO_PROCESS, tid, SENDER_NICENESS) == 0 }
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_the_calling_thread_is_lowered() {
        let before = std::fs::read_to_string("/proc/thread-self/stat").expect("stat");
        let lowered = std::thread::spawn(|| {
            assert!(super::lower_this_thread());
            let stat = std::fs::read_to_string("/proc/thread-self/stat").expect("stat");
            nice_of(&stat)
        })
        .join()
        .expect("thread");
        assert_eq!(lowered, nice_of(&before) + super::SENDER_NICENESS);
        let after = std::fs::read_to_string("/proc/thread-self/stat").expect("stat");
        assert_eq!(nice_of(&after), nice_of(&before), "the caller's own priority is unchanged");
    }

    /// Field 19 of /proc/…/stat (after the `(comm)` field) is the nice value.
    fn nice_of(stat: &str) -> i32 {
        let rest = stat.rsplit(')').next().expect("comm");
        rest.split_whitespace().nth(16).and_then(|n| n.parse().ok()).expect("nice")
    }
}
