//! Namespaces: parsing `--ns LIST`, creating them (`unshare(2)` plus the
//! per-namespace first steps), and the identity checks `--root` and
//! `--join` rely on.

use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;

use nix::sched::CloneFlags;

use crate::error::{io, sys, Error, Result};

/// The namespaces hs-unshare knows, in the order `--join` enters them: the
/// mount namespace last, because entering it changes what paths mean.
pub const KINDS: [Kind; 6] = [
    Kind::Cgroup,
    Kind::Ipc,
    Kind::Uts,
    Kind::Net,
    Kind::Pid,
    Kind::Mnt,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Mnt,
    Pid,
    Uts,
    Ipc,
    Net,
    Cgroup,
}

impl Kind {
    /// The name used by `--ns` and in /proc/PID/ns/.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Mnt => "mnt",
            Kind::Pid => "pid",
            Kind::Uts => "uts",
            Kind::Ipc => "ipc",
            Kind::Net => "net",
            Kind::Cgroup => "cgroup",
        }
    }

    pub fn flag(self) -> CloneFlags {
        match self {
            Kind::Mnt => CloneFlags::CLONE_NEWNS,
            Kind::Pid => CloneFlags::CLONE_NEWPID,
            Kind::Uts => CloneFlags::CLONE_NEWUTS,
            Kind::Ipc => CloneFlags::CLONE_NEWIPC,
            Kind::Net => CloneFlags::CLONE_NEWNET,
            Kind::Cgroup => CloneFlags::CLONE_NEWCGROUP,
        }
    }
}

/// A set of namespaces, as given to `--ns`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Namespaces(CloneFlags);

impl Default for Namespaces {
    fn default() -> Self {
        Self(CloneFlags::empty())
    }
}

impl Namespaces {
    /// Every namespace hs-unshare knows (the default set `--join` enters).
    pub fn all() -> Self {
        Self(KINDS.iter().fold(CloneFlags::empty(), |f, k| f | k.flag()))
    }

    /// Parses `mnt,pid,uts,…`; `mount` and `network` are accepted as the
    /// util-linux spellings.
    pub fn parse(list: &str) -> Result<Self> {
        let mut flags = CloneFlags::empty();
        for word in list.split(',').map(str::trim) {
            let kind = match word {
                "mnt" | "mount" => Kind::Mnt,
                "pid" => Kind::Pid,
                "uts" => Kind::Uts,
                "ipc" => Kind::Ipc,
                "net" | "network" => Kind::Net,
                "cgroup" => Kind::Cgroup,
                _ => return Err(Error::BadNamespace(list.to_string())),
            };
            flags |= kind.flag();
        }
        Ok(Self(flags))
    }

    pub fn has(self, kind: Kind) -> bool {
        self.0.contains(kind.flag())
    }

    pub fn names(self) -> Vec<&'static str> {
        KINDS
            .iter()
            .filter(|k| self.has(**k))
            .map(|k| k.name())
            .collect()
    }
}

/// Creates the namespaces and does what each needs first: with mnt, `/`
/// becomes recursively private before anything is mounted, so no mount
/// ever propagates back to the host; with uts, the hostname; with net, `lo`
/// comes up. A new pid namespace only applies to children: the caller forks.
pub fn create(namespaces: Namespaces, hostname: Option<&str>) -> Result<()> {
    crate::trace("unshare", &namespaces.names().join(","));
    nix::sched::unshare(namespaces.0)
        .map_err(sys(format!("unshare {}", namespaces.names().join(","))))?;
    if namespaces.has(Kind::Mnt) {
        make_private()?;
    }
    if let Some(name) = hostname {
        nix::unistd::sethostname(name).map_err(sys(format!("set hostname {name:?}")))?;
    }
    if namespaces.has(Kind::Net) {
        loopback_up()?;
    }
    Ok(())
}

/// `mount --make-rprivate /`.
pub fn make_private() -> Result<()> {
    hs_common::mount_ns::make_private().map_err(sys("make / recursively private"))
}

