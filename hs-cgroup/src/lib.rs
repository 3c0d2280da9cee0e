//! hs-cgroup: create a cgroup in every hierarchy, set limits, move into it
//! and chain; stats, procs, kill, freeze, thaw, rm.
//!
//! `layout` finds the hierarchies (legacy v1, hybrid, unified v2) and the
//! caller's place in them; `limits` parses docker's flags; `cgroup` is the
//! one trait for what a cgroup in one hierarchy can do, implemented by
//! `v1` and `v2`; `group` spans the hierarchies of one container's cgroup;
//! `plan` is the ordered list of operations that creates and joins it.

pub mod cgroup;
pub mod fs;
pub mod group;
pub mod layout;
pub mod limits;
pub mod plan;
mod tree;
pub mod v1;
pub mod v2;

#[cfg(test)]
mod fake;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use group::Group;
pub use layout::{Hierarchy, Layout};
pub use limits::{LimitArgs, Limits};

/// The default `--parent` (`HS_CGROUP_PARENT` overrides it).
pub const DEFAULT_PARENT: &str = "/hs";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Limit(#[from] limits::LimitError),
    #[error("{op} {}: {}", path.display(), why(source))]
    Io {
        op: String,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("this cgroup was created without a {0} limit, so it has no {0} directory to set one in (create it with the limit)")]
    NotCreatedWith(String),
    #[error("no cgroup hierarchy hs-cgroup can use is mounted")]
    NoHierarchies,
    #[error("{}: not a cgroup directory below a mounted cgroup hierarchy", .0.display())]
    NotACgroup(PathBuf),
    #[error("bad cgroup name {0:?}: it must be one path component, not . or ..")]
    BadName(String),
    #[error("bad cgroup parent {0:?}: . and .. are not allowed")]
    BadParent(String),
    #[error("the {controller} controller is not available in {}", dir.display())]
    ControllerMissing { controller: String, dir: PathBuf },
    #[error("no such cgroup: {}", .0.display())]
    NoSuchCgroup(PathBuf),
    #[error("{}: processes are still running in it", .0.display())]
    NotEmpty(PathBuf),
    #[error("{}: did not freeze or thaw in time", .0.display())]
    FreezeTimeout(PathBuf),
    #[error("this cgroup cannot be frozen: no freezer hierarchy and no cgroup.freeze")]
    NoFreezer,
    #[error("bad signal {0:?}")]
    BadSignal(String),
    #[error("give either --name or --path, not both")]
    BothAddresses,
    #[error("missing --name (or --path)")]
    NoAddress,
}

impl Error {
    pub fn io(op: &str, path: &Path, source: std::io::Error) -> Self {
        Error::Io {
            op: op.to_string(),
            path: path.to_path_buf(),
            source,
        }
    }
}

/// An io error's reason in the tools' style: lowercase, without the
/// "(os error N)" tail.
fn why(e: &std::io::Error) -> String {
    let text = match e.raw_os_error() {
        Some(code) => nix::errno::Errno::from_raw(code).desc().to_string(),
        None => e.to_string(),
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => text,
    }
}

/// How a command names its cgroup: `--parent P --name N`, or the recorded
/// absolute directories (`--path DIR`, repeatable).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    Named { parent: String, name: String },
    Paths(Vec<PathBuf>),
}

impl Address {
    /// From the command line's `--parent`, `--name` and `--path` values.
    pub fn new(parent: &str, name: Option<&str>, paths: &[PathBuf]) -> Result<Self, Error> {
        match (name, paths.is_empty()) {
            (Some(_), false) => Err(Error::BothAddresses),
            (None, true) => Err(Error::NoAddress),
            (None, false) => Ok(Address::Paths(paths.to_vec())),
            (Some(name), true) => {
                layout::check_name(name)?;
                layout::check_parent(parent)?;
                Ok(Address::Named {
                    parent: parent.to_string(),
                    name: name.to_string(),
                })
            }
        }
    }
}

/// The container cgroup `address` names on this machine.
pub fn open(address: &Address) -> Result<Group, Error> {
    let all = layout::hierarchies()?;
    let targets = match address {
        Address::Named { parent, name } => layout::resolve_named(&all, parent, name),
        Address::Paths(paths) => layout::resolve_paths(&all, paths)?,
    };
    Ok(Group::new(targets, &all, Arc::new(fs::HostFs)))
}

/// Parses a signal given as `KILL`, `SIGKILL`, `kill` or `9`.
pub fn parse_signal(text: &str) -> Result<nix::sys::signal::Signal, Error> {
    use std::str::FromStr;
    let bad = || Error::BadSignal(text.to_string());
    if let Ok(n) = text.parse::<i32>() {
        return nix::sys::signal::Signal::try_from(n).map_err(|_| bad());
    }
    let upper = text.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    nix::sys::signal::Signal::from_str(&name).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_parse_by_name_or_number() {
        use nix::sys::signal::Signal;
        assert_eq!(parse_signal("KILL").unwrap(), Signal::SIGKILL);
        assert_eq!(parse_signal("sigterm").unwrap(), Signal::SIGTERM);
        assert_eq!(parse_signal("9").unwrap(), Signal::SIGKILL);
        assert!(parse_signal("NOPE").is_err());
        assert!(parse_signal("99").is_err());
    }

    #[test]
    fn an_address_is_a_name_or_paths_never_both() {
        let paths = [PathBuf::from("/sys/fs/cgroup/unified/x")];
        assert!(Address::new("/hs", Some("a"), &paths).is_err());
        assert!(Address::new("/hs", None, &[]).is_err());
        assert!(Address::new("/hs", Some("a/b"), &[]).is_err());
        assert_eq!(
            Address::new("/hs", None, &paths).unwrap(),
            Address::Paths(paths.to_vec())
        );
    }

    #[test]
    fn io_reasons_are_lowercase_without_the_errno_tail() {
        let e = std::io::Error::from_raw_os_error(libc::EBUSY);
        assert_eq!(why(&e), "device or resource busy");
    }
}
