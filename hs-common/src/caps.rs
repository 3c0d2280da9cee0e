//! Capability sets by name: what `--cap-add` / `--cap-drop` mean, for hs
//! (which checks the names and records them) and hs-unshare (which limits
//! what the exec of the container's program grants).
//!
//! Names are docker's: `CHOWN` or `CAP_CHOWN`, any case, and `ALL`.

use std::fmt;

/// Every capability Linux 6.x knows, by number.
const NAMES: [&str; 41] = [
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
];

/// CAP_KILL's number.
pub const CAP_KILL: u32 = 5;

/// A set of capabilities, bit N for capability N.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CapSet(u64);

impl CapSet {
    pub const EMPTY: CapSet = CapSet(0);

    /// A container's capabilities unless told otherwise: podman's default
    /// set (docker's also has MKNOD, NET_RAW and AUDIT_WRITE; with MKNOD
    /// and no device cgroup a container could make a node for the host's
    /// disk). No SYS_ADMIN: root inside cannot mount, so it cannot undo
    /// the read-only and masked paths or reach the host's devices.
    pub const CONTAINER_DEFAULT: CapSet = CapSet(
        1 << 0 // CHOWN
            | 1 << 1 // DAC_OVERRIDE
            | 1 << 3 // FOWNER
            | 1 << 4 // FSETID
            | 1 << 5 // KILL
            | 1 << 6 // SETGID
            | 1 << 7 // SETUID
            | 1 << 8 // SETPCAP
            | 1 << 10 // NET_BIND_SERVICE
            | 1 << 18 // SYS_CHROOT
            | 1 << 31, // SETFCAP
    );

    /// Every capability of [`NAMES`].
    pub const fn all() -> CapSet {
        CapSet((1 << NAMES.len()) - 1)
    }

    /// This set and capability number `cap`.
    pub fn with(self, cap: u32) -> CapSet {
        CapSet(self.0 | 1 << cap)
    }

    pub fn contains(self, cap: u32) -> bool {
        cap < 64 && self.0 & (1 << cap) != 0
    }

    pub fn bits(self) -> u64 {
        self.0
    }

    /// This set, less every capability of `drop`, plus every one of `add`
    /// (docker's order: `--cap-drop ALL --cap-add X` keeps just X). Each
    /// entry is a name or a comma list of names.
    pub fn adjust(self, drop: &[String], add: &[String]) -> Result<CapSet, BadCapability> {
        let dropped = parse_lists(drop)?;
        let added = parse_lists(add)?;
        Ok(CapSet((self.0 & !dropped.0) | added.0))
    }

    /// The names, in capability order.
    pub fn names(self) -> Vec<&'static str> {
        (0..NAMES.len() as u32)
            .filter(|&cap| self.contains(cap))
            .map(|cap| NAMES[cap as usize])
            .collect()
    }
}

impl fmt::Display for CapSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.names().join(","))
    }
}

/// A name that is no capability.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown capability {0:?} (names as in capabilities(7), e.g. NET_ADMIN or CAP_NET_ADMIN, or ALL)")]
pub struct BadCapability(pub String);

fn parse_lists(lists: &[String]) -> Result<CapSet, BadCapability> {
    let mut set = CapSet::EMPTY;
    for name in lists.iter().flat_map(|list| list.split(',')) {
        set.0 |= parse(name)?.0;
    }
    Ok(set)
}

fn parse(name: &str) -> Result<CapSet, BadCapability> {
    let upper = name.trim().to_ascii_uppercase();
    let bare = upper.strip_prefix("CAP_").unwrap_or(&upper);
    if bare == "ALL" {
        return Ok(CapSet::all());
    }
    NAMES
        .iter()
        .position(|known| *known == bare)
        .map(|cap| CapSet(1 << cap))
        .ok_or_else(|| BadCapability(name.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn names_take_any_case_and_the_cap_prefix() {
        let set = CapSet::EMPTY
            .adjust(&[], &list(&["net_admin", "CAP_SYS_ADMIN", "Chown"]))
            .unwrap();
        assert_eq!(set.names(), ["CHOWN", "NET_ADMIN", "SYS_ADMIN"]);
    }

    #[test]
    fn drop_all_then_add_keeps_only_what_was_added() {
        let set = CapSet::all()
            .adjust(&list(&["ALL"]), &list(&["KILL,SETUID"]))
            .unwrap();
        assert_eq!(set.to_string(), "KILL,SETUID");
    }

    #[test]
    fn a_dropped_default_capability_is_gone() {
        let set = CapSet::CONTAINER_DEFAULT
            .adjust(&list(&["CHOWN"]), &[])
            .unwrap();
        assert!(!set.contains(0));
        assert!(set.contains(1));
    }

    #[test]
    fn an_unknown_name_is_refused_with_the_name() {
        let err = CapSet::all()
            .adjust(&[], &list(&["CHOWN,SYS_WIZARD"]))
            .unwrap_err();
        assert_eq!(err, BadCapability("SYS_WIZARD".into()));
        assert!(CapSet::all().adjust(&list(&[""]), &[]).is_err());
    }

    #[test]
    fn the_container_default_is_podmans_mask() {
        // What `grep CapEff /proc/self/status` shows in a podman container.
        assert_eq!(CapSet::CONTAINER_DEFAULT.bits(), 0x8004_05fb);
        assert_eq!(CapSet::all().bits(), 0x1ff_ffff_ffff);
    }
}
