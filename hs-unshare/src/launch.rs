//! The last step of every mode: the command's terminal, user, working
//! directory and environment, then the exec of PROG.

use std::ffi::{CString, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use hs_common::exec::Prepared;
use hs_common::Failure;

use crate::error::{sys, Error, Result};

/// How the command is started.
#[derive(Debug, Clone, Default)]
pub struct Launch {
    pub argv: Vec<OsString>,
    pub chdir: Option<PathBuf>,
    /// `KEY=VALUE` pairs set on top of the environment.
    pub env: Vec<OsString>,
    pub clear_env: bool,
    pub user: Option<crate::user::User>,
    /// Set up the console (with the `HS_CONSOLE_FD` socket) first.
    pub console: Option<i32>,
    /// Its size, from `HS_CONSOLE_SIZE`.
    pub console_size: Option<hs_common::console::WindowSize>,
    /// Bind the console onto /dev/console too (a new root, not a join).
    pub dev_console: bool,
    /// The capabilities PROG gets (None: whatever this process has).
    pub caps: Option<hs_common::caps::CapSet>,
    /// PROG's exec (and every later one) grants no privileges.
    pub no_new_privs: bool,
}

/// The variables a cleared environment keeps: the chain's own (a next hs
/// tool needs them; `exec` drops them before a user program).
const KEPT_BY_CLEAR: [&str; 4] = ["HS_SYNC_FD", "HS_CONSOLE_FD", "HS_CONSOLE_SIZE", "HS_TRACE"];

impl Launch {
    /// Console, user, directory, environment, exec: returns only on failure.
    pub fn exec(&self) -> Failure {
        match self.prepare() {
            Ok(env) => hs_common::exec::exec_with_env(&self.argv, &env),
            Err(e) => e.into(),
        }
    }

    /// True when nothing but a directory change comes before the exec (no
    /// console, no user switch), so the exec can be prepared in full
    /// beforehand and run in a vfork'd child ([`Launch::prepare_plain`]).
    pub fn is_plain(&self) -> bool {
        self.console.is_none() && self.user.is_none()
    }

    /// For a plain launch: the exec, and the `--chdir` directory as a C
    /// string, both ready to use without allocating.
    pub fn prepare_plain(&self) -> Result<(Prepared, Option<CString>), Failure> {
        let chdir = self
            .chdir
            .as_ref()
            .map(|dir| CString::new(dir.as_os_str().as_bytes()))
            .transpose()
            .map_err(|_| Failure::tool("--chdir contains a NUL byte"))?;
        Ok((Prepared::new(&self.argv, &self.environment())?, chdir))
    }

    /// Limits what the exec grants to `caps`, and to nothing new with
    /// `no_new_privs` (see [`crate::caps`]). Called once, by the process
    /// every launch path forks from (or execs in): the command inherits it.
    pub fn restrict_privileges(&self) -> Result<()> {
        if let Some(keep) = self.caps {
            crate::caps::restrict_exec(keep)?;
        }
        if self.no_new_privs {
            crate::caps::forbid_new_privileges()?;
        }
        Ok(())
    }

    fn prepare(&self) -> Result<Vec<OsString>> {
        if let Some(socket) = self.console {
            crate::console::take_over(socket, self.console_size, self.dev_console)?;
        }
        if let Some(user) = &self.user {
            user.switch()?;
        }
        if let Some(dir) = &self.chdir {
            nix::unistd::chdir(dir).map_err(sys(format!("--chdir {}", dir.display())))?;
        }
        Ok(self.environment())
    }

    /// The command's environment: ours (or none with `--clear-env`, then
    /// with a default PATH), then `--env` entries replacing same-named ones.
    pub fn environment(&self) -> Vec<OsString> {
        let mut env: Vec<OsString> = std::env::vars_os()
            .filter(|(key, _)| {
                !self.clear_env || KEPT_BY_CLEAR.iter().any(|k| key.as_bytes() == k.as_bytes())
            })
            .map(|(key, value)| pair(key, value))
            .collect();
        if self.clear_env {
            env.push(format!("PATH={}", hs_common::exec::DEFAULT_PATH).into());
        }
        for entry in &self.env {
            let key = key_of(entry);
            env.retain(|e| key_of(e) != key);
            env.push(entry.clone());
        }
        env
    }
}

fn pair(key: OsString, value: OsString) -> OsString {
    let mut pair = key;
    pair.push("=");
    pair.push(value);
    pair
}

fn key_of(entry: &OsString) -> &[u8] {
    let bytes = entry.as_bytes();
    let end = bytes.iter().position(|&b| b == b'=').unwrap_or(bytes.len());
    &bytes[..end]
}

/// Checks `KEY=VALUE`.
pub fn parse_env(entry: &str) -> Result<OsString> {
    match entry.split_once('=') {
        Some((key, _)) if !key.is_empty() => Ok(entry.into()),
        _ => Err(Error::BadEnv(entry.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_entries_need_a_key() {
        assert!(parse_env("A=b=c").is_ok());
        assert!(parse_env("=x").is_err());
        assert!(parse_env("NOEQUALS").is_err());
    }

    #[test]
    fn env_entries_replace_same_named_ones_and_clear_keeps_chain_vars() {
        std::env::set_var("HS_SYNC_FD", "9");
        let launch = Launch {
            env: vec!["PATH=/x".into(), "A=1".into()],
            clear_env: true,
            ..Launch::default()
        };
        let env = launch.environment();
        assert!(env.contains(&"HS_SYNC_FD=9".into()));
        assert!(env.contains(&"PATH=/x".into()));
        assert_eq!(env.iter().filter(|e| key_of(e) == b"PATH").count(), 1);
        assert!(!env.iter().any(|e| key_of(e) == b"HOME"));
    }
}
