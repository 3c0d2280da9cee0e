//! `load`: a `docker save` archive (manifest.json + config + layer tars) or
//! an OCI image layout (index.json + blobs/sha256), as a tar, tar.gz or a
//! directory. Every blob's digest and every layer's diff id is checked;
//! layers already in the store are not extracted again.

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use crate::config::ImageConfig;
use crate::error::{Error, IoContext, Result};
use crate::extract::{self, Options};
use crate::import::stage_layer_file;
use crate::reference::Reference;
use crate::store::{Stage, StagedLayer, Store};

const INDEX_TYPES: &[&str] = &[
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
];

/// One image a load added.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Loaded {
    pub id: String,
    pub refs: Vec<String>,
}

/// Loads every image of the archive or layout at `input`. `name` names the
/// image (or supplies the repository for an OCI layout whose annotations
/// carry only a tag).
pub fn load(store: &Store, input: &Path, name: Option<&str>) -> Result<Vec<Loaded>> {
    let override_name = name.map(Reference::parse).transpose()?;
    let stage = store.stage()?;
    let dir = if input.is_dir() {
        input.to_path_buf()
    } else {
        let dir = stage.path().join("archive");
        std::fs::create_dir(&dir).ctx("create", &dir)?;
        let reader = crate::archive::open_tar(input)?;
        extract::extract(reader, &dir, Options::plain())?;
        dir
    };
    let what = input.display().to_string();
    let images = if dir.join("manifest.json").is_file() {
        docker_images(&dir, &what)?
    } else if dir.join("index.json").is_file() {
        oci_images(&dir, &what)?
    } else {
        return Err(Error::BadArchive(
            what,
            "no manifest.json or index.json".into(),
        ));
    };
    if images.is_empty() {
        return Err(Error::BadArchive(what, "no images in it".into()));
    }
    let mut loaded = Vec::new();
    for (n, image) in images.into_iter().enumerate() {
        let refs = match &override_name {
            Some(r) if r.tag.is_none() && r.digest.is_none() => {
                let tags: Vec<String> = image.tags.iter().filter_map(|t| tag_of(t)).collect();
                if tags.is_empty() {
                    vec![r.key()]
                } else {
                    tags.iter()
                        .map(|t| format!("{}:{t}", r.repository))
                        .collect()
                }
            }
            Some(r) => vec![r.key()],
            None => image.tags.iter().filter_map(|t| full_key(t)).collect(),
        };
        let id = add(store, &stage, &dir, &image, &refs, n)?;
        loaded.push(Loaded { id, refs });
    }
    Ok(loaded)
}

/// One image found in the archive: its config and layer blob paths.
struct Found {
    config: PathBuf,
    /// Digest the config must have (OCI), or None (docker's legacy names).
    config_digest: Option<String>,
    layers: Vec<(PathBuf, Option<String>)>,
    tags: Vec<String>,
}

fn add(
    store: &Store,
    stage: &Stage,
    dir: &Path,
    image: &Found,
    refs: &[String],
    n: usize,
) -> Result<String> {
    let bytes = std::fs::read(&image.config).ctx("read", &image.config)?;
    let id = crate::digest::of_bytes(&bytes);
    if let Some(expected) = &image.config_digest {
        if &id != expected {
            return Err(Error::DigestMismatch {
                what: format!("config {}", rel(dir, &image.config)),
                expected: expected.clone(),
                actual: id,
            });
        }
    }
    let config = ImageConfig::parse(&bytes, &id)?;
    if config.diff_ids.len() != image.layers.len() {
        return Err(Error::BadConfig(
            id,
            "layer count differs from rootfs.diff_ids".into(),
        ));
    }
    let mut layers = Vec::new();
    for (i, ((path, digest), diff_id)) in image.layers.iter().zip(&config.diff_ids).enumerate() {
        if store.has_layer(diff_id) {
            layers.push(StagedLayer::stored(diff_id));
            continue;
        }
        if let Some(digest) = digest {
            crate::digest::verify_file(path, digest, &format!("layer {}", rel(dir, path)))?;
        }
        let what = format!("layer {}", rel(dir, path));
        layers.push(stage_layer_file(stage, path, diff_id, &what, n * 1000 + i)?);
    }
    store.add_image(&bytes, layers, refs)
}

