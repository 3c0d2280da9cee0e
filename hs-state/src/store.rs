//! The record store under `$HS_ROOT`: `containers/<id>/` holds a record,
//! `names/<name>` is a symlink to the id that reserves the name, and `lock`
//! is the store's flock.
//!
//! Reads take no lock: every file is replaced atomically, so a reader sees
//! the old or the new version. Writers that must see each other (name
//! reservation, state updates, removal) hold the store lock.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use hs_common::atomic::Durability;
use nix::fcntl::{Flock, FlockArg};

use crate::error::{Error, IoContext, Result};
use crate::ident::{generated_name, is_full_id, is_hex, new_id, validate_name};
use crate::record::{self, BrokenRecord, ConfigFileOut, Record, CONFIG_FILE, STATE_FILE};
use crate::schema::{Config, State};

/// One record as read: gone (`Err`), broken, or whole.
type ReadResult = Result<std::result::Result<Record, BrokenRecord>>;

/// `$HS_ROOT` when the environment does not say otherwise.
pub const DEFAULT_ROOT: &str = "/var/lib/hs";

/// Staging directories of records being created, and records being
/// removed, are hidden under these prefixes in `containers/`.
const STAGING_PREFIX: &str = ".new-";
const REMOVING_PREFIX: &str = ".rm-";

/// The result of `create`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Created {
    pub id: String,
    pub name: String,
}

/// Holds the store's exclusive flock until dropped.
#[derive(Debug)]
pub struct LockGuard {
    _lock: Flock<File>,
}

#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

impl Store {
    /// The store at `root`. Nothing is created until something is written,
    /// so reading an empty store changes nothing on disk.
    pub fn open(root: &Path) -> Result<Store> {
        match std::fs::metadata(root) {
            Ok(meta) if !meta.is_dir() => Err(Error::io(
                "open store",
                root,
                std::io::Error::from_raw_os_error(libc::ENOTDIR),
            )),
            _ => Ok(Store {
                root: root.to_path_buf(),
            }),
        }
    }

    /// The store at `$HS_ROOT`, default `/var/lib/hs`.
    pub fn from_env() -> Result<Store> {
        let root = std::env::var_os("HS_ROOT")
            .filter(|r| !r.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_ROOT));
        Store::open(&root)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `containers/<id>`, whether or not it exists.
    pub fn container_dir(&self, id: &str) -> PathBuf {
        self.containers().join(id)
    }

    fn containers(&self) -> PathBuf {
        self.root.join("containers")
    }

    fn names(&self) -> PathBuf {
        self.root.join("names")
    }

