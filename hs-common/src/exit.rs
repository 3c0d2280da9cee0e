//! Exit codes (docker's) and the one place a tool's failure is printed.

use std::fmt::Display;

use nix::sys::wait::WaitStatus;

/// The tool itself failed (bad input, a syscall refused).
pub const EXIT_TOOL: i32 = 125;
/// PROG exists but cannot be executed.
pub const EXIT_CANNOT_EXEC: i32 = 126;
/// PROG was not found.
pub const EXIT_NOT_FOUND: i32 = 127;

/// A failure on its way to `main`: the message (without the `TOOL: error:`
/// prefix) and the exit code it ends the process with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub code: i32,
    pub message: String,
}

impl Failure {
    pub fn new(code: i32, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// A failure of the tool itself: exit 125.
    pub fn tool(message: impl Display) -> Self {
        Self::new(EXIT_TOOL, message.to_string())
    }
}

impl Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// Any library error becomes a tool failure (125) carrying its message, so
/// `?` works in mains on every typed error.
impl<E: std::error::Error> From<E> for Failure {
    fn from(err: E) -> Self {
        Self::tool(err)
    }
}

/// The exit code a shell would report for a child's wait status: its own
/// code, or 128+N when it died of signal N.
pub fn exit_code_from_status(status: WaitStatus) -> Option<i32> {
    match status {
        WaitStatus::Exited(_, code) => Some(code),
        WaitStatus::Signaled(_, signal, _) => Some(128 + signal as i32),
        _ => None,
    }
}

/// The same for a raw `wait(2)` status word.
pub fn exit_code_from_raw(raw: i32) -> i32 {
    if libc::WIFEXITED(raw) {
        libc::WEXITSTATUS(raw)
    } else if libc::WIFSIGNALED(raw) {
        128 + libc::WTERMSIG(raw)
    } else {
        EXIT_TOOL
    }
}

/// Runs a tool's main body: on failure tells `TOOL: error: MESSAGE` once
/// ([`report_failure`]: on `HS_SYNC_FD` in a chain, else on stderr) and
/// exits with the failure's code; on success exits with the returned code.
pub fn run_main(tool: &str, body: impl FnOnce() -> Result<i32, Failure>) -> ! {
    let code = match body() {
        Ok(code) => code,
        Err(failure) => {
            report_failure(tool, &failure);
            failure.code
        }
    };
    std::process::exit(code)
}

/// [`run_main`] for a tool whose `main.rs` is `#![no_main]` with a C
/// `main` that calls this (every hs tool, through [`tool_main`]).
///
/// Each step of the chain is a fresh process, and std's runtime start-up
/// costs ≈0.05 ms of it here: it reads /proc/self/maps to find the main
/// thread's stack guard, sets up an alternate signal stack and SIGSEGV and
/// SIGBUS handlers for its stack-overflow message, and asks for the CPU
/// affinity. Without them a stack overflow is a plain SIGSEGV. The two
/// parts a tool's behaviour depends on are kept: SIGPIPE is ignored (a
/// write to a closed pipe is an EPIPE error, not a silent death), and fds
/// 0-2 are opened on /dev/null when closed, so no file the tool opens
/// lands on a standard stream. The arguments are read through
/// [`crate::args`], which the C main fills.
pub fn run_bare_main(tool: &str, body: impl FnOnce() -> Result<i32, Failure>) -> ! {
    bare_start();
    run_main(tool, body)
}

/// A tool's `main` from its body, `fn() -> Result<i32, Failure>`: a C
/// `main` through [`run_bare_main`] (std's `main` through [`run_main`]
/// off Linux). The tool's main.rs starts with
/// `#![cfg_attr(all(not(test), target_os = "linux"), no_main)]`.
///
/// On musl it also makes dlmalloc the global allocator: musl's own
/// (mallocng) maps and unmaps a region for nearly every new size class, 70
/// mmap/munmap calls in one `hs run`, which cost more than musl's start-up
/// saves over glibc's.
#[macro_export]
macro_rules! tool_main {
    ($tool:literal, $body:path) => {
        #[cfg(all(not(test), target_os = "linux"))]
        #[no_mangle]
        extern "C" fn main(
            argc: ::std::ffi::c_int,
            argv: *const *const ::std::ffi::c_char,
        ) -> ::std::ffi::c_int {
            $crate::args::remember(argc, argv);
            $crate::run_bare_main($tool, $body)
        }

        #[cfg(not(target_os = "linux"))]
        fn main() {
            $crate::run_main($tool, $body)
        }

        #[cfg(target_env = "musl")]
        #[global_allocator]
        static ALLOCATOR: $crate::dlmalloc::GlobalDlmalloc = $crate::dlmalloc::GlobalDlmalloc;
    };
}

/// What std's start-up does that tools rely on (see [`run_bare_main`]).
fn bare_start() {
    // SAFETY: ignoring a signal installs no handler; poll and open only
    // touch the pollfd array and the path given.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
        let mut fds = [0, 1, 2].map(|fd| libc::pollfd {
            fd,
            events: 0,
            revents: 0,
        });
        if libc::poll(fds.as_mut_ptr(), 3, 0) < 0 {
            return;
        }
        for pollfd in fds {
            // Closed: the next open gets this very number.
            if pollfd.revents & libc::POLLNVAL != 0 {
                libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
            }
        }
    }
}

/// Tells a failure, as `TOOL: error: MESSAGE`: to the chain's caller on
/// the handshake when there is one, else on stderr.
pub fn report_failure(tool: &str, failure: &Failure) {
    let line = format!("{tool}: error: {}", failure.message);
    // In a chain the handshake carries the line to whoever started it
    // (hs-pty), which prints or reports it once. Written here too, it was
    // also the container's output: a second copy on an attached
    // terminal, and a line in the log of a program that never ran.
    if !crate::sync::report_failure(failure.code, &line) {
        crate::trace::write_line(&line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::signal::Signal;
    use nix::unistd::Pid;

    #[test]
    fn exited_status_is_its_own_code() {
        let status = WaitStatus::Exited(Pid::from_raw(1), 7);
        assert_eq!(exit_code_from_status(status), Some(7));
    }

    #[test]
    fn signaled_status_is_128_plus_signal() {
        let status = WaitStatus::Signaled(Pid::from_raw(1), Signal::SIGKILL, false);
        assert_eq!(exit_code_from_status(status), Some(137));
    }

    #[test]
    fn raw_status_decodes_exit_and_signal() {
        assert_eq!(exit_code_from_raw(3 << 8), 3);
        assert_eq!(exit_code_from_raw(libc::SIGINT), 130);
    }

    #[test]
    fn library_errors_become_tool_failures() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "gone");
        let failure: Failure = io.into();
        assert_eq!(failure.code, EXIT_TOOL);
        assert_eq!(failure.message, "gone");
    }
}
