//! The image config (OCI `application/vnd.oci.image.config.v1+json`): the
//! blob whose digest is the image id. Unknown fields are kept as they came,
//! so a committed image carries its parent's settings on.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::error::{Error, Result};

/// What `hs run IMAGE` needs from the config to start the default command.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunConfig {
    #[serde(
        rename = "Entrypoint",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub entrypoint: Option<Vec<String>>,
    #[serde(rename = "Cmd", default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    #[serde(rename = "Env", default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<String>>,
    #[serde(
        rename = "WorkingDir",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub working_dir: Option<String>,
    #[serde(rename = "User", default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

/// A parsed config: the parts the store uses, and the whole document.
#[derive(Debug, Clone)]
pub struct ImageConfig {
    pub diff_ids: Vec<String>,
    pub created: Option<String>,
    pub run: RunConfig,
    pub value: Value,
}

impl ImageConfig {
    pub fn parse(bytes: &[u8], what: &str) -> Result<Self> {
        let bad = |why: String| Error::BadConfig(what.into(), why);
        let value: Value = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
        let diff_ids = value
            .pointer("/rootfs/diff_ids")
            .and_then(Value::as_array)
            .ok_or_else(|| bad("no rootfs.diff_ids".into()))?
            .iter()
            .map(|d| {
                let d = d
                    .as_str()
                    .ok_or_else(|| bad("diff id is not a string".into()))?;
                crate::digest::hex_of(d)?;
                Ok(d.to_string())
            })
            .collect::<Result<Vec<_>>>()?;
        let run = match value.get("config") {
            Some(Value::Null) | None => RunConfig::default(),
            Some(config) => {
                serde_json::from_value(config.clone()).map_err(|e| bad(e.to_string()))?
            }
        };
        let created = value
            .get("created")
            .and_then(Value::as_str)
            .map(String::from);
        Ok(Self {
            diff_ids,
            created,
            run,
            value,
        })
    }
}

/// The config of a new image with `diff_ids` (bottom first) and nothing
/// else: what `import` and a host-mirror `commit` create.
pub fn new_config(diff_ids: &[String], created: &str, comment: &str) -> Vec<u8> {
    let value = json!({
        "created": created,
        "architecture": go_arch(),
        "os": "linux",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created": created, "comment": comment}],
    });
    serde_json::to_vec(&value).unwrap_or_default()
}

/// The config of `parent` with one more layer on top (`commit`).
pub fn with_layer(parent: &ImageConfig, diff_id: &str, created: &str, comment: &str) -> Vec<u8> {
    let mut value = parent.value.clone();
    let mut diff_ids = parent.diff_ids.clone();
    diff_ids.push(diff_id.to_string());
    value["rootfs"] = json!({"type": "layers", "diff_ids": diff_ids});
    value["created"] = json!(created);
    let entry = json!({"created": created, "comment": comment});
    match value.get_mut("history").and_then(Value::as_array_mut) {
        Some(history) => history.push(entry),
        None => value["history"] = json!([entry]),
    }
    serde_json::to_vec(&value).unwrap_or_default()
}

/// The architecture name OCI uses for this machine.
pub fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_config_parses_back() {
        let d = crate::digest::of_bytes(b"layer");
        let bytes = new_config(std::slice::from_ref(&d), "2024-01-01T00:00:00Z", "import");
        let config = ImageConfig::parse(&bytes, "t").unwrap();
        assert_eq!(config.diff_ids, vec![d]);
        assert_eq!(config.created.as_deref(), Some("2024-01-01T00:00:00Z"));
    }

    #[test]
    fn with_layer_keeps_parent_settings() {
        let parent =
            br#"{"config":{"Cmd":["sh"],"Env":["A=1"]},"rootfs":{"type":"layers","diff_ids":[]}}"#;
        let parent = ImageConfig::parse(parent, "p").unwrap();
        let d = crate::digest::of_bytes(b"x");
        let child = ImageConfig::parse(&with_layer(&parent, &d, "now", "commit"), "c").unwrap();
        assert_eq!(child.diff_ids, vec![d]);
        assert_eq!(child.run.cmd, Some(vec!["sh".to_string()]));
        assert_eq!(child.run.env, Some(vec!["A=1".to_string()]));
    }

    #[test]
    fn config_without_diff_ids_is_refused() {
        assert!(ImageConfig::parse(b"{}", "x").is_err());
        assert!(ImageConfig::parse(b"not json", "x").is_err());
    }
}
