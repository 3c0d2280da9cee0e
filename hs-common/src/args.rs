//! The command line as the kernel gave it to the C main ([`crate::tool_main`]).
//!
//! std fills `std::env::args` before `main` on glibc only (glibc passes
//! argv to initialisers; musl does not, and std's own start-up, which the
//! C main skips, is what sets it there). The tools read their arguments
//! through here, and [`crate::proctitle`] finds the strings the kernel
//! shows in /proc/PID/cmdline.

use std::ffi::{c_char, c_int, CStr, OsString};
use std::os::unix::ffi::OsStringExt;
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

static ARGC: AtomicUsize = AtomicUsize::new(0);
static ARGV: AtomicPtr<*const c_char> = AtomicPtr::new(std::ptr::null_mut());

/// Called by the C main with what the kernel gave.
pub fn remember(argc: c_int, argv: *const *const c_char) {
    ARGC.store(usize::try_from(argc).unwrap_or(0), Ordering::Relaxed);
    ARGV.store(argv.cast_mut(), Ordering::Relaxed);
}

/// The C main's `argc` and `argv` (null when no C main ran).
pub(crate) fn raw() -> (usize, *mut *const c_char) {
    (ARGC.load(Ordering::Relaxed), ARGV.load(Ordering::Relaxed))
}

/// The arguments, program name first: the C main's, else std's.
pub fn args_os() -> Vec<OsString> {
    let (argc, argv) = raw();
    if argv.is_null() {
        return std::env::args_os().collect();
    }
    // SAFETY: argv is the C main's: argc pointers to NUL-terminated strings
    // in the process's initial stack, which stays mapped.
    unsafe {
        (0..argc)
            .map(|i| *argv.add(i))
            .take_while(|p| !p.is_null())
            .map(|p| OsString::from_vec(CStr::from_ptr(p).to_bytes().to_vec()))
            .collect()
    }
}
