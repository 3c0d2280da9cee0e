//! Walking a cgroup's subtree, the same in both versions: the processes in
//! it, and removing it children first.

use std::io::ErrorKind;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::cgroup::parse_pids;
use crate::fs::Fs;
use crate::Error;

/// Every pid in `dir` and below; a missing cgroup has none.
pub fn procs_below(fs: &dyn Fs, dir: &Path) -> Result<Vec<i32>, Error> {
    let path = dir.join("cgroup.procs");
    let mut pids = match fs.read(&path) {
        Ok(text) => parse_pids(&text),
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io("reading", &path, e)),
    };
    for child in subdirs(fs, dir)? {
        pids.extend(procs_below(fs, &child)?);
    }
    Ok(pids)
}

fn subdirs(fs: &dyn Fs, dir: &Path) -> Result<Vec<std::path::PathBuf>, Error> {
    match fs.subdirs(dir) {
        Ok(dirs) => Ok(dirs),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(Error::io("listing", dir, e)),
    }
}

/// Removes `dir` and the cgroups below it, deepest first. Missing is done;
/// busy (a process still exiting) is retried until `deadline`.
pub fn remove(fs: &dyn Fs, dir: &Path, deadline: Instant) -> Result<(), Error> {
    for child in subdirs(fs, dir)? {
        remove(fs, &child, deadline)?;
    }
    loop {
        match fs.rmdir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(2));
            }
            Err(e) => return Err(Error::io("removing", dir, e)),
        }
    }
}
