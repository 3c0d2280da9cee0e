//! The content-addressed store under `$HS_ROOT/images/`:
//!
//! ```text
//! blobs/sha256/<hex>    image configs (the id of an image is its config's digest),
//!                       and pulled layers not unpacked yet (their compressed blob)
//! layers/<hex>/         each layer extracted once, named by its diff id, shared
//! index.json            references (name:tag → id) and image entries, written atomically
//! lock                  flock taken by every change
//! tmp/<pid>-<start>-<n> staging of one running command, renamed into place
//! ```
//!
//! Readers (`resolve`, `list`) take no lock: every file they read is
//! replaced atomically, and a reference is written only after the layers
//! and config it points at are in place. A pulled layer is in place as its
//! verified blob: `unpack` extracts it on first use (see `Index::packed`).

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use serde::{Deserialize, Serialize};

use crate::config::{ImageConfig, RunConfig};
use crate::error::{Error, IoContext, Result};
use crate::reference::Reference;

// 2: layers may be packed (`Index::packed`); a tool that knows only 1
// would take them for missing.
const INDEX_VERSION: u32 = 2;

/// The whole of `index.json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Index {
    version: u32,
    /// Stored reference key (`repo:tag` or `repo@digest`) → image id.
    #[serde(default)]
    refs: BTreeMap<String, String>,
    #[serde(default)]
    images: BTreeMap<String, ImageEntry>,
    /// Diff id → bytes of the layer's uncompressed tar (of its blob while
    /// it is packed).
    #[serde(default)]
    layer_sizes: BTreeMap<String, u64>,
    /// Diff id → digest of the blob a pulled layer is kept in until its
    /// first use. A pull only downloads and verifies, as `skopeo copy`
    /// does; extracting is `unpack`'s, once, when something needs the
    /// layer's dir (`hs run`, `lowerdirs`, `export`) or `pull --unpack`.
    #[serde(default)]
    packed: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct ImageEntry {
    /// Diff ids, bottom layer first.
    layers: Vec<String>,
    /// Bytes of all layers (`Index::layer_sizes`).
    size: u64,
    created: Option<String>,
}

/// An image resolved for running: what `hs run IMAGE` needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageInfo {
    /// `sha256:<hex>` of the image config.
    pub id: String,
    /// The stored reference that matched, if it was not an id.
    pub reference: Option<String>,
    /// Layer directories for overlayfs, top layer first. Those of packed
    /// layers exist only once `unpack` has run.
    pub lowerdirs: Vec<PathBuf>,
    /// Diff ids of the layers still packed (see `Store::unpack`).
    pub packed: Vec<String>,
    /// Entrypoint, Cmd, Env, WorkingDir, User.
    pub config: RunConfig,
    pub size: u64,
    pub created: Option<String>,
}

/// One line of `ls`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageSummary {
    pub name: Option<String>,
    pub tag: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    pub id: String,
    pub size: u64,
    pub created: Option<String>,
}

/// What `remove` did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Removed {
    pub untagged: Vec<String>,
    pub deleted: Option<String>,
}

/// A layer ready to be added with an image.
#[derive(Debug)]
pub struct StagedLayer {
    pub diff_id: String,
    /// Bytes of its uncompressed tar (of its blob when packed).
    pub size: u64,
    pub content: LayerContent,
}

#[derive(Debug)]
pub enum LayerContent {
    /// In the store already (extracted or packed).
    Stored,
    /// Extracted into this staging dir.
    Extracted(PathBuf),
    /// A blob with a verified digest in this staging file, to be extracted
    /// on first use.
    Packed { file: PathBuf, digest: String },
}

impl StagedLayer {
    /// A layer the store already has.
    pub fn stored(diff_id: &str) -> StagedLayer {
        StagedLayer {
            diff_id: diff_id.into(),
            size: 0,
            content: LayerContent::Stored,
        }
    }
}

pub struct Store {
    dir: PathBuf,
}

