//! One overlayfs mount. The new mount API (fsopen/fsconfig, Linux 5.2+)
//! takes one `lowerdir+` per layer (Linux 6.8+), so any number of layers
//! fits; the classic mount(2) data string is limited to one page (4 KiB),
//! which ~30 long layer paths already exceed. Kernels without `lowerdir+`
//! get the classic string when it fits.

use std::ffi::{CStr, CString};
use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::error::{describe, OverlayError, Result};

/// An overlay mount option, `KEY` or `KEY=VALUE` (e.g. `index=off`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountOption {
    pub key: String,
    pub value: Option<String>,
}

/// Keys the tool sets itself from its own flags.
const RESERVED_KEYS: &[&str] = &["lowerdir", "lowerdir+", "datadir+", "upperdir", "workdir"];

impl MountOption {
    pub fn parse(text: &str) -> Result<Self> {
        let bad = |why| OverlayError::BadArgument {
            flag: "--option",
            value: text.to_string(),
            why,
        };
        let (key, value) = match text.split_once('=') {
            Some((key, value)) => (key, Some(value.to_string())),
            None => (text, None),
        };
        if key.is_empty() || text.contains(',') || text.contains('\0') {
            return Err(bad("expected KEY or KEY=VALUE, one option per flag"));
        }
        if RESERVED_KEYS.contains(&key) {
            return Err(bad("layers are given with --lower, --upper and --work"));
        }
        Ok(Self {
            key: key.to_string(),
            value,
        })
    }

    pub fn new(key: &str, value: &str) -> Self {
        Self {
            key: key.to_string(),
            value: Some(value.to_string()),
        }
    }
}

impl fmt::Display for MountOption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.value {
            Some(value) => write!(f, "{}={value}", self.key),
            None => f.write_str(&self.key),
        }
    }
}

/// What one overlay is made of. Without upper/work it is read-only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverlaySpec {
    /// Top layer first, as in `lowerdir=`.
    pub lowers: Vec<PathBuf>,
    pub upper: Option<PathBuf>,
    pub work: Option<PathBuf>,
    pub options: Vec<MountOption>,
}

impl OverlaySpec {
    /// The classic `-o` string (also what the plan prints). `\`, `:` and
    /// `,` in paths are backslash-escaped, as overlayfs parses them.
    pub fn data(&self) -> Vec<u8> {
        let mut data = b"lowerdir=".to_vec();
        for (i, lower) in self.lowers.iter().enumerate() {
            if i > 0 {
                data.push(b':');
            }
            escape_into(&mut data, lower);
        }
        if let (Some(upper), Some(work)) = (&self.upper, &self.work) {
            data.extend_from_slice(b",upperdir=");
            escape_into(&mut data, upper);
            data.extend_from_slice(b",workdir=");
            escape_into(&mut data, work);
        }
        for option in &self.options {
            data.push(b',');
            data.extend_from_slice(option.to_string().as_bytes());
        }
        data
    }
}

fn escape_into(data: &mut Vec<u8>, path: &Path) {
    for &byte in path.as_os_str().as_bytes() {
        if matches!(byte, b'\\' | b':' | b',') {
            data.push(b'\\');
        }
        data.push(byte);
    }
}

/// The mount(2) data limit: one page including the NUL.
const DATA_LIMIT: usize = 4095;

/// Mounts `spec` on `target`: the superblock is created and mounted
/// detached (fsmount), then attached with one move_mount.
pub fn mount(spec: &OverlaySpec, target: &Path) -> Result<()> {
    attach(prepare(spec, target)?, spec, target)
}

/// An overlay made but not yet visible anywhere.
#[derive(Debug)]
pub enum Prepared {
    /// A detached mount (fsmount): attaching it is one move_mount.
    Detached(OwnedFd),
    /// This kernel lacks the new API for it: mount(2) at attach time.
    Classic,
}

/// Creates the overlay's superblock and a detached mount of it. This is
/// where the kernel spends its time (it checks the work dir with test
/// files), and it touches no mount table, so several overlays can be
/// prepared at once and attached in order afterwards. `target` is only
/// named in errors.
pub fn prepare(spec: &OverlaySpec, target: &Path) -> Result<Prepared> {
    if classic_forced() {
        return Ok(Prepared::Classic);
    }
    match detached_mount(spec, target) {
        Ok(mnt) => Ok(Prepared::Detached(mnt)),
        Err(Attempt::Unsupported) => Ok(Prepared::Classic),
        Err(Attempt::Failed(err)) => Err(err),
    }
}