/// `docker save`: manifest.json lists each image's config and layer files.
fn docker_images(dir: &Path, what: &str) -> Result<Vec<Found>> {
    let manifest = read_json(&dir.join("manifest.json"))?;
    let entries = manifest
        .as_array()
        .ok_or_else(|| Error::BadArchive(what.into(), "manifest.json is not a list".into()))?;
    let mut found = Vec::new();
    for entry in entries {
        let config = entry.get("Config").and_then(Value::as_str).ok_or_else(|| {
            Error::BadArchive(what.into(), "manifest entry without Config".into())
        })?;
        let layers = entry
            .get("Layers")
            .and_then(Value::as_array)
            .ok_or_else(|| Error::BadArchive(what.into(), "manifest entry without Layers".into()))?
            .iter()
            .map(|l| {
                let l = l.as_str().unwrap_or_default();
                Ok((inside(dir, l)?, digest_in_name(l)))
            })
            .collect::<Result<Vec<_>>>()?;
        let tags = entry
            .get("RepoTags")
            .and_then(Value::as_array)
            .map(|t| {
                t.iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        found.push(Found {
            config: inside(dir, config)?,
            config_digest: digest_in_name(config),
            layers,
            tags,
        });
    }
    Ok(found)
}

/// OCI layout: index.json → (nested index →) manifest → config + layers.
fn oci_images(dir: &Path, what: &str) -> Result<Vec<Found>> {
    let index = read_json(&dir.join("index.json"))?;
    let mut found = Vec::new();
    for entry in index
        .get("manifests")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let annotations = entry.get("annotations");
        let tag = [
            "io.containerd.image.name",
            "org.opencontainers.image.ref.name",
        ]
        .iter()
        .find_map(|k| annotations.and_then(|a| a.get(*k)).and_then(Value::as_str))
        .map(String::from);
        let manifest = resolve_manifest(dir, entry, what)?;
        let config_digest = manifest
            .pointer("/config/digest")
            .and_then(Value::as_str)
            .ok_or_else(|| Error::BadArchive(what.into(), "manifest without config".into()))?
            .to_string();
        let layers = manifest
            .get("layers")
            .and_then(Value::as_array)
            .ok_or_else(|| Error::BadArchive(what.into(), "manifest without layers".into()))?
            .iter()
            .map(|l| {
                let digest = l.get("digest").and_then(Value::as_str).unwrap_or_default();
                Ok((blob(dir, digest)?, Some(digest.to_string())))
            })
            .collect::<Result<Vec<_>>>()?;
        found.push(Found {
            config: blob(dir, &config_digest)?,
            config_digest: Some(config_digest),
            layers,
            tags: tag.into_iter().collect(),
        });
    }
    Ok(found)
}

/// Follows an index entry down to an image manifest, choosing linux/<this
/// arch> in nested indexes; every blob read is digest-checked.
fn resolve_manifest(dir: &Path, entry: &Value, what: &str) -> Result<Value> {
    let mut entry = entry.clone();
    for _ in 0..8 {
        let digest = entry
            .get("digest")
            .and_then(Value::as_str)
            .ok_or_else(|| Error::BadArchive(what.into(), "index entry without digest".into()))?
            .to_string();
        let path = blob(dir, &digest)?;
        crate::digest::verify_file(&path, &digest, "manifest")?;
        let value = read_json(&path)?;
        let media_type = value
            .get("mediaType")
            .or_else(|| entry.get("mediaType"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !INDEX_TYPES.contains(&media_type) && value.get("manifests").is_none() {
            return Ok(value);
        }
        let manifests = value
            .get("manifests")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        entry = pick_platform(&manifests)
            .ok_or_else(|| {
                Error::BadArchive(
                    what.into(),
                    format!("no linux/{} image in the index", crate::config::go_arch()),
                )
            })?
            .clone();
    }
    Err(Error::BadArchive(
        what.into(),
        "indexes nested too deep".into(),
    ))
}

/// The linux entry for this machine's architecture in an image index.
pub fn pick_platform(manifests: &[Value]) -> Option<&Value> {
    manifests
        .iter()
        .find(|m| {
            m.pointer("/platform/os").and_then(Value::as_str) == Some("linux")
                && m.pointer("/platform/architecture").and_then(Value::as_str)
                    == Some(crate::config::go_arch())
        })
        .or_else(|| match manifests {
            [only] if only.get("platform").is_none() => Some(only),
            _ => None,
        })
}

fn blob(dir: &Path, digest: &str) -> Result<PathBuf> {
    let hex = crate::digest::hex_of(digest)?;
    inside(dir, &format!("blobs/sha256/{hex}"))
}

/// `dir/rel`, refusing anything that resolves outside `dir` (an archive
/// may hold symlinks; docker's legacy format uses them for shared layers).
fn inside(dir: &Path, rel: &str) -> Result<PathBuf> {
    let path = dir.join(rel);
    let real = path.canonicalize().ctx("open", &path)?;
    let base = dir.canonicalize().ctx("open", dir)?;
    if !real.starts_with(&base) || rel.starts_with('/') {
        return Err(Error::unsafe_entry(rel, "points outside the archive"));
    }
    Ok(real)
}

/// `blobs/sha256/<hex>` names carry their digest; legacy names do not.
fn digest_in_name(name: &str) -> Option<String> {
    let hex = name.strip_prefix("blobs/sha256/")?;
    let digest = format!("sha256:{hex}");
    crate::digest::hex_of(&digest).ok()?;
    Some(digest)
}

/// The stored key for a RepoTag or annotation that is a full reference.
fn full_key(tag: &str) -> Option<String> {
    if !tag.contains(':') && !tag.contains('/') {
        return None;
    }
    Reference::parse(tag).ok().map(|r| r.key())
}

/// The tag part of an annotation (`latest` or `name:latest`).
fn tag_of(text: &str) -> Option<String> {
    match Reference::parse(text) {
        Ok(r) if text.contains(':') || text.contains('/') => r.tag,
        Ok(_) => Some(text.to_string()),
        Err(_) => None,
    }
}

fn read_json(path: &Path) -> Result<Value> {
    let bytes = std::fs::read(path).ctx("read", path)?;
    serde_json::from_slice(&bytes)
        .map_err(|e| Error::BadArchive(path.display().to_string(), e.to_string()))
}

fn rel(dir: &Path, path: &Path) -> String {
    let base = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    path.strip_prefix(&base)
        .unwrap_or(path)
        .display()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn platform_pick_prefers_linux_of_this_arch() {
        let manifests = vec![
            json!({"digest": "a", "platform": {"os": "linux", "architecture": "arm64"}}),
            json!({"digest": "b", "platform": {"os": "linux", "architecture": crate::config::go_arch()}}),
        ];
        assert_eq!(pick_platform(&manifests).unwrap()["digest"], "b");
    }

    #[test]
    fn tags_from_annotations() {
        assert_eq!(tag_of("latest").as_deref(), Some("latest"));
        assert_eq!(tag_of("reg:5000/a:v2").as_deref(), Some("v2"));
        assert_eq!(full_key("latest"), None);
        assert_eq!(full_key("busybox:1").as_deref(), Some("busybox:1"));
    }
}