impl Store {
    /// The store at `dir` (`$HS_ROOT/images`). Nothing is created until
    /// something is added.
    pub fn open(dir: &Path) -> Result<Store> {
        Ok(Store {
            dir: dir.to_path_buf(),
        })
    }

    /// `$HS_ROOT/images` (`HS_ROOT` defaults to `/var/lib/hs`).
    pub fn from_env() -> Result<Store> {
        let root = std::env::var_os("HS_ROOT")
            .filter(|r| !r.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/var/lib/hs"));
        Store::open(&root.join("images"))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The directory of the layer with diff id `diff_id`.
    pub fn layer_dir(&self, diff_id: &str) -> Result<PathBuf> {
        Ok(self
            .dir
            .join("layers")
            .join(crate::digest::hex_of(diff_id)?))
    }

    /// Whether the layer is stored, extracted or packed.
    pub fn has_layer(&self, diff_id: &str) -> bool {
        self.layer_dir(diff_id).is_ok_and(|d| d.is_dir())
            || self
                .read_index()
                .is_ok_and(|index| self.packed_blob(&index, diff_id).is_some())
    }

    /// The blob file of a packed layer, if it is one and the file is there.
    fn packed_blob(&self, index: &Index, diff_id: &str) -> Option<PathBuf> {
        let digest = index.packed.get(diff_id)?;
        self.blob_path(digest).ok().filter(|p| p.is_file())
    }

    fn blob_path(&self, digest: &str) -> Result<PathBuf> {
        Ok(self
            .dir
            .join("blobs/sha256")
            .join(crate::digest::hex_of(digest)?))
    }

    /// Resolves a reference (`name[:tag]`, `name@digest`, docker's short
    /// form, or an id / unique id prefix) to a runnable image.
    pub fn resolve(&self, reference: &str) -> Result<ImageInfo> {
        let index = self.read_index()?;
        let (id, matched) = find(&index, reference)?;
        let entry = index
            .images
            .get(&id)
            .ok_or_else(|| Error::NotFound(reference.into()))?;
        let config = self.config(&id)?;
        let mut packed = Vec::new();
        let mut lowerdirs = Vec::new();
        for d in entry.layers.iter().rev() {
            let dir = self.layer_dir(d)?;
            if !dir.is_dir() {
                if self.packed_blob(&index, d).is_none() {
                    return Err(Error::Store(
                        self.dir.display().to_string(),
                        format!("layer {d} of image {id} is missing"),
                    ));
                }
                packed.push(d.clone());
            }
            lowerdirs.push(dir);
        }
        Ok(ImageInfo {
            id,
            reference: matched,
            lowerdirs,
            packed,
            config: config.run,
            size: entry.size,
            created: entry.created.clone(),
        })
    }

    /// `resolve`, with every layer extracted: what needs the layer dirs
    /// themselves (running, exporting) calls this.
    pub fn resolve_unpacked(&self, reference: &str) -> Result<ImageInfo> {
        let info = self.resolve(reference)?;
        if info.packed.is_empty() {
            return Ok(info);
        }
        self.unpack(&info.id)?;
        self.resolve(&info.id)
    }

    /// The layer dirs of `reference`, top first (overlayfs lowerdir order),
    /// unpacked.
    pub fn lowerdirs(&self, reference: &str) -> Result<Vec<PathBuf>> {
        Ok(self.resolve_unpacked(reference)?.lowerdirs)
    }

    /// Extracts the packed layers of image `id` (a pull's blobs) into
    /// their layer dirs, checking each against its diff id, and deletes
    /// the blobs; returns how many it extracted. Under the lock, so two
    /// first runs of an image extract it once; a layer counts as soon as
    /// it is in place, so an interrupted unpack keeps what it finished.
    pub fn unpack(&self, id: &str) -> Result<usize> {
        let has_packed = |index: &Index| {
            index
                .images
                .get(id)
                .is_some_and(|e| e.layers.iter().any(|l| index.packed.contains_key(l)))
        };
        if !has_packed(&self.read_index()?) {
            return Ok(0);
        }
        let _lock = self.lock()?;
        let mut index = self.read_index()?;
        let layers = match index.images.get(id) {
            Some(entry) => entry.layers.clone(),
            None => return Err(Error::NotFound(id.into())),
        };
        let stage = self.stage()?;
        let mut unpacked = 0;
        for (n, diff_id) in layers.iter().enumerate() {
            let Some(digest) = index.packed.get(diff_id).cloned() else {
                continue;
            };
            let target = self.layer_dir(diff_id)?;
            if !target.is_dir() {
                let blob = self.blob_path(&digest)?;
                let what = format!("layer {digest} of image {id}");
                let layer = crate::import::stage_layer_file(&stage, &blob, diff_id, &what, n)?;
                if let LayerContent::Extracted(dir) = &layer.content {
                    std::fs::rename(dir, &target).ctx("store layer", &target)?;
                }
                index.layer_sizes.insert(diff_id.clone(), layer.size);
                unpacked += 1;
            }
            index.packed.remove(diff_id);
            refresh_sizes(&mut index);
            self.write_index(&index)?;
            let _ = std::fs::remove_file(self.blob_path(&digest)?);
        }
        Ok(unpacked)
    }

    /// The parsed config of image `id`.
    pub fn config(&self, id: &str) -> Result<ImageConfig> {
        let path = self.blob_path(id)?;
        let bytes = std::fs::read(&path).ctx("read image config", &path)?;
        ImageConfig::parse(&bytes, id)
    }

    /// Every reference (and every untagged image once), newest first.
    pub fn list(&self) -> Result<Vec<ImageSummary>> {
        let index = self.read_index()?;
        let mut out = Vec::new();
        let mut tagged = BTreeSet::new();
        for (key, id) in &index.refs {
            let Some(entry) = index.images.get(id) else {
                continue;
            };
            tagged.insert(id.clone());
            let (name, tag, digest) = crate::reference::split_key(key);
            out.push(ImageSummary {
                name: Some(name),
                tag,
                digest,
                id: id.clone(),
                size: entry.size,
                created: entry.created.clone(),
            });
        }
        for (id, entry) in &index.images {
            if !tagged.contains(id) {
                out.push(ImageSummary {
                    name: None,
                    tag: None,
                    digest: None,
                    id: id.clone(),
                    size: entry.size,
                    created: entry.created.clone(),
                });
            }
        }
        out.sort_by(|a, b| b.created.cmp(&a.created).then(a.name.cmp(&b.name)));
        Ok(out)
    }

    /// Everything known about one image, as `inspect` prints it.
    pub fn inspect(&self, reference: &str) -> Result<serde_json::Value> {
        let index = self.read_index()?;
        let info = self.resolve(reference)?;
        let refs: Vec<&String> = index
            .refs
            .iter()
            .filter(|(_, id)| **id == info.id)
            .map(|(key, _)| key)
            .collect();
        let config = self.config(&info.id)?;
        Ok(serde_json::json!({
            "id": info.id,
            "refs": refs,
            "size": info.size,
            "created": info.created,
            "layers": config.diff_ids,
            "lowerdirs": info.lowerdirs,
            "packed": info.packed,
            "config": config.value,
        }))
    }

    /// Removes a reference; the image itself goes with its last reference
    /// (or at once when given by id), unless a container record uses it
    /// and `force` is not set. Layers no other image uses are deleted.
    pub fn remove(&self, reference: &str, force: bool) -> Result<Removed> {
        let _lock = self.lock()?;
        let mut index = self.read_index()?;
        let (id, matched) = find(&index, reference)?;
        let mut removed = Removed::default();
        let mut doomed: Vec<String> = match &matched {
            Some(key) => vec![key.clone()],
            None => index
                .refs
                .iter()
                .filter(|(_, v)| **v == id)
                .map(|(k, _)| k.clone())
                .collect(),
        };
        let still_tagged = index
            .refs
            .iter()
            .any(|(k, v)| *v == id && !doomed.contains(k));
        if !still_tagged && !force {
            if let Some(container) = self.containers_using(&id).into_iter().next() {
                return Err(Error::InUse {
                    image: reference.into(),
                    container,
                });
            }
        }
        for key in &doomed {
            index.refs.remove(key);
        }
        removed.untagged.append(&mut doomed);
        let mut gone_layers = Vec::new();
        let mut gone_blobs = Vec::new();
        if !still_tagged {
            if let Some(entry) = index.images.remove(&id) {
                let in_use: BTreeSet<&String> = index
                    .images
                    .values()
                    .flat_map(|e| e.layers.iter())
                    .collect();
                gone_layers = entry
                    .layers
                    .into_iter()
                    .filter(|l| !in_use.contains(l))
                    .collect();
            }
            for layer in &gone_layers {
                index.layer_sizes.remove(layer);
                if let Some(digest) = index.packed.remove(layer) {
                    gone_blobs.push(digest);
                }
            }
            removed.deleted = Some(id.clone());
        }
        self.write_index(&index)?;
        if removed.deleted.is_some() {
            for blob in gone_blobs.iter().chain([&id]) {
                let _ = std::fs::remove_file(self.blob_path(blob)?);
            }
            let stage = self.stage()?;
            for layer in gone_layers {
                let dir = self.layer_dir(&layer)?;
                // Renamed out first so the layer vanishes at once, even if
                // deleting its files takes long or is interrupted.
                let aside = stage.path().join(crate::digest::hex_of(&layer)?);
                if std::fs::rename(&dir, &aside).is_ok() {
                    hs_common::trace::log("remove-layer", &dir.display().to_string());
                }
            }
            drop(stage);
        }
        Ok(removed)
    }

    /// Ids of the container records (hs-state, `$HS_ROOT/containers`)
    /// whose rootfs is image `id`.
    fn containers_using(&self, id: &str) -> Vec<String> {
        let Some(root) = self.dir.parent() else {
            return Vec::new();
        };
        let Ok(records) = hs_state::Store::open(root) else {
            return Vec::new();
        };
        records
            .list()
            .into_iter()
            .flatten()
            .filter(|r| matches!(&r.config.rootfs, hs_state::Rootfs::Image { id: used, .. } if used == id))
            .map(|r| r.id)
            .collect()
    }

    /// A fresh staging dir inside the store (same filesystem, so renames
    /// into place are atomic); removed with everything in it on drop.
    /// Staging dirs of dead processes are swept first.
    pub fn stage(&self) -> Result<Stage> {
        let tmp = self.dir.join("tmp");
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let pid = std::process::id();
        let start = hs_common::proc::stat(pid as i32).map_or(0, |s| s.start_time);
        let path = tmp.join(format!(
            "{pid}-{start}-{}",
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        // Another command's drop may remove an empty tmp/ between the two
        // calls (see `Stage::drop`): make it again then.
        let mut tries = 0;
        loop {
            std::fs::create_dir_all(&tmp).ctx("create", &tmp)?;
            match std::fs::create_dir(&path) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && tries < 5 => tries += 1,
                result => break result.ctx("create", &path)?,
            }
        }
        sweep_stale(&tmp);
        Ok(Stage {
            path,
            store: self.dir.clone(),
        })
    }

    /// Makes an image visible: moves its staged layers (dirs or packed
    /// blobs) into place (a layer that appeared meanwhile wins, the staged
    /// copy is dropped), writes the config blob, then the index entry and
    /// the references.
    pub fn add_image(
        &self,
        config: &[u8],
        layers: Vec<StagedLayer>,
        refs: &[String],
    ) -> Result<String> {
        let id = crate::digest::of_bytes(config);
        let parsed = ImageConfig::parse(config, &id)?;
        let diff_ids: Vec<&String> = layers.iter().map(|l| &l.diff_id).collect();
        if parsed.diff_ids.iter().collect::<Vec<_>>() != diff_ids {
            return Err(Error::BadConfig(
                id,
                "layers do not match rootfs.diff_ids".into(),
            ));
        }
        for sub in ["blobs/sha256", "layers"] {
            let d = self.dir.join(sub);
            std::fs::create_dir_all(&d).ctx("create", &d)?;
        }
        let _lock = self.lock()?;
        let mut index = self.read_index()?;
        let mut size = 0;
        for layer in &layers {
            let known = index.layer_sizes.get(&layer.diff_id).copied();
            let layer_size = known.unwrap_or(layer.size);
            index.layer_sizes.insert(layer.diff_id.clone(), layer_size);
            size += layer_size;
            let target = self.layer_dir(&layer.diff_id)?;
            if target.is_dir() || self.packed_blob(&index, &layer.diff_id).is_some() {
                continue;
            }
            match &layer.content {
                LayerContent::Extracted(staged) => {
                    std::fs::rename(staged, &target).ctx("store layer", &target)?
                }
                LayerContent::Packed { file, digest } => {
                    let blob = self.blob_path(digest)?;
                    std::fs::rename(file, &blob).ctx("store layer blob", &blob)?;
                    index.packed.insert(layer.diff_id.clone(), digest.clone());
                }
                LayerContent::Stored => {
                    return Err(Error::Store(
                        self.dir.display().to_string(),
                        format!("layer {} was removed meanwhile; try again", layer.diff_id),
                    ))
                }
            }
        }
        let blob = self.blob_path(&id)?;
        hs_common::atomic::write_atomic(&blob, config).ctx("write", &blob)?;
        index.images.insert(
            id.clone(),
            ImageEntry {
                layers: parsed.diff_ids.clone(),
                size,
                created: parsed.created.clone(),
            },
        );
        for key in refs {
            index.refs.insert(key.clone(), id.clone());
        }
        self.write_index(&index)?;
        hs_common::trace::log("add-image", &format!("{id} {refs:?}"));
        Ok(id)
    }

    /// An exclusive flock on the store, held until dropped.
    pub fn lock(&self) -> Result<nix::fcntl::Flock<File>> {
        std::fs::create_dir_all(&self.dir).ctx("create", &self.dir)?;
        let path = self.dir.join("lock");
        let file = File::create(&path).ctx("open", &path)?;
        nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive)
            .map_err(|(_, e)| Error::io("lock", &path, e.into()))
    }

    fn read_index(&self) -> Result<Index> {
        let path = self.dir.join("index.json");
        match std::fs::read(&path) {
            Ok(bytes) => {
                let index: Index = serde_json::from_slice(&bytes)
                    .map_err(|e| Error::Store(path.display().to_string(), e.to_string()))?;
                if index.version > INDEX_VERSION {
                    return Err(Error::Store(
                        path.display().to_string(),
                        format!("index version {} is newer than this tool", index.version),
                    ));
                }
                Ok(index)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Index {
                version: INDEX_VERSION,
                ..Index::default()
            }),
            Err(e) => Err(Error::io("read", &path, e)),
        }
    }

    fn write_index(&self, index: &Index) -> Result<()> {
        let path = self.dir.join("index.json");
        let mut index = index.clone();
        index.version = INDEX_VERSION;
        let bytes = serde_json::to_vec_pretty(&index)
            .map_err(|e| Error::Store(path.display().to_string(), e.to_string()))?;
        hs_common::atomic::write_atomic(&path, &bytes).ctx("write", &path)
    }
}

/// Recomputes each image's size from its layers' (a layer's changes when
/// it is unpacked).
fn refresh_sizes(index: &mut Index) {
    for entry in index.images.values_mut() {
        entry.size = entry
            .layers
            .iter()
            .filter_map(|l| index.layer_sizes.get(l))
            .sum();
    }
}

/// Finds `reference` in the index: exact key, `:latest` added, docker's
/// normalized form, then an id or unique id prefix.
fn find(index: &Index, reference: &str) -> Result<(String, Option<String>)> {
    if let Ok(parsed) = Reference::parse(reference) {
        for key in [parsed.key(), parsed.normalized().key()] {
            if let Some(id) = index.refs.get(&key) {
                return Ok((id.clone(), Some(key)));
            }
        }
    }
    let hex = reference.strip_prefix("sha256:").unwrap_or(reference);
    if hex.len() >= 4 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        let matches: Vec<&String> = index
            .images
            .keys()
            .filter(|id| id.trim_start_matches("sha256:").starts_with(hex))
            .collect();
        match matches.as_slice() {
            [one] => return Ok(((*one).clone(), None)),
            [] => {}
            _ => return Err(Error::Ambiguous(reference.into())),
        }
    }
    Err(Error::NotFound(reference.into()))
}

/// Removes staging dirs whose process is gone (an interrupted command).
fn sweep_stale(tmp: &Path) {
    let Ok(entries) = std::fs::read_dir(tmp) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let mut parts = name.split('-');
        let (Some(pid), Some(start)) = (parts.next(), parts.next()) else {
            continue;
        };
        let (Ok(pid), Ok(start)) = (pid.parse::<i32>(), start.parse::<u64>()) else {
            continue;
        };
        if !hs_common::proc::is_alive(pid, start) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// A staging dir, removed with its content when dropped.
pub struct Stage {
    path: PathBuf,
    store: PathBuf,
}

impl Stage {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Stage {
    /// Also removes `tmp/` and the store dir when they are left empty, so
    /// a failed first command leaves `$HS_ROOT` as it found it (rmdir only
    /// ever removes an empty dir, so this cannot take anything else along).
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
        let _ = std::fs::remove_dir(self.store.join("tmp"));
        let _ = std::fs::remove_dir(&self.store);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index_with(refs: &[(&str, &str)]) -> Index {
        let mut index = Index::default();
        for (key, id) in refs {
            index.refs.insert(key.to_string(), id.to_string());
            index.images.insert(
                id.to_string(),
                ImageEntry {
                    layers: vec![],
                    size: 0,
                    created: None,
                },
            );
        }
        index
    }

    #[test]
    fn name_without_tag_finds_latest() {
        let id = crate::digest::of_bytes(b"a");
        let index = index_with(&[("bb:latest", &id)]);
        assert_eq!(find(&index, "bb").unwrap(), (id, Some("bb:latest".into())));
    }

    #[test]
    fn short_docker_name_finds_normalized_ref() {
        let id = crate::digest::of_bytes(b"a");
        let index = index_with(&[("docker.io/library/busybox:latest", &id)]);
        assert_eq!(find(&index, "busybox").unwrap().0, id);
    }

    #[test]
    fn id_prefix_finds_image() {
        let id = crate::digest::of_bytes(b"a");
        let index = index_with(&[("x:1", &id)]);
        assert_eq!(find(&index, &id[7..19]).unwrap(), (id.clone(), None));
        assert_eq!(find(&index, &id).unwrap(), (id, None));
    }

    #[test]
    fn unknown_reference_is_not_found() {
        let index = index_with(&[]);
        assert!(matches!(find(&index, "nope"), Err(Error::NotFound(_))));
    }

    #[test]
    fn staging_dir_is_removed_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let stage = store.stage().unwrap();
        let path = stage.path().to_path_buf();
        std::fs::write(path.join("x"), b"x").unwrap();
        drop(stage);
        assert!(!path.exists());
    }

    #[test]
    fn stale_staging_dir_of_dead_process_is_swept() {
        let dir = tempfile::tempdir().unwrap();
        let stale = dir.path().join("tmp/999999999-1-0");
        std::fs::create_dir_all(&stale).unwrap();
        let store = Store::open(dir.path()).unwrap();
        let _stage = store.stage().unwrap();
        assert!(!stale.exists());
    }
}
