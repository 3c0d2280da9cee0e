//! The on-disk schema of a container record: `config.json` (what was asked)
//! and `state.json` (what happened). hs-state owns it; every other tool
//! reads and writes records through these types, never by parsing the files.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The schema version written into every file; a newer version on disk is
/// refused rather than misread.
pub const SCHEMA_VERSION: u32 = 1;

/// What was asked for: written once at create time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Config {
    pub version: u32,
    /// The command as an argv (never a string for a shell to split).
    pub command: Vec<String>,
    /// `KEY=VALUE` entries for the command's environment.
    #[serde(default)]
    pub env: Vec<String>,
    #[serde(default)]
    pub workdir: Option<String>,
    #[serde(default)]
    pub hostname: Option<String>,
    #[serde(default)]
    pub user: Option<String>,
    /// What the root filesystem is.
    pub rootfs: Rootfs,
    #[serde(default)]
    pub volumes: Vec<Volume>,
    #[serde(default)]
    pub limits: Limits,
    #[serde(default)]
    pub tty: bool,
    #[serde(default)]
    pub interactive: bool,
    /// `--rm`: remove the container when it exits.
    #[serde(default)]
    pub auto_remove: bool,
    /// Run hs-unshare's PID-1 init (default) or exec the command as PID 1.
    #[serde(default = "default_true")]
    pub init: bool,
    #[serde(default)]
    pub detach_keys: Option<String>,
    /// The cgroup parent as given (`/hs`, or relative to the caller's cgroup).
    #[serde(default)]
    pub cgroup_parent: Option<String>,
    /// `--cap-add` / `--cap-drop` as given (capability names, comma lists
    /// or ALL): the command gets the front-end's default set less the
    /// dropped and plus the added ones.
    #[serde(default)]
    pub cap_add: Vec<String>,
    #[serde(default)]
    pub cap_drop: Vec<String>,
    /// `--privileged`: every capability.
    #[serde(default)]
    pub privileged: bool,
    /// `--read-only`: the root filesystem's own mount read-only.
    #[serde(default)]
    pub read_only: bool,
    /// `--security-opt no-new-privileges`: no exec in the container grants
    /// privileges (set-uid bits, file capabilities).
    #[serde(default)]
    pub no_new_privileges: bool,
    /// `--log-opt max-size`: the log is rotated past this many bytes.
    #[serde(default)]
    pub log_max_size: Option<u64>,
    /// `--log-opt max-file`: log files kept (with `log_max_size`).
    #[serde(default)]
    pub log_max_files: Option<u32>,
    /// `--tmpfs PATH`: empty tmpfs mounts (container paths).
    #[serde(default)]
    pub tmpfs: Vec<String>,
    pub created: DateTime<Utc>,
}

impl Config {
    /// `command` on `rootfs`, every other field as a document without it
    /// gets it (`from_document`): no limits, volumes or options, the init
    /// on, created now.
    pub fn new(command: Vec<String>, rootfs: Rootfs) -> Config {
        Config {
            version: SCHEMA_VERSION,
            command,
            env: Vec::new(),
            workdir: None,
            hostname: None,
            user: None,
            rootfs,
            volumes: Vec::new(),
            limits: Limits::default(),
            tty: false,
            interactive: false,
            auto_remove: false,
            init: true,
            detach_keys: None,
            cgroup_parent: None,
            cap_add: Vec::new(),
            cap_drop: Vec::new(),
            privileged: false,
            read_only: false,
            no_new_privileges: false,
            log_max_size: None,
            log_max_files: None,
            tmpfs: Vec::new(),
            created: Utc::now(),
        }
    }

    /// A config document as a user or the front-end hands it to `hs-state
    /// create`: `version` defaults to the current one and `created` to now;
    /// a newer version is refused rather than misread.
    pub fn from_document(bytes: &[u8]) -> Result<Config, String> {
        let mut doc: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        let Some(fields) = doc.as_object_mut() else {
            return Err("expected a JSON object".into());
        };
        fields
            .entry("version")
            .or_insert_with(|| SCHEMA_VERSION.into());
        if !fields.contains_key("created") {
            fields.insert(
                "created".into(),
                serde_json::to_value(Utc::now()).unwrap_or_default(),
            );
        }
        let config: Config = serde_json::from_value(doc).map_err(|e| e.to_string())?;
        if config.version > SCHEMA_VERSION {
            return Err(format!(
                "schema version {} is newer than this hs-state ({SCHEMA_VERSION})",
                config.version
            ));
        }
        Ok(config)
    }
}

