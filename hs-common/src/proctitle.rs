//! What the processes that outlive a container's start show of it. The
//! monitor (hs-pty) and hs-unshare's supervisor and PID 1 live as long as
//! the container, with the argument list they were started with, and
//! `/proc/PID/cmdline` is readable by every user of the host: the values
//! of the `--env K=V` arguments (a container's environment, its passwords
//! included) were there for anyone's `ps`. And hs-unshare's PID 1 kept the
//! environment of whoever ran hs, readable inside the container at
//! `/proc/1/environ`.
//!
//! The strings are changed where the kernel reads them: in place, at the
//! same length. They are found through the `argv` the C main was given
//! ([`crate::args`]) and libc's `environ`, not /proc/self/stat: after
//! PID 1's pivot_root, hs-unshare's supervisor (same mount namespace,
//! other pid namespace) has no /proc/self any more.

use std::ffi::{c_char, CStr};

extern "C" {
    static mut environ: *mut *mut c_char;
}

/// Replaces, in place and at the same length, the value of every `--env
/// K=V` (or `--env=K=V`) argument with `*`.
pub fn mask_env_values(args: &mut [&mut [u8]]) {
    let mut value_follows = false;
    for arg in args.iter_mut() {
        let value = if value_follows {
            arg.iter().position(|&b| b == b'=').map(|at| at + 1)
        } else if arg.starts_with(b"--env=") {
            arg[6..]
                .iter()
                .position(|&b| b == b'=')
                .map(|at| 6 + at + 1)
        } else {
            None
        };
        if let Some(start) = value {
            arg[start..].fill(b'*');
        }
        value_follows = &arg[..] == b"--env";
    }
}

/// Masks the values of this process's `--env` arguments (see
/// [`mask_env_values`]); with `clear_environment`, zeroes its environment
/// strings too. Call it once the process has taken what it needs from
/// both: std reads the environment from those very strings, so a process
/// that still starts programs (the monitor runs its on-exit step) must
/// keep it. Single-threaded callers only.
pub fn hide_secrets(clear_environment: bool) {
    let (argc, argv) = crate::args::raw();
    // SAFETY: argv is the C main's: argc valid pointers to NUL-terminated
    // strings in the process's initial stack, which stays mapped and
    // writable; each string is changed within its own length, and no
    // other thread reads them meanwhile.
    unsafe {
        if !argv.is_null() {
            let mut args: Vec<&mut [u8]> = (0..argc)
                .map(|i| *argv.add(i))
                .filter(|p| !p.is_null())
                .map(|p| {
                    let len = CStr::from_ptr(p).to_bytes().len();
                    std::slice::from_raw_parts_mut(p.cast_mut().cast::<u8>(), len)
                })
                .collect();
            mask_env_values(&mut args);
        }
        // SAFETY: environ is libc's NULL-terminated array of
        // NUL-terminated strings; they are zeroed within their lengths.
        let mut entry = environ;
        if clear_environment && !entry.is_null() {
            while !(*entry).is_null() {
                let len = CStr::from_ptr(*entry).to_bytes().len();
                std::ptr::write_bytes(*entry, 0, len);
                entry = entry.add(1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_values_are_masked_and_everything_else_kept() {
        let given = [
            "hs-unshare",
            "--env",
            "PASS=hunter2",
            "--env=KEY=a=b",
            "--hostname",
            "h",
            "--",
            "sh",
            "--env",
        ];
        let mut owned: Vec<Vec<u8>> = given.iter().map(|a| a.as_bytes().to_vec()).collect();
        let mut args: Vec<&mut [u8]> = owned.iter_mut().map(|a| a.as_mut_slice()).collect();
        mask_env_values(&mut args);
        let shown: Vec<String> = owned
            .into_iter()
            .map(|a| String::from_utf8(a).unwrap())
            .collect();
        assert_eq!(
            shown,
            [
                "hs-unshare",
                "--env",
                "PASS=*******",
                "--env=KEY=***",
                "--hostname",
                "h",
                "--",
                "sh",
                "--env",
            ]
        );
    }
}
