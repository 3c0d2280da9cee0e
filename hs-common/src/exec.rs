//! The chain's `execve`: PATH lookup like execvp, docker's exit codes for a
//! program that is missing (127) or cannot be executed (126), and the clean
//! hand-over to the user's program (no inherited fd but 0-2 survives).

use std::ffi::{CString, OsStr, OsString};
use std::os::fd::RawFd;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;

use nix::errno::Errno;

use crate::exit::{Failure, EXIT_CANNOT_EXEC, EXIT_NOT_FOUND};
use crate::{console, sync, trace};

/// PATH used when the environment has none (the same as runc's default).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Variables of the chain protocol: they mean something to hs tools only and
/// are removed from the user's program's environment.
const CHAIN_ENV: &[&str] = &[sync::SYNC_ENV, console::CONSOLE_ENV, console::SIZE_ENV];

/// True when `program` names one of the hs tools (then the chain fds are
/// passed on to it rather than closed).
pub fn is_hs_tool(program: &OsStr) -> bool {
    let name = Path::new(program).file_name().unwrap_or(program);
    crate::TOOLS.iter().any(|tool| OsStr::new(tool) == name)
}

/// Execs `argv` with this process's environment. Returns only on failure.
pub fn exec(argv: &[OsString]) -> Failure {
    let env: Vec<OsString> = std::env::vars_os()
        .map(|(key, value)| {
            let mut pair = key;
            pair.push("=");
            pair.push(value);
            pair
        })
        .collect();
    exec_with_env(argv, &env)
}

/// Execs `argv` with exactly `env` (`KEY=VALUE` strings); PATH is looked up
/// in `env`, as the program will see it. Returns only on failure.
///
/// When `argv[0]` is not an hs tool this is the final exec of the chain:
/// every inherited fd but 0-2 is closed, the handshake fd is marked
/// close-on-exec and the chain's variables are dropped from `env`.
pub fn exec_with_env(argv: &[OsString], env: &[OsString]) -> Failure {
    match Prepared::new(argv, env) {
        Ok(prepared) => prepared.failure(prepared.exec()),
        Err(failure) => failure,
    }
}

/// An [`exec_with_env`] worked out in full beforehand, so that
/// [`Prepared::exec`] only makes system calls: no allocation, no lock, no
/// formatting. That makes it safe in a child that shares its parent's
/// memory (clone with `CLONE_VM | CLONE_VFORK`, as posix_spawn does), where
/// a malloc would change the parent's heap under it.
pub struct Prepared {
    program: OsString,
    /// Kept alive for the pointer arrays below.
    _strings: (Vec<CString>, Vec<CString>),
    argv: Vec<*const libc::c_char>,
    env: Vec<*const libc::c_char>,
    candidates: Vec<CString>,
    /// The final exec of the chain (see [`exec_with_env`]).
    to_user: bool,
    /// The fd ranges to close before it: all of 3.. but the handshake fd.
    close: Vec<(u32, u32)>,
    sync_fd: Option<RawFd>,
}

/// Why [`Prepared::exec`] returned; `Copy`, to hand it from a vfork'd
/// child to its parent through shared memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecError {
    /// Closing the inherited fds failed.
    CloseFds(Errno),
    /// No candidate exists.
    NotFound,
    /// A candidate exists but may not be executed.
    Denied(Errno),
    /// execve failed otherwise (ENOEXEC, E2BIG, …).
    Failed(Errno),
}

impl ExecError {
    /// The exit code of a process that failed so (docker's: 127 not found,
    /// 126 not executable); computed without allocating, for a vfork'd
    /// child's `_exit`.
    pub fn code(self) -> i32 {
        match self {
            ExecError::CloseFds(_) => crate::EXIT_TOOL,
            ExecError::NotFound => EXIT_NOT_FOUND,
            ExecError::Denied(_) | ExecError::Failed(_) => EXIT_CANNOT_EXEC,
        }
    }
}

impl Prepared {
    /// Checks and converts everything the exec needs; logs it (HS_TRACE).
    pub fn new(argv: &[OsString], env: &[OsString]) -> Result<Self, Failure> {
        Self::with_sync_fd(argv, env, sync::inherited_fd())
    }