/// Puts a prepared overlay on `target`.
pub fn attach(prepared: Prepared, spec: &OverlaySpec, target: &Path) -> Result<()> {
    match prepared {
        Prepared::Detached(mnt) => move_mount(&mnt, target),
        Prepared::Classic => mount_classic(spec, target),
    }
}

/// The variable that makes every overlay go through mount(2), as on a
/// kernel without the new API: to test and debug that path on any kernel.
pub const CLASSIC_ENV: &str = "HS_OVERLAY_CLASSIC_MOUNT";

fn classic_forced() -> bool {
    std::env::var_os(CLASSIC_ENV).is_some_and(|v| !v.is_empty() && v != "0")
}

enum Attempt {
    /// This kernel lacks fsopen or `lowerdir+`: try mount(2).
    Unsupported,
    Failed(OverlayError),
}

impl From<OverlayError> for Attempt {
    fn from(err: OverlayError) -> Self {
        Self::Failed(err)
    }
}

// uapi/linux/mount.h; libc does not export these for every target yet.
const FSOPEN_CLOEXEC: libc::c_uint = 1;
const FSCONFIG_SET_FLAG: libc::c_uint = 0;
const FSCONFIG_SET_STRING: libc::c_uint = 1;
const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
const FSMOUNT_CLOEXEC: libc::c_uint = 1;
/// fsconfig copies at most this many bytes of a string value.
const FSCONFIG_STRING_LIMIT: usize = 255;

fn detached_mount(spec: &OverlaySpec, target: &Path) -> Result<OwnedFd, Attempt> {
    // SAFETY: fsopen takes a NUL-terminated name and flags, returns an fd.
    let fs = unsafe { libc::syscall(libc::SYS_fsopen, c"overlay".as_ptr(), FSOPEN_CLOEXEC) };
    if fs < 0 {
        return match io::Error::last_os_error().raw_os_error() {
            // EPERM: a seccomp filter that predates the new mount API;
            // mount(2) then says whether we really may not mount.
            Some(libc::ENOSYS | libc::EPERM) => Err(Attempt::Unsupported),
            _ => Err(mount_error(target, &io::Error::last_os_error(), "").into()),
        };
    }
    // SAFETY: the kernel just returned this fd to us.
    let fs = unsafe { OwnedFd::from_raw_fd(fs as i32) };
    // Long paths go in as /proc/self/fd/N of an O_PATH fd held open until
    // the superblock is created.
    let mut held: Vec<OwnedFd> = Vec::new();
    // What mount(8) shows as the source; cosmetic, so a refusal is ignored.
    let _ = set_string(&fs, c"source", c"overlay");

    for (i, lower) in spec.lowers.iter().enumerate() {
        let value = path_value(lower, &mut held, target)?;
        if let Err(err) = set_string(&fs, c"lowerdir+", &value) {
            let messages = kernel_messages(&fs);
            if i == 0 && err.raw_os_error() == Some(libc::EINVAL) && messages.contains("nknown") {
                return Err(Attempt::Unsupported);
            }
            return Err(layer_error(target, "lower dir", lower, &err, &messages).into());
        }
    }
    if let (Some(upper), Some(work)) = (&spec.upper, &spec.work) {
        for (key, what, path) in [
            (c"upperdir", "upper dir", upper),
            (c"workdir", "work dir", work),
        ] {
            let value = path_value(path, &mut held, target)?;
            if let Err(err) = set_string(&fs, key, &value) {
                let messages = kernel_messages(&fs);
                return Err(layer_error(target, what, path, &err, &messages).into());
            }
        }
    }
    for option in &spec.options {
        let key = cstring(&option.key, target)?;
        let result = match &option.value {
            Some(value) => set_string(&fs, &key, &cstring(value, target)?),
            None => fsconfig(&fs, FSCONFIG_SET_FLAG, Some(&key), None),
        };
        if let Err(err) = result {
            let messages = kernel_messages(&fs);
            let detail = if messages.is_empty() {
                describe(&err)
            } else {
                messages
            };
            return Err(OverlayError::UnknownOption {
                option: option.to_string(),
                detail,
            }
            .into());
        }
    }
    if let Err(err) = fsconfig(&fs, FSCONFIG_CMD_CREATE, None, None) {
        let mut messages = kernel_messages(&fs);
        if messages.is_empty() {
            // overlayfs reports many refusals only with printk.
            messages = "the kernel log (dmesg) has the reason".into();
        }
        return Err(mount_error(target, &err, &messages).into());
    }
    drop(held);

    // SAFETY: fsmount takes the configured context fd and flags.
    let mnt = unsafe { libc::syscall(libc::SYS_fsmount, fs.as_raw_fd(), FSMOUNT_CLOEXEC, 0) };
    if mnt < 0 {
        let err = io::Error::last_os_error();
        return Err(mount_error(target, &err, &kernel_messages(&fs)).into());
    }
    // SAFETY: the kernel just returned this fd to us.
    Ok(unsafe { OwnedFd::from_raw_fd(mnt as i32) })
}

