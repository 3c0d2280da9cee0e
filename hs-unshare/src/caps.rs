//! `--cap-drop` / `--cap-add`: the capabilities PROG gets, and
//! `--no-new-privs`: none it could gain by an exec.
//!
//! What the exec grants is limited, not what this process holds: the
//! bounding set loses every other capability (an exec as root then gets
//! exactly the rest; one as another user gets none of the dropped ones,
//! not even through a set-uid file) and they leave the inheritable and
//! ambient sets. The steps still ahead of the exec (chroot, the user
//! switch, the console) keep the effective set they need, as in runc,
//! which drops the bounding set before the user switch too.

use hs_common::caps::CapSet;
use nix::errno::Errno;

use crate::error::{sys, Result};

const CAPABILITY_VERSION_3: u32 = 0x2008_0522;

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// Limits what the next exec grants to `keep`, for this process and the
/// children it forks from now on (they inherit the bounding set).
pub fn restrict_exec(keep: CapSet) -> Result<()> {
    // Up to the first number this kernel does not know (EINVAL), rather
    // than reading /proc/sys/kernel/cap_last_cap: capabilities newer than
    // our names are dropped too.
    for cap in 0..64 {
        if keep.contains(cap) {
            continue;
        }
        // SAFETY: prctl with integer arguments only.
        let r = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) };
        match Errno::result(r) {
            Ok(_) => {}
            Err(Errno::EINVAL) => break,
            Err(e) => {
                return Err(sys(format!(
                    "dropping capability {cap} from the bounding set"
                ))(e))
            }
        }
    }
    mask_sets(keep, false)?;
    // SAFETY: prctl with integer arguments only. Kernels before 4.3 have no
    // ambient set: nothing to clear there.
    let r = unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
            0,
            0,
            0,
        )
    };
    match Errno::result(r) {
        Ok(_) | Err(Errno::EINVAL) => Ok(()),
        Err(e) => Err(sys("clearing the ambient capabilities")(e)),
    }
}

/// This process keeps only `keep` itself: for the init, which needs none
/// of the others and would otherwise hold more than the processes it
/// serves (they could not read its /proc files: ptrace's rule). What its
/// children's exec grants is [`restrict_exec`]'s.
pub fn restrict_own(keep: CapSet) -> Result<()> {
    mask_sets(keep, true)
}

/// No exec of this process or its children grants privileges again:
/// set-uid and set-gid bits and file capabilities are ignored (the kernel's
/// no_new_privs, which fork and exec keep and nothing can clear).
pub fn forbid_new_privileges() -> Result<()> {
    // SAFETY: prctl with integer arguments only.
    let r = unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
    Errno::result(r)
        .map(drop)
        .map_err(sys("setting no_new_privs".to_string()))
}

/// Clears the capabilities outside `keep` from the inheritable set, and
/// with `own` from the permitted and effective sets too.
fn mask_sets(keep: CapSet, own: bool) -> Result<()> {
    let mut header = CapHeader {
        version: CAPABILITY_VERSION_3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: a v3 header and the two data structs v3 reads and writes.
    let r = unsafe { libc::syscall(libc::SYS_capget, &mut header, data.as_mut_ptr()) };
    Errno::result(r).map_err(sys("capget"))?;
    for (half, word) in data.iter_mut().enumerate() {
        let kept = (keep.bits() >> (32 * half)) as u32;
        word.inheritable &= kept;
        if own {
            word.permitted &= kept;
            word.effective &= kept;
        }
    }
    // SAFETY: as above; capset only reads them.
    let r = unsafe { libc::syscall(libc::SYS_capset, &header, data.as_ptr()) };
    Errno::result(r).map_err(sys("capset")).map(drop)
}
