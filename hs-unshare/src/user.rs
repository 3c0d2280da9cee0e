//! `--user USER[:GROUP]`: numbers, or names looked up in the container's
//! own /etc/passwd and /etc/group (after pivot_root or chroot, so never the
//! host's), like docker's `--user`.

use std::path::Path;

use crate::error::{sys, Error, Result};

/// A user or group as given: a number, or a name to look up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Id {
    Number(u32),
    Name(String),
}

impl Id {
    fn parse(text: &str) -> Option<Self> {
        if text.is_empty() || text.contains(|c: char| c == ':' || c.is_whitespace()) {
            return None;
        }
        Some(match text.parse() {
            Ok(n) => Id::Number(n),
            Err(_) => Id::Name(text.to_string()),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub user: Id,
    /// None: the user's primary group from /etc/passwd, else 0.
    pub group: Option<Id>,
}

impl User {
    pub fn parse(spec: &str) -> Result<Self> {
        let bad = || Error::BadUser(spec.to_string());
        let (user, group) = match spec.split_once(':') {
            Some((user, group)) => (user, Some(Id::parse(group).ok_or_else(bad)?)),
            None => (spec, None),
        };
        Ok(Self {
            user: Id::parse(user).ok_or_else(bad)?,
            group,
        })
    }

    /// The numeric uid and gid, from the files of the root now in effect.
    pub fn resolve(&self, passwd: &Path, group: &Path) -> Result<(u32, u32)> {
        let entry = match &self.user {
            Id::Number(uid) => find(passwd, |f| f.get(2) == Some(&uid.to_string().as_str())),
            Id::Name(name) => find(passwd, |f| f.first() == Some(&name.as_str())),
        };
        let uid = match (&self.user, &entry) {
            (Id::Number(uid), _) => *uid,
            (Id::Name(_), Some(fields)) => number(fields.get(2)),
            (Id::Name(name), None) => return Err(unknown("user", name, passwd)),
        };
        let gid = match &self.group {
            Some(Id::Number(gid)) => *gid,
            Some(Id::Name(name)) => match find(group, |f| f.first() == Some(&name.as_str())) {
                Some(fields) => number(fields.get(2)),
                None => return Err(unknown("group", name, group)),
            },
            None => entry.map(|fields| number(fields.get(3))).unwrap_or(0),
        };
        Ok((uid, gid))
    }

    /// Drops to this user: supplementary groups, then gid, then uid.
    pub fn switch(&self) -> Result<()> {
        let (uid, gid) = self.resolve(Path::new("/etc/passwd"), Path::new("/etc/group"))?;
        let gid = nix::unistd::Gid::from_raw(gid);
        nix::unistd::setgroups(&[gid]).map_err(sys("setgroups"))?;
        nix::unistd::setgid(gid).map_err(sys(format!("setgid {gid}")))?;
        nix::unistd::setuid(nix::unistd::Uid::from_raw(uid)).map_err(sys(format!("setuid {uid}")))
    }
}

/// The first line of a colon-separated database matching `wanted`.
fn find(file: &Path, wanted: impl Fn(&Vec<&str>) -> bool) -> Option<Vec<String>> {
    let text = std::fs::read_to_string(file).ok()?;
    text.lines()
        .map(|line| line.split(':').collect::<Vec<_>>())
        .find(|fields| wanted(fields))
        .map(|fields| fields.into_iter().map(String::from).collect())
}

fn number(field: Option<&String>) -> u32 {
    field.and_then(|f| f.parse().ok()).unwrap_or(0)
}

fn unknown(what: &'static str, name: &str, file: &Path) -> Error {
    Error::Sys {
        what: format!(
            "--user: no {what} {name:?} in the container's {}",
            file.display()
        ),
        errno: nix::errno::Errno::ENOENT,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files() -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let passwd = dir.path().join("passwd");
        let group = dir.path().join("group");
        std::fs::write(
            &passwd,
            "root:x:0:0::/root:/bin/sh\nalice:x:1000:100::/home/a:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(&group, "root:x:0:\nusers:x:100:\nstaff:x:50:\n").unwrap();
        (dir, passwd, group)
    }

    #[test]
    fn numbers_and_names_parse() {
        let user = User::parse("1000:staff").unwrap();
        assert_eq!(user.user, Id::Number(1000));
        assert_eq!(user.group, Some(Id::Name("staff".into())));
        assert!(User::parse("").is_err());
        assert!(User::parse("a:").is_err());
        assert!(User::parse("a:b:c").is_err());
    }

    #[test]
    fn a_name_resolves_with_its_primary_group() {
        let (_dir, passwd, group) = files();
        let user = User::parse("alice").unwrap();
        assert_eq!(user.resolve(&passwd, &group).unwrap(), (1000, 100));
    }

    #[test]
    fn a_named_group_overrides_the_primary_one() {
        let (_dir, passwd, group) = files();
        let user = User::parse("alice:staff").unwrap();
        assert_eq!(user.resolve(&passwd, &group).unwrap(), (1000, 50));
    }

    #[test]
    fn an_unlisted_number_gets_group_0() {
        let (_dir, passwd, group) = files();
        let user = User::parse("4242").unwrap();
        assert_eq!(user.resolve(&passwd, &group).unwrap(), (4242, 0));
    }

    #[test]
    fn an_unknown_name_is_an_error_naming_it() {
        let (_dir, passwd, group) = files();
        let err = User::parse("bob")
            .unwrap()
            .resolve(&passwd, &group)
            .unwrap_err();
        assert!(err.to_string().contains("\"bob\""), "{err}");
    }
}
