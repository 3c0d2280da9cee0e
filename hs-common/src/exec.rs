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
    let Some(program) = argv.first() else {
        return Failure::tool("no program to run");
    };
    let to_user = !is_hs_tool(program);
    let env: Vec<&OsString> = env
        .iter()
        .filter(|pair| !(to_user && is_chain_var(pair)))
        .collect();
    let (Ok(c_argv), Ok(c_env)) = (to_cstrings(argv.iter()), to_cstrings(env.iter().copied()))
    else {
        return Failure::tool("an argument or environment entry contains a NUL byte");
    };
    let path_var = env
        .iter()
        .find_map(|pair| pair.as_bytes().strip_prefix(b"PATH="))
        .map(|p| OsStr::from_bytes(p).to_owned())
        .unwrap_or_else(|| DEFAULT_PATH.into());

    trace::log(
        "exec",
        &argv
            .iter()
            .map(|a| a.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" "),
    );
    if to_user {
        if let Err(e) = close_inherited_fds(&sync::inherited_fd().into_iter().collect::<Vec<_>>()) {
            return Failure::tool(format!("closing inherited file descriptors: {e}"));
        }
        sync::close_on_exec();
        reset_signals();
    }

    let mut denied = None;
    for candidate in candidates(program, &path_var) {
        let Ok(c_path) = CString::new(candidate.into_vec()) else {
            continue;
        };
        let errno = match nix::unistd::execve(&c_path, &c_argv, &c_env) {
            Err(errno) => errno,
            Ok(never) => match never {},
        };
        match errno {
            Errno::ENOENT | Errno::ENOTDIR => continue,
            Errno::EACCES | Errno::EPERM | Errno::EISDIR => denied = Some(errno),
            other => {
                return Failure::new(
                    EXIT_CANNOT_EXEC,
                    format!("exec {}: {}", program.to_string_lossy(), other.desc()),
                )
            }
        }
    }
    let shown = program.to_string_lossy();
    match denied {
        Some(errno) => Failure::new(
            EXIT_CANNOT_EXEC,
            format!("exec {shown}: {}", errno.desc().to_lowercase()),
        ),
        None if shown.contains('/') => Failure::new(
            EXIT_NOT_FOUND,
            format!("exec {shown}: no such file or directory"),
        ),
        None => Failure::new(
            EXIT_NOT_FOUND,
            format!("exec {shown}: executable file not found in $PATH"),
        ),
    }
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
fn reset_signals() {
    use nix::sys::signal::{signal, sigprocmask, SigHandler, SigSet, SigmaskHow, Signal};
    let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
    // SAFETY: restoring a default disposition installs no handler.
    let _ = unsafe { signal(Signal::SIGPIPE, SigHandler::SigDfl) };
}

/// Closes every fd >= 3 except those in `keep` (close_range(2)), so no host
/// fd leaks into the container (runc CVE-2024-21626).
pub fn close_inherited_fds(keep: &[RawFd]) -> std::io::Result<()> {
    let mut keep: Vec<u32> = keep
        .iter()
        .filter(|&&fd| fd >= 3)
        .map(|&fd| fd as u32)
        .collect();
    keep.sort_unstable();
    keep.dedup();
    let mut first = 3u32;
    for fd in keep {
        if fd > first {
            close_range(first, fd - 1)?;
        }
        first = fd + 1;
    }
    close_range(first, u32::MAX)
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