    /// Takes the store's exclusive lock (blocking). `create`, `update` and
    /// `remove` take it themselves: calling them while this process holds
    /// a guard would wait forever (flock locks belong to the open file).
    pub fn lock(&self) -> Result<LockGuard> {
        mkdir_all(&self.root)?;
        let path = self.root.join("lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .custom_flags(libc::O_CLOEXEC)
            .open(&path)
            .ctx("open lock file", &path)?;
        let lock = Flock::lock(file, FlockArg::LockExclusive)
            .map_err(|(_, errno)| Error::io("lock", &path, errno.into()))?;
        Ok(LockGuard { _lock: lock })
    }

    /// Creates a record with status `created`, reserving `name` (or a
    /// generated one). The record appears whole or not at all: it is
    /// written to a hidden staging directory, fsynced (unless it is a `--rm`
    /// record, see [`durability`]), and renamed into place under the lock
    /// right after its name is reserved.
    pub fn create(&self, config: &Config, name: Option<&str>) -> Result<Created> {
        self.create_as(&new_id()?, config, name)
    }

    /// [`Store::create`] under an id the caller drew beforehand
    /// ([`crate::ident::new_id`]): hs starts a container's monitor while it
    /// writes the record, and the monitor's arguments name the id. An id
    /// that is not a full one, or is taken, is refused.
    pub fn create_as(&self, id: &str, config: &Config, name: Option<&str>) -> Result<Created> {
        if !is_full_id(id) {
            return Err(Error::InvalidId { id: id.to_string() });
        }
        // Checked again by the rename (a record directory is never empty).
        if self.container_dir(id).symlink_metadata().is_ok() {
            return Err(Error::IdInUse { id: id.to_string() });
        }
        if let Some(name) = name {
            validate_name(name)?;
            // Checked again under the lock; this spares a doomed create its
            // writes and fsyncs.
            if let Some(owner) = self.name_owner(name) {
                return Err(Error::NameInUse {
                    name: name.to_string(),
                    id: owner,
                });
            }
        }
        let containers = self.containers();
        mkdir_all(&containers)?;
        mkdir_all(&self.names())?;

        let id = id.to_string();
        let staging = containers.join(format!("{STAGING_PREFIX}{id}"));
        let mut attempt = 0;
        let mut chosen = match name {
            Some(name) => name.to_string(),
            None => self.free_generated_name(&mut attempt)?,
        };
        let durability = durability(config);
        let result = (|| {
            self.stage(&staging, &id, &chosen, config, durability)?;
            let _lock = self.lock()?;
            loop {
                match self.reserve_name(&chosen, &id) {
                    Ok(()) => break,
                    // Someone took the generated name since we picked it.
                    Err(Error::NameInUse { .. }) if name.is_none() => {
                        chosen = self.free_generated_name(&mut attempt)?;
                        write_file(
                            &staging.join(CONFIG_FILE),
                            &config_json(&id, &chosen, config),
                        )?;
                    }
                    Err(e) => return Err(e),
                }
            }
            let dir = self.container_dir(&id);
            if let Err(e) = std::fs::rename(&staging, &dir) {
                self.release_name(&chosen, &id);
                return Err(Error::io("create", dir, e));
            }
            // Both changes are made before either sync, so they share one
            // journal commit. A crash before it loses the record and keeps
            // at most a name link to nothing, which counts as free.
            let names = self.names();
            hs_common::atomic::sync_dir_if(&names, durability).ctx("sync", &names)?;
            hs_common::atomic::sync_dir_if(&containers, durability).ctx("sync", &containers)
        })();
        if result.is_err() {
            let _ = std::fs::remove_dir_all(&staging);
        }
        result.map(|()| Created { id, name: chosen })
    }

    /// Writes a complete record into `staging` and makes it durable if
    /// asked.
    ///
    /// Every entry is made before anything is synced: the first fsync then
    /// commits all the metadata in one journal transaction and the later
    /// ones have little left to do.
    fn stage(
        &self,
        staging: &Path,
        id: &str,
        name: &str,
        config: &Config,
        durability: Durability,
    ) -> Result<()> {
        mkdir(staging, 0o711)?;
        let config_path = staging.join(CONFIG_FILE);
        let config_file = write_file(&config_path, &config_json(id, name, config))?;
        let state_path = staging.join(STATE_FILE);
        let state_file = write_file(&state_path, &record::to_json(&State::new()))?;
        // The writable layer: overlay's upper and work dirs (hs-overlay
        // makes their per-mirror subdirs).
        mkdir(&staging.join("upper"), 0o755)?;
        mkdir(&staging.join("work"), 0o700)?;
        if durability == Durability::Unsynced {
            return Ok(());
        }
        // Start both files' writeback before waiting on either: the first
        // fsync's journal commit then carries both, and the second finds
        // little left to do.
        start_writeback(&config_file);
        start_writeback(&state_file);
        config_file.sync_all().ctx("sync", config_path)?;
        state_file.sync_all().ctx("sync", state_path)?;
        hs_common::atomic::sync_dir(staging).ctx("sync", staging)
    }

    fn free_generated_name(&self, attempt: &mut u32) -> Result<String> {
        loop {
            let name = generated_name(*attempt)?;
            *attempt += 1;
            if self.names().join(&name).symlink_metadata().is_err() {
                return Ok(name);
            }
        }
    }

    /// Reserves `name` for `id` (caller holds the lock and syncs `names/`).
    /// A name whose container no longer exists (a create that crashed
    /// half-way) is free.
    fn reserve_name(&self, name: &str, id: &str) -> Result<()> {
        let names = self.names();
        let link = names.join(name);
        for _ in 0..2 {
            match std::os::unix::fs::symlink(Path::new("../containers").join(id), &link) {
                Ok(()) => return Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    match self.name_owner(name) {
                        Some(owner) => {
                            return Err(Error::NameInUse {
                                name: name.to_string(),
                                id: owner,
                            })
                        }
                        None => {
                            let _ = std::fs::remove_file(&link);
                        }
                    }
                }
                Err(e) => return Err(Error::io("reserve name", link, e)),
            }
        }
        Err(Error::NameInUse {
            name: name.to_string(),
            id: self.name_target(name).unwrap_or_default(),
        })
    }

    /// The container that holds `name`: its link points at an existing
    /// record directory.
    fn name_owner(&self, name: &str) -> Option<String> {
        self.name_target(name)
            .filter(|id| is_full_id(id) && self.container_dir(id).is_dir())
    }

