//! `--info-fd FD`: a tool's one JSON report to whoever ran it, and the
//! parsing of fd numbers handed down through the environment.

use std::io::Write;
use std::os::fd::{FromRawFd, RawFd};

use nix::fcntl::{fcntl, FcntlArg};
use serde::Serialize;

use crate::exit::Failure;

/// Writes `value` as one JSON line to `fd` and closes it, so the reader
/// sees EOF right after the report.
pub fn write_info<T: Serialize>(fd: RawFd, value: &T) -> Result<(), Failure> {
    if !is_open(fd) {
        return Err(Failure::tool(format!(
            "--info-fd {fd}: not an open file descriptor"
        )));
    }
    // SAFETY: the fd was handed to us for exactly this report; we own it from here.
    let mut file = unsafe { std::fs::File::from_raw_fd(fd) };
    let mut line = serde_json::to_vec(value).map_err(Failure::tool)?;
    line.push(b'\n');
    file.write_all(&line)
        .map_err(|e| Failure::tool(format!("writing to --info-fd {fd}: {e}")))
}

/// Checks up front that an `--info-fd` names an open fd, so a bad one fails
/// before the tool does anything.
pub fn check_fd(fd: RawFd) -> Result<(), Failure> {
    check_option_fd("--info-fd", fd)
}

/// [`check_fd`] for any option that names an inherited fd.
pub fn check_option_fd(option: &str, fd: RawFd) -> Result<(), Failure> {
    if is_open(fd) {
        Ok(())
    } else {
        Err(Failure::tool(format!(
            "{option} {fd}: not an open file descriptor"
        )))
    }
}

/// True when `fd` is an open file descriptor of this process.
pub fn is_open(fd: RawFd) -> bool {
    fd >= 0 && fcntl(fd, FcntlArg::F_GETFD).is_ok()
}

/// The fd named by environment variable `name`, when it holds a number that
/// is an open fd of this process.
pub fn fd_from_env(name: &str) -> Option<RawFd> {
    let fd: RawFd = std::env::var(name).ok()?.trim().parse().ok()?;
    is_open(fd).then_some(fd)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::os::fd::IntoRawFd;

    #[test]
    fn info_is_one_json_line_then_eof() {
        let (read, write) = nix::unistd::pipe().unwrap();
        write_info(write.into_raw_fd(), &serde_json::json!({"pid": 7})).unwrap();
        let mut text = String::new();
        std::fs::File::from(read).read_to_string(&mut text).unwrap();
        assert_eq!(text, "{\"pid\":7}\n");
    }

    #[test]
    fn closed_fd_is_refused() {
        assert_eq!(check_fd(987_654).unwrap_err().code, 125);
    }
}