    /// [`Prepared::new`] for a child whose handshake fd is `sync_fd` rather
    /// than this process's own.
    pub fn with_sync_fd(
        argv: &[OsString],
        env: &[OsString],
        sync_fd: Option<RawFd>,
    ) -> Result<Self, Failure> {
        let Some(program) = argv.first() else {
            return Err(Failure::tool("no program to run"));
        };
        let to_user = !is_hs_tool(program);
        let env: Vec<&OsString> = env
            .iter()
            .filter(|pair| !(to_user && is_chain_var(pair)))
            .collect();
        let (Ok(c_argv), Ok(c_env)) = (to_cstrings(argv.iter()), to_cstrings(env.iter().copied()))
        else {
            return Err(Failure::tool(
                "an argument or environment entry contains a NUL byte",
            ));
        };
        let path_var = env
            .iter()
            .find_map(|pair| pair.as_bytes().strip_prefix(b"PATH="))
            .map(|p| OsStr::from_bytes(p).to_owned())
            .unwrap_or_else(|| DEFAULT_PATH.into());
        let candidates = candidates(program, &path_var)
            .into_iter()
            .filter_map(|candidate| CString::new(candidate.into_vec()).ok())
            .collect();
        trace::log(
            "exec",
            &argv
                .iter()
                .map(|a| a.to_string_lossy())
                .collect::<Vec<_>>()
                .join(" "),
        );
        Ok(Self {
            program: program.clone(),
            argv: null_terminated(&c_argv),
            env: null_terminated(&c_env),
            _strings: (c_argv, c_env),
            candidates,
            to_user,
            close: close_ranges(&sync_fd.into_iter().collect::<Vec<_>>()),
            sync_fd,
        })
    }

    /// Closes the inherited fds (for a user's program) and execs the first
    /// candidate that runs. Only system calls: see [`Prepared`].
    pub fn exec(&self) -> ExecError {
        if self.to_user {
            for &(first, last) in &self.close {
                // SAFETY: close_range only closes descriptors; nothing in
                // this process holds on to the ones it closes (they are
                // inherited leftovers).
                if unsafe { libc::syscall(libc::SYS_close_range, first, last, 0u32) } != 0 {
                    return ExecError::CloseFds(Errno::last());
                }
            }
            if let Some(fd) = self.sync_fd {
                // SAFETY: fcntl on an fd number; a bad one is EBADF.
                unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
            }
            reset_signals();
        }
        let mut denied = None;
        for candidate in &self.candidates {
            // SAFETY: the pointer arrays are null-terminated and point
            // into the CStrings this struct keeps alive.
            unsafe { libc::execve(candidate.as_ptr(), self.argv.as_ptr(), self.env.as_ptr()) };
            match Errno::last() {
                Errno::ENOENT | Errno::ENOTDIR => continue,
                errno @ (Errno::EACCES | Errno::EPERM | Errno::EISDIR) => denied = Some(errno),
                other => return ExecError::Failed(other),
            }
        }
        match denied {
            Some(errno) => ExecError::Denied(errno),
            None => ExecError::NotFound,
        }
    }

    /// The tool's failure for `error`, with docker's exit codes.
    pub fn failure(&self, error: ExecError) -> Failure {
        let shown = self.program.to_string_lossy();
        let message = match error {
            ExecError::CloseFds(errno) => format!(
                "closing inherited file descriptors: {}",
                std::io::Error::from(errno)
            ),
            ExecError::Failed(errno) => format!("exec {shown}: {}", errno.desc()),
            ExecError::Denied(errno) => {
                format!("exec {shown}: {}", errno.desc().to_lowercase())
            }
            ExecError::NotFound if shown.contains('/') => {
                format!("exec {shown}: no such file or directory")
            }
            ExecError::NotFound => format!("exec {shown}: executable file not found in $PATH"),
        };
        Failure::new(error.code(), message)
    }
}

fn null_terminated(strings: &[CString]) -> Vec<*const libc::c_char> {
    strings
        .iter()
        .map(|s| s.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect()
}

fn is_chain_var(pair: &OsStr) -> bool {
    let bytes = pair.as_bytes();
    CHAIN_ENV.iter().any(|var| {
        bytes.len() > var.len() && bytes.starts_with(var.as_bytes()) && bytes[var.len()] == b'='
    })
}

fn to_cstrings<'a>(items: impl Iterator<Item = &'a OsString>) -> Result<Vec<CString>, ()> {
    items
        .map(|item| CString::new(item.as_bytes()).map_err(|_| ()))
        .collect()
}

/// Where execvp would look for `program`, in order.
pub fn candidates(program: &OsStr, path_var: &OsStr) -> Vec<OsString> {
    if program.as_bytes().contains(&b'/') {
        return vec![program.to_owned()];
    }
    if program.is_empty() {
        return Vec::new();
    }
    path_var
        .as_bytes()
        .split(|&b| b == b':')
        .map(|dir| {
            // An empty PATH entry means the current directory, as in execvp.
            let dir = if dir.is_empty() { b".".as_slice() } else { dir };
            let mut full = OsStr::from_bytes(dir).to_owned();
            full.push("/");
            full.push(program);
            full
        })
        .collect()
}

/// Resolves `program` on `PATH` to an existing regular file, for callers
/// that need the path without exec'ing it.
pub fn which(program: &OsStr) -> Option<std::path::PathBuf> {
    let path_var = std::env::var_os("PATH").unwrap_or_else(|| DEFAULT_PATH.into());
    candidates(program, &path_var)
        .into_iter()
        .map(std::path::PathBuf::from)
        .find(|p| p.is_file())
}

