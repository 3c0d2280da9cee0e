//! The few filesystem operations cgroup code performs, behind a trait so
//! the v2 code can be unit-tested against a fake cgroupfs that enforces the
//! kernel's rules (see `fake.rs`), and run for real through [`HostFs`].

use std::io;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub trait Fs {
    fn read(&self, path: &Path) -> io::Result<String>;
    /// Writes `value` to an existing control file (cgroupfs never creates).
    fn write(&self, path: &Path, value: &str) -> io::Result<()>;
    fn mkdir(&self, path: &Path) -> io::Result<()>;
    fn rmdir(&self, path: &Path) -> io::Result<()>;
    fn exists(&self, path: &Path) -> bool;
    /// The child cgroup directories of `dir`.
    fn subdirs(&self, dir: &Path) -> io::Result<Vec<PathBuf>>;
    /// Blocks until the kernel reports a change of the event file `path`
    /// (POLLPRI on `cgroup.events`) or `timeout` passes.
    fn wait_event(&self, path: &Path, timeout: Duration);
}

pub use hs_common::proc::read_pseudo;

/// The real cgroup filesystems.
pub struct HostFs;

impl Fs for HostFs {
    fn read(&self, path: &Path) -> io::Result<String> {
        read_pseudo(path, 512)
    }

    fn write(&self, path: &Path, value: &str) -> io::Result<()> {
        use std::io::Write;
        // One write(2) of the whole value: cgroupfs parses each write alone.
        let mut file = std::fs::OpenOptions::new().write(true).open(path)?;
        file.write_all(value.as_bytes())
    }

    fn mkdir(&self, path: &Path) -> io::Result<()> {
        std::fs::create_dir(path)
    }

    fn rmdir(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_dir(path)
    }

    fn exists(&self, path: &Path) -> bool {
        path.exists()
    }

    fn subdirs(&self, dir: &Path) -> io::Result<Vec<PathBuf>> {
        let mut dirs = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            if entry.file_type()?.is_dir() {
                dirs.push(entry.path());
            }
        }
        Ok(dirs)
    }

    fn wait_event(&self, path: &Path, timeout: Duration) {
        use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
        let Ok(file) = std::fs::File::open(path) else {
            std::thread::sleep(timeout.min(Duration::from_millis(10)));
            return;
        };
        // The kernel signals a changed cgroup.events as POLLPRI; the first
        // poll after open reports the current state, so read it once first.
        let _ = std::io::Read::read(&mut &file, &mut [0u8; 256]);
        let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
        let mut fds = [PollFd::new(file.as_fd(), PollFlags::POLLPRI)];
        let _ = poll(
            &mut fds,
            PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX),
        );
    }
}