/// `ip link set lo up`, with the ioctls `ifconfig` uses.
fn loopback_up() -> Result<()> {
    let socket = nix::sys::socket::socket(
        nix::sys::socket::AddressFamily::Inet,
        nix::sys::socket::SockType::Datagram,
        nix::sys::socket::SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(sys("bring lo up: socket"))?;
    // SAFETY: ifreq is plain data; the ioctls read and write only it.
    let mut request: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in request.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    let fd = socket.as_raw_fd();
    if unsafe { libc::ioctl(fd, libc::SIOCGIFFLAGS as _, &mut request) } < 0 {
        return Err(sys("bring lo up: get flags")(nix::errno::Errno::last()));
    }
    unsafe {
        request.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
    }
    if unsafe { libc::ioctl(fd, libc::SIOCSIFFLAGS as _, &request) } < 0 {
        return Err(sys("bring lo up: set flags")(nix::errno::Errno::last()));
    }
    Ok(())
}

/// The inode number the kernel gives the initial mount namespace
/// (PROC_MNT_INIT_INO).
const INITIAL_MNT_NS_INO: u64 = 0xEFFF_FFF8;

/// True when this process is in the host's initial mount namespace, where
/// pivot_root would move the whole host: it shares the mount namespace of
/// PID 1 (as the mounted /proc shows it), or, where PID 1's namespace
/// cannot be read (a hardened PID 1 refuses it even to root), has the
/// kernel's fixed inode of the initial mount namespace.
pub fn in_initial_mount_ns() -> Result<bool> {
    let own = std::fs::metadata("/proc/self/ns/mnt").map_err(io("stat /proc/self/ns/mnt"))?;
    if own.ino() == INITIAL_MNT_NS_INO {
        return Ok(true);
    }
    match std::fs::metadata("/proc/1/ns/mnt") {
        Ok(init) => Ok(own.ino() == init.ino() && own.dev() == init.dev()),
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => Ok(false),
        Err(e) => Err(io("stat /proc/1/ns/mnt")(e)),
    }
}

/// Enters the `wanted` namespaces of `pid` with one setns(2) on a pidfd
/// (Linux 5.8): no /proc/PID/ns file is looked up, stat'ed or opened, and
/// the kernel switches them all at once or not at all. One this process
/// already shares is entered again, which changes nothing. Ok(false) when
/// the kernel cannot (EINVAL before 5.8): nothing was entered, and the
/// caller goes through the files ([`open_foreign`], [`enter`]).
pub fn enter_all(pid: i32, wanted: Namespaces) -> Result<bool> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
    let raw = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if raw < 0 {
        return match nix::errno::Errno::last() {
            nix::errno::Errno::ESRCH => Err(Error::NoSuchProcess(pid)),
            nix::errno::Errno::ENOSYS => Ok(false),
            errno => Err(sys(format!("pidfd_open {pid}"))(errno)),
        };
    }
    // SAFETY: pidfd_open just returned this fd, owned by nothing else.
    let pidfd = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(raw as i32) };
    crate::trace(
        "setns",
        &format!("{} of pid {pid} (pidfd)", wanted.names().join(",")),
    );
    match nix::sched::setns(&pidfd, wanted.0) {
        Ok(()) => Ok(true),
        Err(nix::errno::Errno::EINVAL) => Ok(false),
        Err(nix::errno::Errno::ESRCH) => Err(Error::NoSuchProcess(pid)),
        Err(errno) => Err(sys(format!("setns {}", wanted.names().join(",")))(errno)),
    }
}

/// The namespace files of `pid` this process is not in yet, opened before
/// entering any of them (entering the mount namespace changes what
/// /proc/PID means).
pub fn open_foreign(pid: i32, wanted: Namespaces) -> Result<Vec<(Kind, OwnedFd)>> {
    let mut opened = Vec::new();
    for kind in KINDS.iter().copied().filter(|k| wanted.has(*k)) {
        let theirs = format!("/proc/{pid}/ns/{}", kind.name());
        let their_meta = match std::fs::metadata(&theirs) {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::NoSuchProcess(pid))
            }
            Err(e) => return Err(io(format!("stat {theirs}"))(e)),
        };
        let own = format!("/proc/self/ns/{}", kind.name());
        let own_meta = std::fs::metadata(&own).map_err(io(format!("stat {own}")))?;
        if own_meta.ino() == their_meta.ino() && own_meta.dev() == their_meta.dev() {
            continue;
        }
        let file = std::fs::File::open(&theirs).map_err(io(format!("open {theirs}")))?;
        opened.push((kind, OwnedFd::from(file)));
    }
    Ok(opened)
}

/// Enters each opened namespace, in the order given.
pub fn enter(opened: &[(Kind, OwnedFd)]) -> Result<()> {
    for (kind, fd) in opened {
        crate::trace("setns", kind.name());
        nix::sched::setns(fd, kind.flag()).map_err(sys(format!("setns {}", kind.name())))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_known_name() {
        let ns = Namespaces::parse("mnt,pid,uts,ipc,net,cgroup").unwrap();
        assert_eq!(ns, Namespaces::all());
        assert_eq!(
            ns.names(),
            vec!["cgroup", "ipc", "uts", "net", "pid", "mnt"]
        );
    }

    #[test]
    fn util_linux_spellings_are_accepted() {
        let ns = Namespaces::parse("mount,network").unwrap();
        assert!(ns.has(Kind::Mnt) && ns.has(Kind::Net) && !ns.has(Kind::Pid));
    }

    #[test]
    fn unknown_or_empty_names_are_refused() {
        assert!(matches!(
            Namespaces::parse("mnt,user"),
            Err(Error::BadNamespace(_))
        ));
        assert!(Namespaces::parse("").is_err());
        assert!(Namespaces::parse("mnt,,pid").is_err());
    }
}
