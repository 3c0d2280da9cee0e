//! Image references: `NAME[:TAG][@DIGEST]`, the key a reference is stored
//! under, and docker's normalization (`busybox` → the default registry's
//! `library/busybox:latest`) for pulls and lookups.

use crate::error::{Error, Result};

pub const DEFAULT_TAG: &str = "latest";
pub const DEFAULT_REGISTRY: &str = "docker.io";

/// A parsed reference. `repository` includes the registry host when given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

impl Reference {
    /// Parses and validates `NAME[:TAG][@sha256:HEX]`.
    pub fn parse(text: &str) -> Result<Self> {
        let bad = |why: &str| Error::BadReference(text.into(), why.into());
        let (rest, digest) = match text.split_once('@') {
            Some((rest, digest)) => {
                crate::digest::hex_of(digest)?;
                (rest, Some(digest.to_string()))
            }
            None => (text, None),
        };
        // A ':' after the last '/' starts the tag; one before is a port.
        let (repository, tag) = match rest.rfind(':') {
            Some(i) if !rest[i..].contains('/') => (&rest[..i], Some(rest[i + 1..].to_string())),
            _ => (rest, None),
        };
        if repository.is_empty() {
            return Err(bad("empty name"));
        }
        let mut components = repository.split('/');
        let first = components.next().unwrap_or_default();
        let host_like = repository.contains('/')
            && (first.contains('.') || first.contains(':') || first == "localhost");
        let to_check: Vec<&str> = if host_like {
            if !first
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
            {
                return Err(bad("invalid registry host"));
            }
            components.collect()
        } else {
            repository.split('/').collect()
        };
        for component in to_check {
            let valid = !component.is_empty()
                && component
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
                && component.as_bytes()[0].is_ascii_alphanumeric();
            if !valid {
                return Err(bad(
                    "name components are lowercase letters, digits and . _ -",
                ));
            }
        }
        if let Some(tag) = &tag {
            let valid = !tag.is_empty()
                && tag.len() <= 128
                && tag
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
                && tag.as_bytes()[0] != b'.'
                && tag.as_bytes()[0] != b'-';
            if !valid {
                return Err(bad("invalid tag"));
            }
        }
        Ok(Self {
            repository: repository.to_string(),
            tag,
            digest,
        })
    }

    /// The key this reference is stored under: `repo:tag` (tag defaulting
    /// to `latest`), or `repo@digest` for a digest reference.
    pub fn key(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(digest), _) => format!("{}@{digest}", self.repository),
            (None, Some(tag)) => format!("{}:{tag}", self.repository),
            (None, None) => format!("{}:{DEFAULT_TAG}", self.repository),
        }
    }

    /// Docker's full form: the registry host made explicit, `library/` for
    /// single-component names on the default registry.
    pub fn normalized(&self) -> Self {
        let first = self.repository.split('/').next().unwrap_or_default();
        let has_host = self.repository.contains('/')
            && (first.contains('.') || first.contains(':') || first == "localhost");
        let repository = if has_host {
            self.repository.clone()
        } else if self.repository.contains('/') {
            format!("{DEFAULT_REGISTRY}/{}", self.repository)
        } else {
            format!("{DEFAULT_REGISTRY}/library/{}", self.repository)
        };
        Self {
            repository,
            ..self.clone()
        }
    }

    /// The registry host (`docker.io` when none is given).
    pub fn registry(&self) -> String {
        self.normalized()
            .repository
            .split('/')
            .next()
            .unwrap_or(DEFAULT_REGISTRY)
            .to_string()
    }
}

/// Splits a stored key back into (repository, tag, digest) for listings.
pub fn split_key(key: &str) -> (String, Option<String>, Option<String>) {
    match Reference::parse(key) {
        Ok(r) => (r.repository, r.tag, r.digest),
        Err(_) => (key.to_string(), None, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_without_tag_is_stored_as_latest() {
        assert_eq!(Reference::parse("busybox").unwrap().key(), "busybox:latest");
    }

    #[test]
    fn port_is_not_a_tag() {
        let r = Reference::parse("127.0.0.1:5000/test/bb").unwrap();
        assert_eq!(r.repository, "127.0.0.1:5000/test/bb");
        assert_eq!(r.tag, None);
        let r = Reference::parse("127.0.0.1:5000/test/bb:v1").unwrap();
        assert_eq!(r.tag.as_deref(), Some("v1"));
    }

    #[test]
    fn digest_reference_keys_by_digest() {
        let d = crate::digest::of_bytes(b"x");
        let r = Reference::parse(&format!("localhost:1/a@{d}")).unwrap();
        assert_eq!(r.key(), format!("localhost:1/a@{d}"));
    }

    #[test]
    fn docker_normalization_adds_registry_and_library() {
        let r = Reference::parse("busybox").unwrap().normalized();
        assert_eq!(r.repository, "docker.io/library/busybox");
        let r = Reference::parse("user/app:1").unwrap().normalized();
        assert_eq!(r.repository, "docker.io/user/app");
        let r = Reference::parse("127.0.0.1:5000/app").unwrap();
        assert_eq!(r.registry(), "127.0.0.1:5000");
    }

    #[test]
    fn bad_names_and_tags_are_refused() {
        for bad in [
            "",
            "Upper",
            "a//b",
            "a:",
            "a:-x",
            "a@sha256:zz",
            "/abs",
            "a b",
        ] {
            assert!(Reference::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