    /// Frees `name` if it is reserved for `id` (caller holds the lock).
    fn release_name(&self, name: &str, id: &str) {
        if self.name_target(name).as_deref() == Some(id) {
            let _ = std::fs::remove_file(self.names().join(name));
        }
    }

    /// The id `names/<name>` points at (the link is `../containers/<id>`,
    /// so it can be followed by people too).
    fn name_target(&self, name: &str) -> Option<String> {
        link_id(&self.names().join(name))
    }

    /// The id a reference means: a full id, a name, or a unique id prefix
    /// (in that order, like docker).
    pub fn resolve(&self, reference: &str) -> Result<String> {
        let not_found = || Error::NotFound {
            reference: reference.to_string(),
        };
        if is_full_id(reference) && self.container_dir(reference).is_dir() {
            return Ok(reference.to_string());
        }
        if validate_name(reference).is_ok() {
            if let Some(id) = self.name_owner(reference) {
                return Ok(id);
            }
        }
        if !is_hex(reference) {
            return Err(not_found());
        }
        let mut candidates: Vec<String> = self
            .ids()?
            .into_iter()
            .filter(|id| id.starts_with(reference))
            .collect();
        match candidates.len() {
            0 => Err(not_found()),
            1 => Ok(candidates.remove(0)),
            _ => {
                candidates.sort();
                Err(Error::Ambiguous {
                    reference: reference.to_string(),
                    candidates,
                })
            }
        }
    }