fn default_true() -> bool {
    true
}

/// The container's root filesystem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Rootfs {
    /// A copy-on-write mirror of the host's system directories.
    Host {
        /// The mirrored top-level dirs, when not hs-overlay's default list.
        #[serde(default)]
        dirs: Option<Vec<String>>,
    },
    /// A plain rootfs directory used as the overlay's only lower layer.
    Dir { path: String },
    /// An image from the store: its reference as given, the resolved image
    /// id, and its layer dirs top first (so a later `rmi` cannot pull the
    /// layers from under a stopped container without noticing).
    Image {
        reference: String,
        id: String,
        #[serde(default)]
        lowerdirs: Vec<String>,
    },
}

/// A bind mount `-v SRC:DST[:ro]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Volume {
    pub source: String,
    pub destination: String,
    #[serde(default)]
    pub read_only: bool,
}

/// Resource limits, already validated and in kernel units.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Limits {
    /// Bytes.
    #[serde(default)]
    pub memory: Option<u64>,
    /// Bytes of memory+swap; -1 is unlimited swap.
    #[serde(default)]
    pub memory_swap: Option<i64>,
    /// Fractional CPUs (`--cpus 0.5`).
    #[serde(default)]
    pub cpus: Option<f64>,
    #[serde(default)]
    pub cpu_shares: Option<u64>,
    #[serde(default)]
    pub cpuset_cpus: Option<String>,
    #[serde(default)]
    pub cpuset_mems: Option<String>,
    #[serde(default)]
    pub pids_limit: Option<i64>,
}

/// What the record says about the container's life. Whether it actually
/// runs is decided by liveness (`Status` from `Record::live_status`), not
/// by `status` alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    pub version: u32,
    pub status: Status,
    /// Host pid of the container's PID 1 (what `exec` joins, `stop` signals).
    #[serde(default)]
    pub init: Option<ProcessRef>,
    /// The monitor (`hs-pty serve`) holding the container's terminal.
    #[serde(default)]
    pub monitor: Option<ProcessRef>,
    /// Absolute cgroup directory per hierarchy, as hs-cgroup reported them
    /// (keys: v1 controller lists like `memory` or `cpu,cpuacct`, and
    /// `unified`).
    #[serde(default)]
    pub cgroups: BTreeMap<String, String>,
    /// None while running, or when the exit was not observed (killed
    /// monitor, reboot).
    #[serde(default)]
    pub exit_code: Option<i32>,
    #[serde(default)]
    pub started: Option<DateTime<Utc>>,
    #[serde(default)]
    pub finished: Option<DateTime<Utc>>,
}

impl State {
    pub fn new() -> Self {
        Self {
            version: SCHEMA_VERSION,
            status: Status::Created,
            init: None,
            monitor: None,
            cgroups: BTreeMap::new(),
            exit_code: None,
            started: None,
            finished: None,
        }
    }
}

impl Default for State {
    fn default() -> Self {
        Self::new()
    }
}

/// A recorded process (pid and start time); shared with the tools that
/// are handed one on their command line.
pub use hs_common::proc::ProcessRef;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Created,
    Running,
    Exited,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_document_gets_version_and_created() {
        let config =
            Config::from_document(br#"{"command":["sh"],"rootfs":{"kind":"host"}}"#).unwrap();
        assert_eq!(config.version, SCHEMA_VERSION);
        assert!(config.init);
        assert!((Utc::now() - config.created).num_seconds() < 60);
    }

    #[test]
    fn new_gives_the_defaults_of_a_minimal_document() {
        let parsed =
            Config::from_document(br#"{"command":["sh"],"rootfs":{"kind":"host"}}"#).unwrap();
        let built = Config {
            created: parsed.created,
            ..Config::new(vec!["sh".into()], Rootfs::Host { dirs: None })
        };
        assert_eq!(built, parsed);
    }

    #[test]
    fn documents_that_are_not_configs_are_refused() {
        for bad in [
            &b"[1]"[..],
            b"{\"command\":[\"sh\"]}",
            b"{\"command\":[\"sh\"],\"rootfs\":{\"kind\":\"host\"},\"version\":99}",
            b"not json",
        ] {
            assert!(
                Config::from_document(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