/// Gives the user's program the signal state a shell would: nothing
/// blocked and SIGPIPE at its default. Both survive execve, Rust ignores
/// SIGPIPE at start-up, and a tool may have blocked signals it forwards: a
/// program exec'd with either would not die in a broken pipeline or would
/// be deaf to SIGINT/SIGTERM.
pub fn reset_signals() {
    // Raw libc calls: this runs in a vfork'd child too (see `Prepared`).
    // SAFETY: an empty set on the stack; restoring a default disposition
    // installs no handler.
    unsafe {
        let mut none: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut none);
        libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Runs `child` in a vfork-style child (`CLONE_VM | CLONE_VFORK`, what
/// posix_spawn does): on a stack of its own, in this process's memory,
/// while this process sleeps until the child execs or exits, so no page
/// table is copied and no page is faulted back in. `child` returns only
/// if it did not exec: why (`Copy`: it crosses back through the memory
/// they share) and the child's exit code. Returns the child's pid and
/// that failure, if any.
///
/// # Safety
///
/// Until it execs or returns, `child` may only make system calls on what
/// already exists (no allocation, no lock: see [`Prepared`]), and no
/// signal handler of this process may run in the child (none installed,
/// or its signals blocked).
pub unsafe fn vfork<E: Copy>(
    mut child: impl FnMut() -> (E, i32),
) -> nix::Result<(nix::unistd::Pid, Option<E>)> {
    let mut failed: Option<E> = None;
    let slot: *mut Option<E> = &mut failed;
    // Room for a handful of system calls; the child never grows a heap.
    let mut stack = vec![0u8; 64 * 1024];
    let start = Box::new(|| -> isize {
        let (error, code) = child();
        // SAFETY: CLONE_VM: this is the parent's variable, and the parent
        // sleeps until this child exits (CLONE_VFORK).
        unsafe { slot.write_volatile(Some(error)) };
        code as isize
    });
    // SAFETY: the child runs on its own stack, and the caller vouches for
    // what it does before its exec; CLONE_VFORK keeps this process
    // suspended meanwhile, so the memory they share is never used by both.
    let pid = unsafe {
        nix::sched::clone(
            start,
            &mut stack,
            nix::sched::CloneFlags::CLONE_VM | nix::sched::CloneFlags::CLONE_VFORK,
            Some(libc::SIGCHLD),
        )
    }?;
    // SAFETY: the child has exec'd or exited: nothing writes it any more.
    Ok((pid, unsafe { std::ptr::read_volatile(&failed) }))
}

/// Closes every fd >= 3 except those in `keep` (close_range(2)), so no host
/// fd leaks into the container (runc CVE-2024-21626).
pub fn close_inherited_fds(keep: &[RawFd]) -> std::io::Result<()> {
    for (first, last) in close_ranges(keep) {
        close_range(first, last)?;
    }
    Ok(())
}

/// The ranges of fds >= 3 that are not in `keep`, for close_range(2).
fn close_ranges(keep: &[RawFd]) -> Vec<(u32, u32)> {
    let mut keep: Vec<u32> = keep
        .iter()
        .filter(|&&fd| fd >= 3)
        .map(|&fd| fd as u32)
        .collect();
    keep.sort_unstable();
    keep.dedup();
    let mut ranges = Vec::new();
    let mut first = 3u32;
    for fd in keep {
        if fd > first {
            ranges.push((first, fd - 1));
        }
        first = fd + 1;
    }
    ranges.push((first, u32::MAX));
    ranges
}

fn close_range(first: u32, last: u32) -> std::io::Result<()> {
    // SAFETY: close_range only closes descriptors; nothing in this process
    // holds on to the ones it closes (they are inherited leftovers).
    let rc = unsafe { libc::syscall(libc::SYS_close_range, first, last, 0u32) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_lookup_tries_each_dir_in_order() {
        let found = candidates(OsStr::new("sh"), OsStr::new("/a:/b"));
        assert_eq!(
            found,
            vec![OsString::from("/a/sh"), OsString::from("/b/sh")]
        );
    }

    #[test]
    fn a_slash_skips_path_lookup() {
        let found = candidates(OsStr::new("./x"), OsStr::new("/a"));
        assert_eq!(found, vec![OsString::from("./x")]);
    }

    #[test]
    fn hs_tools_are_recognised_by_basename() {
        assert!(is_hs_tool(OsStr::new("/usr/bin/hs-unshare")));
        assert!(is_hs_tool(OsStr::new("hs")));
        assert!(!is_hs_tool(OsStr::new("/bin/sh")));
        assert!(!is_hs_tool(OsStr::new("hs-foo")));
    }

    #[test]
    fn chain_variables_are_recognised_exactly() {
        assert!(is_chain_var(OsStr::new("HS_SYNC_FD=3")));
        assert!(!is_chain_var(OsStr::new("HS_SYNC_FD_X=3")));
        assert!(!is_chain_var(OsStr::new("PATH=/bin")));
    }
}
