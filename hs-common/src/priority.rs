//! Background work at idle priority: what runs after a container ended
//! (its on-exit cleanup) should not take the CPU from what a user waits
//! for, such as the foreground `hs run` still finishing, or the next run.

/// Moves the calling process, and what it starts from now on, to
/// `SCHED_IDLE`, or back to the normal policy. Best effort: a refusal
/// only costs speed.
pub fn set_idle(idle: bool) {
    let policy = if idle {
        libc::SCHED_IDLE
    } else {
        libc::SCHED_OTHER
    };
    // The kernel's sched_param is one int. The raw system call, because
    // musl's sched_setscheduler() is a stub that always fails (ENOSYS).
    let priority: libc::c_int = 0;
    // SAFETY: a plain system call on this process with a valid parameter.
    unsafe { libc::syscall(libc::SYS_sched_setscheduler, 0, policy, &priority) };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> i32 {
        // SAFETY: a plain system call on this process (raw: musl's
        // sched_getscheduler() is a stub too).
        unsafe { libc::syscall(libc::SYS_sched_getscheduler, 0) as i32 }
    }

    #[test]
    fn idle_and_back() {
        // A thread of its own: the policy is per thread, and the test
        // harness's other threads must not run idle.
        std::thread::spawn(|| {
            set_idle(true);
            assert_eq!(policy(), libc::SCHED_IDLE);
            set_idle(false);
            assert_eq!(policy(), libc::SCHED_OTHER);
        })
        .join()
        .unwrap();
    }
}