    /// The ids of every record directory (broken ones included).
    fn ids(&self) -> Result<Vec<String>> {
        let containers = self.containers();
        let entries = match std::fs::read_dir(&containers) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io("read", containers, e)),
        };
        let mut ids = Vec::new();
        for entry in entries {
            let entry = entry.ctx("read", &containers)?;
            if let Some(name) = entry.file_name().to_str() {
                if is_full_id(name) {
                    ids.push(name.to_string());
                }
            }
        }
        Ok(ids)
    }

    /// The record `id` (a full id, see `resolve`); a damaged record is
    /// `Error::Broken`.
    pub fn get(&self, id: &str) -> Result<Record> {
        if !is_full_id(id) {
            return Err(Error::NotFound {
                reference: id.to_string(),
            });
        }
        let mut reader = self.reader(id)?;
        Ok(reader.read(id)??)
    }

    /// A reader of `containers/`; its absence means `reference` (the
    /// record the caller looks for) does not exist.
    fn reader(&self, reference: &str) -> Result<record::Reader> {
        let containers = self.containers();
        record::Reader::open(&containers).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::NotFound {
                reference: reference.to_string(),
            },
            _ => Error::io("open", containers, e),
        })
    }

    /// Changes the state of record `id` under the store lock and writes it
    /// atomically; returns the new state.
    pub fn update<F: FnOnce(&mut State)>(&self, id: &str, change: F) -> Result<State> {
        let _lock = self.lock()?;
        let dir = self.container_dir(id);
        if !is_full_id(id) || !dir.is_dir() {
            return Err(Error::NotFound {
                reference: id.to_string(),
            });
        }
        let mut state = record::read_state(&dir).map_err(|reason| Error::Broken {
            id: id.to_string(),
            reason,
        })?;
        change(&mut state);
        // An unreadable config cannot say the record is throw-away.
        let durability = record::read_config(&dir)
            .map(|config| durability(&config))
            .unwrap_or(Durability::Synced);
        record::write_state(&dir, &state, durability)?;
        Ok(state)
    }

    /// Every record, newest first, then the broken ones; an unreadable
    /// store lists as empty (see [`Store::try_list`]).
    pub fn list(&self) -> Vec<std::result::Result<Record, BrokenRecord>> {
        self.try_list().unwrap_or_default()
    }

    /// Every record, newest first, then the broken ones. No lock is taken
    /// and each record costs two small reads (plus one /proc read when
    /// liveness is asked), so listing stays cheap with many records.
    pub fn try_list(&self) -> Result<Vec<std::result::Result<Record, BrokenRecord>>> {
        let ids = self.ids()?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut records = Vec::with_capacity(ids.len());
        let mut broken = Vec::new();
        for read in self.read_all(&ids)? {
            match read {
                Ok(Ok(record)) => records.push(record),
                Ok(Err(b)) => broken.push(b),
                // Removed while we listed.
                Err(_) => {}
            }
        }
        records.sort_by(|a, b| {
            b.config
                .created
                .cmp(&a.config.created)
                .then_with(|| a.id.cmp(&b.id))
        });
        broken.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(records
            .into_iter()
            .map(Ok)
            .chain(broken.into_iter().map(Err))
            .collect())
    }

    /// Reads the records `ids`, in order. Thousands of records are read by
    /// a few threads (the work is independent syscalls and parsing), a few
    /// by this thread alone.
    fn read_all(&self, ids: &[String]) -> Result<Vec<ReadResult>> {
        const PER_THREAD: usize = 1024;
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(4)
            .min(ids.len().div_ceil(PER_THREAD));
        let read_chunk = |chunk: &[String]| -> Result<Vec<ReadResult>> {
            let mut reader = self.reader("")?;
            Ok(chunk.iter().map(|id| reader.read(id)).collect())
        };
        if threads <= 1 {
            return read_chunk(ids);
        }
        std::thread::scope(|scope| {
            let handles: Vec<_> = ids
                .chunks(ids.len().div_ceil(threads))
                .map(|chunk| {
                    let handle =
                        std::thread::Builder::new().spawn_scoped(scope, move || read_chunk(chunk));
                    (chunk, handle)
                })
                .collect();
            let mut all = Vec::with_capacity(ids.len());
            for (chunk, handle) in handles {
                // A thread that could not start (or died) costs speed only.
                let part = match handle.map(|h| h.join()) {
                    Ok(Ok(part)) => part?,
                    _ => read_chunk(chunk)?,
                };
                all.extend(part);
            }
            Ok(all)
        })
    }

    /// Removes record `id` with its writable layer and frees its name.
    /// Refuses a running container, and a directory with anything mounted
    /// below it (deleting through a mount would delete someone's data). A
    /// broken record is removed too.
    pub fn remove(&self, id: &str) -> Result<()> {
        self.unlist(id)?;
        self.purge(id)
    }

    /// The first half of [`Store::remove`]: the record disappears (from
    /// `get`, `ls`, `resolve`) and its name is free at once, with the same
    /// refusals; its directory, writable layer included, waits out of sight
    /// for [`Store::purge`]. For a caller that must return quickly while
    /// another process deletes (`hs run --rm`).
    pub fn unlist(&self, id: &str) -> Result<()> {
        let _lock = self.lock()?;
        let dir = self.container_dir(id);
        if !is_full_id(id) || !dir.is_dir() {
            return Err(Error::NotFound {
                reference: id.to_string(),
            });
        }
        let mut durability = Durability::Synced;
        let name = match self.reader(id)?.read(id)? {
            Ok(record) if record.live_status() == crate::schema::Status::Running => {
                return Err(Error::Running { id: id.to_string() })
            }
            Ok(record) => {
                durability = self::durability(&record.config);
                Some(record.name)
            }
            // A broken config does not make a live container removable.
            Err(_) => match record::read_state(&dir) {
                Ok(state) if record::live_status(&state) == crate::schema::Status::Running => {
                    return Err(Error::Running { id: id.to_string() })
                }
                _ => None,
            },
        };
        if let Some(mount) = mount_below(&dir) {
            return Err(Error::Mounted {
                id: id.to_string(),
                mount,
            });
        }
        match name {
            Some(name) => self.release_name(&name, id),
            None => self.release_names_of(id),
        }
        // Out of sight first, so the record is gone at once even if
        // deleting a big upper layer takes a while.
        let doomed = self.unlisted_dir(id);
        std::fs::rename(&dir, &doomed).ctx("remove", &dir)?;
        let containers = self.containers();
        hs_common::atomic::sync_dir_if(&containers, durability).ctx("sync", &containers)
    }

    /// Deletes what [`Store::unlist`] left of record `id`; nothing to do
    /// (or a concurrent purge of the same id) is not an error.
    pub fn purge(&self, id: &str) -> Result<()> {
        if !is_full_id(id) {
            return Ok(());
        }
        let doomed = self.unlisted_dir(id);
        match std::fs::remove_dir_all(&doomed) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(Error::io("remove", doomed, e))
            }
            _ => Ok(()),
        }
    }

    /// Deletes what interrupted creates and removals left: staging
    /// (`.new-*`) and unlisted (`.rm-*`) directories whose last change (the
    /// mkdir or rename that named them, or a file added at their top) is
    /// older than `quiet_for`, so that a create at work is left alone (a
    /// purge at work loses nothing: the directory is doomed, and deleting
    /// it twice at once is safe). A directory with a mount below it is
    /// kept, as by [`Store::remove`]. Returns the names deleted.
    pub fn sweep(&self, quiet_for: std::time::Duration) -> Result<Vec<String>> {
        use std::os::unix::fs::MetadataExt;
        let containers = self.containers();
        let entries = match std::fs::read_dir(&containers) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            other => other.ctx("read", &containers)?,
        };
        let now = std::time::SystemTime::now();
        let mut swept = Vec::new();
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !(name.starts_with(STAGING_PREFIX) || name.starts_with(REMOVING_PREFIX)) {
                continue;
            }
            let path = entry.path();
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            let changed = std::time::UNIX_EPOCH
                + std::time::Duration::new(meta.ctime().max(0) as u64, meta.ctime_nsec() as u32);
            let quiet = now.duration_since(changed).unwrap_or_default();
            if !meta.is_dir() || quiet < quiet_for || mount_below(&path).is_some() {
                continue;
            }
            match std::fs::remove_dir_all(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(Error::io("remove", path, e))
                }
                _ => swept.push(name),
            }
        }
        Ok(swept)
    }

    fn unlisted_dir(&self, id: &str) -> PathBuf {
        self.containers().join(format!("{REMOVING_PREFIX}{id}"))
    }

    /// Frees every name reserved for `id` (when its config is unreadable).
    fn release_names_of(&self, id: &str) {
        let Ok(entries) = std::fs::read_dir(self.names()) else {
            return;
        };
        for entry in entries.flatten() {
            if link_id(&entry.path()).as_deref() == Some(id) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}

/// Whether a record's writes are fsynced. A `--rm` record (auto_remove) is
/// deleted when its container ends, so a crash that loses it loses nothing
/// worth keeping; skipping its fsyncs takes most of the cost out of creating,
/// updating and removing it (5 + 2 + 1 fsyncs a run). Its writes stay atomic.
fn durability(config: &Config) -> Durability {
    if config.auto_remove {
        Durability::Unsynced
    } else {
        Durability::Synced
    }
}

/// The id at the end of a name link's target.
fn link_id(link: &Path) -> Option<String> {
    let target = std::fs::read_link(link).ok()?;
    target.file_name()?.to_str().map(str::to_string)
}

fn config_json(id: &str, name: &str, config: &Config) -> Vec<u8> {
    record::to_json(&ConfigFileOut { id, name, config })
}

/// Writes a new file in a staging directory nobody else sees (so no
/// temp-and-rename is needed there); the caller syncs it.
fn write_file(path: &Path, bytes: &[u8]) -> Result<File> {
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .open(path)
        .ctx("create", path)?;
    file.write_all(bytes).ctx("write", path)?;
    Ok(file)
}

/// Asks the kernel to start writing `file` out now (a hint: the fsync
/// that follows is what guarantees durability).
fn start_writeback(file: &File) {
    use std::os::fd::AsRawFd;
    // SAFETY: a valid open fd; the call only schedules I/O.
    unsafe {
        libc::sync_file_range(file.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE);
    }
}

fn mkdir(path: &Path, mode: u32) -> Result<()> {
    DirBuilder::new()
        .mode(mode)
        .create(path)
        .ctx("create directory", path)
}

fn mkdir_all(path: &Path) -> Result<()> {
    DirBuilder::new()
        .recursive(true)
        .mode(0o711)
        .create(path)
        .ctx("create directory", path)
}

/// The first mount point at or below `dir` in this mount namespace.
fn mount_below(dir: &Path) -> Option<String> {
    let dir = dir.canonicalize().ok()?;
    let mountinfo = hs_common::mountinfo::read().ok()?;
    hs_common::mountinfo::mount_points_under(&mountinfo, &dir)
        .first()
        .map(|mount| mount.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{ProcessRef, Rootfs, Status, SCHEMA_VERSION};

    fn config(created_secs: i64) -> Config {
        Config {
            env: vec!["A=1".into()],
            created: chrono::DateTime::from_timestamp(created_secs, 0).unwrap(),
            ..Config::new(
                vec!["sh".into(), "-c".into(), "echo hi".into()],
                Rootfs::Host { dirs: None },
            )
        }
    }

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("root")).unwrap();
        (dir, store)
    }

    fn running_as(store: &Store, id: &str, init: ProcessRef) {
        store
            .update(id, |s| {
                s.status = Status::Running;
                s.init = Some(init);
            })
            .unwrap();
    }

    #[test]
    fn create_then_get_round_trips_the_config() {
        let (_tmp, store) = store();
        let created = store.create(&config(100), Some("web")).unwrap();
        assert_eq!(created.name, "web");
        let record = store.get(&created.id).unwrap();
        assert_eq!(record.config, config(100));
        assert_eq!(record.name, "web");
        assert_eq!(record.state, State::new());
        assert_eq!(record.live_status(), Status::Created);
        assert!(record.dir.join("upper").is_dir());
        assert!(record.dir.join("work").is_dir());
    }

    #[test]
    fn sweep_deletes_leftovers_of_interrupted_creates_and_removals_only() {
        let (_tmp, store) = store();
        let kept = store.create(&config(1), Some("kept")).unwrap();
        for leftover in [".new-aaaa", ".rm-bbbb/upper/etc"] {
            std::fs::create_dir_all(store.containers().join(leftover)).unwrap();
        }
        // Fresh ones may be a create or a purge at work: left alone.
        assert!(store
            .sweep(std::time::Duration::from_secs(60))
            .unwrap()
            .is_empty());
        let mut swept = store.sweep(std::time::Duration::ZERO).unwrap();
        swept.sort();
        assert_eq!(swept, [".new-aaaa", ".rm-bbbb"]);
        let left: Vec<_> = std::fs::read_dir(store.containers())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(left, [kept.id.as_str()]);
        assert_eq!(store.get(&kept.id).unwrap().name, "kept");
    }

    #[test]
    fn create_leaves_no_staging_directory() {
        let (_tmp, store) = store();
        store.create(&config(1), None).unwrap();
        let entries: Vec<_> = std::fs::read_dir(store.containers()).unwrap().collect();
        assert_eq!(entries.len(), 1);
    }

    #[test]
    fn duplicate_name_is_refused_and_leaves_nothing() {
        let (_tmp, store) = store();
        let first = store.create(&config(1), Some("db")).unwrap();
        let err = store.create(&config(2), Some("db")).unwrap_err();
        assert!(
            matches!(err, Error::NameInUse { ref id, .. } if *id == first.id),
            "{err}"
        );
        assert_eq!(store.list().len(), 1);
        assert_eq!(std::fs::read_dir(store.containers()).unwrap().count(), 1);
    }

    #[test]
    fn create_as_takes_the_id_given_and_refuses_a_bad_or_taken_one() {
        let (_tmp, store) = store();
        let id = new_id().unwrap();
        let created = store.create_as(&id, &config(1), Some("given")).unwrap();
        assert_eq!(created.id, id);
        assert_eq!(store.get(&id).unwrap().name, "given");
        let taken = store.create_as(&id, &config(2), Some("other")).unwrap_err();
        assert!(matches!(taken, Error::IdInUse { .. }), "{taken}");
        let bad = store.create_as("abc", &config(2), None).unwrap_err();
        assert!(matches!(bad, Error::InvalidId { .. }), "{bad}");
        assert_eq!(store.list().len(), 1);
        assert!(store.name_owner("other").is_none());
    }

    #[test]
    fn invalid_name_creates_nothing() {
        let (_tmp, store) = store();
        let err = store.create(&config(1), Some("-bad")).unwrap_err();
        assert!(matches!(err, Error::InvalidName { .. }), "{err}");
        assert!(!store.root().exists());
    }

    #[test]
    fn generated_names_are_distinct_and_valid() {
        let (_tmp, store) = store();
        let a = store.create(&config(1), None).unwrap();
        let b = store.create(&config(1), None).unwrap();
        assert_ne!(a.name, b.name);
        crate::ident::validate_name(&a.name).unwrap();
    }

    #[test]
    fn name_of_a_vanished_container_is_free_again() {
        let (_tmp, store) = store();
        mkdir_all(&store.names()).unwrap();
        let ghost = Path::new("../containers").join("0".repeat(64));
        std::os::unix::fs::symlink(ghost, store.names().join("ghost")).unwrap();
        let created = store.create(&config(1), Some("ghost")).unwrap();
        assert_eq!(store.resolve("ghost").unwrap(), created.id);
    }

    #[test]
    fn resolves_id_name_and_unique_prefix() {
        let (_tmp, store) = store();
        let c = store.create(&config(1), Some("api")).unwrap();
        assert_eq!(store.resolve(&c.id).unwrap(), c.id);
        assert_eq!(store.resolve("api").unwrap(), c.id);
        assert_eq!(store.resolve(&c.id[..5]).unwrap(), c.id);
        assert!(matches!(store.resolve("nope"), Err(Error::NotFound { .. })));
        assert!(matches!(store.resolve(""), Err(Error::NotFound { .. })));
        assert!(matches!(store.resolve("../x"), Err(Error::NotFound { .. })));
    }

    #[test]
    fn ambiguous_prefix_names_the_candidates() {
        let (_tmp, store) = store();
        let ids: Vec<String> = (0..40)
            .map(|_| store.create(&config(1), None).unwrap().id)
            .collect();
        // 40 ids over 16 first digits: some first digit repeats.
        let digit = (b'0'..=b'f')
            .map(|d| d as char)
            .find(|d| ids.iter().filter(|id| id.starts_with(*d)).count() > 1)
            .unwrap();
        match store.resolve(&digit.to_string()) {
            Err(Error::Ambiguous { candidates, .. }) => {
                assert!(candidates.len() > 1);
                assert!(candidates.iter().all(|c| c.starts_with(digit)));
            }
            other => panic!("expected ambiguity, got {other:?}"),
        }
    }

    #[test]
    fn update_persists_the_state() {
        let (_tmp, store) = store();
        let c = store.create(&config(1), None).unwrap();
        let new = store
            .update(&c.id, |s| {
                s.status = Status::Exited;
                s.exit_code = Some(3);
            })
            .unwrap();
        assert_eq!(store.get(&c.id).unwrap().state, new);
        assert_eq!(new.exit_code, Some(3));
    }

    #[test]
    fn list_is_newest_first() {
        let (_tmp, store) = store();
        let old = store.create(&config(10), None).unwrap();
        let new = store.create(&config(20), None).unwrap();
        let mid = store.create(&config(15), None).unwrap();
        let ids: Vec<String> = store.list().into_iter().map(|r| r.unwrap().id).collect();
        assert_eq!(ids, vec![new.id, mid.id, old.id]);
    }

    #[test]
    fn list_of_thousands_reads_every_record_once_in_order() {
        let (_tmp, store) = store();
        let template = store.create(&config(0), None).unwrap();
        let dir = store.container_dir(&template.id);
        let state = std::fs::read(dir.join(STATE_FILE)).unwrap();
        // Copies under fresh ids (creating them with fsyncs would be slow),
        // enough to be read by several threads.
        for i in 1..1500 {
            let id = crate::ident::new_id().unwrap();
            let copy = store.container_dir(&id);
            std::fs::create_dir(&copy).unwrap();
            let name = format!("n{i}");
            std::fs::write(copy.join(CONFIG_FILE), config_json(&id, &name, &config(i))).unwrap();
            std::fs::write(copy.join(STATE_FILE), &state).unwrap();
        }
        let bad = crate::ident::new_id().unwrap();
        std::fs::create_dir(store.container_dir(&bad)).unwrap();
        let listed = store.list();
        assert_eq!(listed.len(), 1501);
        let created: Vec<i64> = listed[..1500]
            .iter()
            .map(|r| r.as_ref().unwrap().config.created.timestamp())
            .collect();
        assert_eq!(created, (0..1500).rev().collect::<Vec<i64>>());
        assert_eq!(listed[1500].as_ref().unwrap_err().id, bad);
    }

    #[test]
    fn broken_record_is_listed_apart_and_removable() {
        let (_tmp, store) = store();
        let good = store.create(&config(1), Some("good")).unwrap();
        let bad = store.create(&config(2), Some("bad")).unwrap();
        std::fs::write(store.container_dir(&bad.id).join(STATE_FILE), b"{\"vers").unwrap();
        let listed = store.list();
        assert_eq!(listed.len(), 2);
        assert_eq!(listed[0].as_ref().unwrap().id, good.id);
        assert_eq!(listed[1].as_ref().unwrap_err().id, bad.id);
        assert!(matches!(store.get(&bad.id), Err(Error::Broken { .. })));
        store.remove(&bad.id).unwrap();
        assert!(!store.container_dir(&bad.id).exists());
        assert!(store.names().join("good").exists());
        store.create(&config(3), Some("bad")).unwrap();
    }

    #[test]
    fn garbage_config_frees_its_name_on_remove() {
        let (_tmp, store) = store();
        let bad = store.create(&config(2), Some("junk")).unwrap();
        std::fs::write(store.container_dir(&bad.id).join(CONFIG_FILE), b"\x00\xff").unwrap();
        store.remove(&bad.id).unwrap();
        assert!(store.names().join("junk").symlink_metadata().is_err());
    }

    #[test]
    fn broken_config_of_a_running_container_is_not_removed() {
        let (_tmp, store) = store();
        let c = store.create(&config(1), None).unwrap();
        running_as(
            &store,
            &c.id,
            ProcessRef::of(std::process::id() as i32).unwrap(),
        );
        std::fs::write(store.container_dir(&c.id).join(CONFIG_FILE), b"{").unwrap();
        assert!(matches!(store.remove(&c.id), Err(Error::Running { .. })));
        assert!(store.container_dir(&c.id).is_dir());
    }

    #[test]
    fn newer_schema_version_is_broken_not_misread() {
        let (_tmp, store) = store();
        let c = store.create(&config(1), None).unwrap();
        let mut state = State::new();
        state.version = SCHEMA_VERSION + 1;
        record::write_state(&store.container_dir(&c.id), &state, Durability::Synced).unwrap();
        let err = store.get(&c.id).unwrap_err();
        assert!(err.to_string().contains("newer"), "{err}");
    }

    #[test]
    fn remove_refuses_running_and_frees_the_name_after() {
        let (_tmp, store) = store();
        let c = store.create(&config(1), Some("busy")).unwrap();
        running_as(
            &store,
            &c.id,
            ProcessRef::of(std::process::id() as i32).unwrap(),
        );
        assert!(matches!(store.remove(&c.id), Err(Error::Running { .. })));
        assert!(store.container_dir(&c.id).is_dir());
        store.update(&c.id, |s| s.status = Status::Exited).unwrap();
        store.remove(&c.id).unwrap();
        assert!(matches!(store.resolve("busy"), Err(Error::NotFound { .. })));
        assert!(matches!(store.remove(&c.id), Err(Error::NotFound { .. })));
    }

    #[test]
    fn unlist_frees_the_name_at_once_and_purge_deletes_the_layer() {
        let (_tmp, store) = store();
        let c = store.create(&config(1), Some("quick")).unwrap();
        let layer_file = store.container_dir(&c.id).join("upper/written");
        std::fs::write(&layer_file, b"x").unwrap();
        store.unlist(&c.id).unwrap();
        assert!(matches!(
            store.resolve("quick"),
            Err(Error::NotFound { .. })
        ));
        assert!(store.list().is_empty());
        let again = store.create(&config(2), Some("quick")).unwrap();
        assert_ne!(again.id, c.id);
        let leftover = store
            .root()
            .join("containers")
            .join(format!(".rm-{}", c.id));
        assert!(leftover.join("upper/written").exists());
        store.purge(&c.id).unwrap();
        assert!(!leftover.exists());
        // Purging twice, or an id never unlisted, is fine.
        store.purge(&c.id).unwrap();
        store.purge(&again.id).unwrap();
        assert!(store.container_dir(&again.id).is_dir());
    }

    #[test]
    fn running_with_a_live_init_is_running() {
        let (_tmp, store) = store();
        let c = store.create(&config(1), None).unwrap();
        running_as(
            &store,
            &c.id,
            ProcessRef::of(std::process::id() as i32).unwrap(),
        );
        assert_eq!(store.get(&c.id).unwrap().live_status(), Status::Running);
    }

    #[test]
    fn running_with_a_recycled_pid_is_exited() {
        let (_tmp, store) = store();
        let c = store.create(&config(1), None).unwrap();
        let mut me = ProcessRef::of(std::process::id() as i32).unwrap();
        me.start_time += 1;
        running_as(&store, &c.id, me);
        assert_eq!(store.get(&c.id).unwrap().live_status(), Status::Exited);
    }

    #[test]
    fn running_with_a_vanished_pid_is_exited() {
        let (_tmp, store) = store();
        let c = store.create(&config(1), None).unwrap();
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let gone = ProcessRef::of(child.id() as i32).unwrap_or(ProcessRef {
            pid: child.id() as i32,
            start_time: 0,
        });
        child.wait().unwrap();
        running_as(&store, &c.id, gone);
        assert_eq!(store.get(&c.id).unwrap().live_status(), Status::Exited);
    }

    #[test]
    fn running_with_a_zombie_init_is_exited() {
        let (_tmp, store) = store();
        let c = store.create(&config(1), None).unwrap();
        let mut child = std::process::Command::new("sleep")
            .arg("1000")
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        let init = ProcessRef::of(pid).unwrap();
        running_as(&store, &c.id, init);
        assert_eq!(store.get(&c.id).unwrap().live_status(), Status::Running);
        child.kill().unwrap();
        // Not reaped yet: the pid stays, as a zombie.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while hs_common::proc::stat(pid).unwrap().state != 'Z' {
            assert!(
                std::time::Instant::now() < deadline,
                "child never became a zombie"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert_eq!(store.get(&c.id).unwrap().live_status(), Status::Exited);
        child.wait().unwrap();
    }
}