/// One overlay shown at several places: each [`Shared::bind`] puts one of
/// its subdirectories on a target, all on the one superblock.
#[derive(Debug)]
pub struct Shared {
    how: SharedMount,
}

#[derive(Debug)]
enum SharedMount {
    /// The detached mount: each bind is a clone of a subtree of it.
    Detached(OwnedFd),
    /// Mounted with mount(2) on a scratch directory, bound from there;
    /// detached from it when dropped.
    Scratch(PathBuf),
}

impl Shared {
    /// The prepared overlay, ready to be bound from; a [`Prepared::Classic`]
    /// one is mounted on `scratch` (made, and removed again on drop).
    pub fn new(prepared: Prepared, spec: &OverlaySpec, scratch: &Path) -> Result<Self> {
        let how = match prepared {
            Prepared::Detached(mnt) => SharedMount::Detached(mnt),
            Prepared::Classic => {
                std::fs::create_dir(scratch)
                    .or_else(|e| match e.kind() {
                        io::ErrorKind::AlreadyExists => Ok(()),
                        _ => Err(e),
                    })
                    .map_err(|e| OverlayError::io("creating", scratch, e))?;
                if let Err(err) = mount_classic(spec, scratch) {
                    let _ = std::fs::remove_dir(scratch);
                    return Err(err);
                }
                SharedMount::Scratch(scratch.to_path_buf())
            }
        };
        Ok(Self { how })
    }

    /// Puts the overlay's `subdir` (relative) on `target`.
    pub fn bind(&self, subdir: &Path, target: &Path) -> Result<()> {
        match &self.how {
            SharedMount::Detached(mnt) => {
                let tree = hs_common::mount_ns::clone_tree(Some(mnt.as_fd()), subdir)
                    .map_err(|errno| mount_error(target, &io::Error::from(errno), ""))?;
                move_mount(&tree, target)
            }
            SharedMount::Scratch(scratch) => nix::mount::mount(
                Some(&scratch.join(subdir)),
                target,
                None::<&str>,
                nix::mount::MsFlags::MS_BIND,
                None::<&str>,
            )
            .map_err(|errno| OverlayError::Mount {
                target: target.to_path_buf(),
                detail: format!("bind: {}", errno.desc().to_lowercase()),
            }),
        }
    }
}

impl Drop for Shared {
    /// The binds hold the superblock; the original goes.
    fn drop(&mut self) {
        if let SharedMount::Scratch(scratch) = &self.how {
            let _ = nix::mount::umount2(scratch, nix::mount::MntFlags::MNT_DETACH);
            let _ = std::fs::remove_dir(scratch);
        }
    }
}

fn move_mount(mnt: &OwnedFd, target: &Path) -> Result<()> {
    hs_common::mount_ns::attach_tree(mnt.as_fd(), None, target)
        .map_err(|errno| mount_error(target, &io::Error::from(errno), ""))
}

fn mount_classic(spec: &OverlaySpec, target: &Path) -> Result<()> {
    let data = spec.data();
    if data.len() > DATA_LIMIT {
        return Err(OverlayError::Mount {
            target: target.to_path_buf(),
            detail: format!(
                "{} layers need {} bytes of mount options, more than the {DATA_LIMIT} this kernel takes (Linux 6.8 lifts the limit)",
                spec.lowers.len(),
                data.len()
            ),
        });
    }
    let data = CString::new(data).map_err(|_| OverlayError::Mount {
        target: target.to_path_buf(),
        detail: "a path contains a NUL byte".into(),
    })?;
    nix::mount::mount(
        Some("overlay"),
        target,
        Some("overlay"),
        nix::mount::MsFlags::empty(),
        Some(data.as_c_str()),
    )
    .map_err(|errno| OverlayError::Mount {
        target: target.to_path_buf(),
        detail: format!(
            "{} (the kernel log has the reason)",
            errno.desc().to_lowercase()
        ),
    })
}

fn path_value(path: &Path, held: &mut Vec<OwnedFd>, target: &Path) -> Result<CString, Attempt> {
    let bytes = path.as_os_str().as_bytes();
    if bytes.len() <= FSCONFIG_STRING_LIMIT {
        return Ok(cstring_path(path)?);
    }
    let fd = nix::fcntl::open(
        path,
        nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|errno| OverlayError::io("opening layer", path, io::Error::from(errno)))?;
    // SAFETY: open just returned this fd to us.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let value = format!("/proc/self/fd/{}", fd.as_raw_fd());
    held.push(fd);
    Ok(cstring(&value, target)?)
}

fn set_string(fs: &OwnedFd, key: &CStr, value: &CStr) -> io::Result<()> {
    fsconfig(fs, FSCONFIG_SET_STRING, Some(key), Some(value))
}

fn fsconfig(
    fs: &OwnedFd,
    cmd: libc::c_uint,
    key: Option<&CStr>,
    value: Option<&CStr>,
) -> io::Result<()> {
    let key = key.map_or(std::ptr::null(), CStr::as_ptr);
    let value = value.map_or(std::ptr::null(), CStr::as_ptr);
    // SAFETY: fsconfig reads the NUL-terminated key/value (or null) only.
    let rc = unsafe { libc::syscall(libc::SYS_fsconfig, fs.as_raw_fd(), cmd, key, value, 0) };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// The messages the kernel queued on the fs context ("e overlay: …"), the
/// precise reason a step failed, joined into one line.
fn kernel_messages(fs: &OwnedFd) -> String {
    let mut messages = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        match nix::unistd::read(fs.as_raw_fd(), &mut buf) {
            Ok(n) if n > 0 => {
                let text = String::from_utf8_lossy(&buf[..n]);
                let text = text.trim_end();
                let text = text
                    .strip_prefix("e ")
                    .or_else(|| text.strip_prefix("w "))
                    .or_else(|| text.strip_prefix("i "))
                    .unwrap_or(text);
                let text = text.strip_prefix("overlay: ").unwrap_or(text);
                messages.push(text.to_string());
            }
            _ => break,
        }
    }
    messages.join("; ")
}

fn layer_error(
    target: &Path,
    what: &str,
    path: &Path,
    err: &io::Error,
    messages: &str,
) -> OverlayError {
    let why = if messages.is_empty() {
        describe(err)
    } else {
        messages.to_string()
    };
    OverlayError::Mount {
        target: target.to_path_buf(),
        detail: format!("{what} {}: {why}", path.display()),
    }
}

fn mount_error(target: &Path, err: &io::Error, messages: &str) -> OverlayError {
    OverlayError::Mount {
        target: target.to_path_buf(),
        detail: if messages.is_empty() {
            describe(err)
        } else {
            format!("{} ({})", describe(err), messages)
        },
    }
}

fn cstring(text: &str, target: &Path) -> Result<CString> {
    CString::new(text).map_err(|_| OverlayError::Mount {
        target: target.to_path_buf(),
        detail: format!("{text:?} contains a NUL byte"),
    })
}

fn cstring_path(path: &Path) -> Result<CString> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| OverlayError::Mount {
        target: path.to_path_buf(),
        detail: "the path contains a NUL byte".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn option_parses_flag_and_key_value() {
        assert_eq!(
            MountOption::parse("index=off").unwrap(),
            MountOption::new("index", "off")
        );
        let flag = MountOption::parse("volatile").unwrap();
        assert_eq!(flag.value, None);
        assert_eq!(flag.to_string(), "volatile");
    }

    #[test]
    fn option_refuses_layer_keys_and_commas() {
        assert!(MountOption::parse("upperdir=/x").is_err());
        assert!(MountOption::parse("lowerdir+=/x").is_err());
        assert!(MountOption::parse("a=b,c").is_err());
        assert!(MountOption::parse("=x").is_err());
    }

    #[test]
    fn data_escapes_separators_in_paths() {
        let spec = OverlaySpec {
            lowers: vec!["/l:1".into(), "/l,2".into()],
            upper: Some("/u".into()),
            work: Some("/w".into()),
            options: vec![MountOption::new("index", "off")],
        };
        assert_eq!(
            String::from_utf8(spec.data()).unwrap(),
            r"lowerdir=/l\:1:/l\,2,upperdir=/u,workdir=/w,index=off"
        );
    }
}
