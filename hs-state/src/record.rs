//! One container record as read from its directory, the on-disk form of its
//! two files, and its live status.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{reason, Error, IoContext, Result};
use crate::schema::{Config, State, Status, SCHEMA_VERSION};

pub const CONFIG_FILE: &str = "config.json";
pub const STATE_FILE: &str = "state.json";

/// A container record: what was asked (`config`), what happened (`state`).
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub id: String,
    pub name: String,
    pub config: Config,
    pub state: State,
    /// `$HS_ROOT/containers/<id>`.
    pub dir: PathBuf,
}

impl Record {
    /// What the container really is now: a record that says running counts
    /// as running only while its init (or, before the init is known, its
    /// monitor) is alive, not a zombie, and the recorded process; otherwise
    /// it exited, with its code unknown unless the monitor recorded it.
    pub fn live_status(&self) -> Status {
        live_status(&self.state)
    }

    /// The JSON object `get` and `ls` print.
    pub fn view(&self) -> RecordView<'_> {
        RecordView {
            id: &self.id,
            name: &self.name,
            status: self.live_status(),
            dir: &self.dir,
            config: &self.config,
            state: &self.state,
        }
    }
}

/// The live status a state implies (see [`Record::live_status`]); also for
/// a record whose config is unreadable but whose state is not.
pub fn live_status(state: &State) -> Status {
    let alive = match (&state.init, &state.monitor) {
        (Some(init), _) => init.is_alive(),
        (None, Some(monitor)) => monitor.is_alive(),
        (None, None) => false,
    };
    match state.status {
        Status::Running if alive => Status::Running,
        Status::Running => Status::Exited,
        other => other,
    }
}

/// A record with its live status, as printed by `hs-state get` / `ls`.
#[derive(Debug, Serialize)]
pub struct RecordView<'a> {
    pub id: &'a str,
    pub name: &'a str,
    /// The live status (see [`Record::live_status`]), not the recorded one.
    pub status: Status,
    pub dir: &'a Path,
    pub config: &'a Config,
    pub state: &'a State,
}

/// A record directory whose files cannot be read or make no sense. It is
/// listed as such (other records stay usable) and `remove` still deletes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BrokenRecord {
    pub id: String,
    pub dir: PathBuf,
    pub reason: String,
}

impl From<BrokenRecord> for Error {
    fn from(broken: BrokenRecord) -> Self {
        Error::Broken {
            id: broken.id,
            reason: broken.reason,
        }
    }
}

/// `config.json` on disk: the config with the record's identity, so a
/// record directory describes itself. Nested rather than flattened: one
/// plain parse per record keeps `ls` of thousands of records fast.
#[derive(Serialize)]
pub(crate) struct ConfigFileOut<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub config: &'a Config,
}

#[derive(Deserialize)]
struct ConfigFileIn {
    id: String,
    name: String,
    config: Config,
}

/// Reads records relative to an open `containers/` directory: one
/// `openat` + `read` + `close` per file (no path walk from `/`, no
/// `stat`), with one buffer reused across records.
pub(crate) struct Reader {
    containers: PathBuf,
    dir: std::fs::File,
    /// Always initialized to its full length; `len` bytes are the file.
    buf: Vec<u8>,
    len: usize,
    rel: String,
}

impl Reader {
    pub fn open(containers: &Path) -> std::io::Result<Reader> {
        Ok(Reader {
            containers: containers.to_path_buf(),
            dir: std::fs::File::open(containers)?,
            buf: vec![0; 16 * 1024],
            len: 0,
            rel: String::with_capacity(128),
        })
    }

    /// Reads the record `id`. A missing directory is `NotFound`; anything
    /// wrong inside it is a `BrokenRecord`.
    pub fn read(&mut self, id: &str) -> Result<std::result::Result<Record, BrokenRecord>> {
        let dir = self.containers.join(id);
        if let Err(e) = self.load(id, CONFIG_FILE) {
            if e.kind() == std::io::ErrorKind::NotFound && !dir.exists() {
                return Err(Error::NotFound {
                    reference: id.to_string(),
                });
            }
            return Ok(Err(broken(
                id,
                dir,
                format!("read {CONFIG_FILE}: {}", reason(&e)),
            )));
        }
        let stored: ConfigFileIn = match serde_json::from_slice(self.bytes()) {
            Ok(stored) => stored,
            Err(e) => return Ok(Err(broken(id, dir, format!("{CONFIG_FILE}: {e}")))),
        };
        if stored.id != id {
            let reason = format!("{CONFIG_FILE} names another id {}", stored.id);
            return Ok(Err(broken(id, dir, reason)));
        }
        if stored.config.version > SCHEMA_VERSION {
            let reason = newer_version(CONFIG_FILE, stored.config.version);
            return Ok(Err(broken(id, dir, reason)));
        }
        let state = match self.load(id, STATE_FILE) {
            Ok(()) => parse_state(self.bytes()),
            Err(e) => Err(format!("read {STATE_FILE}: {}", reason(&e))),
        };
        match state {
            Ok(state) => Ok(Ok(Record {
                id: stored.id,
                name: stored.name,
                config: stored.config,
                state,
                dir,
            })),
            Err(reason) => Ok(Err(broken(id, dir, reason))),
        }
    }

    /// Reads `<id>/<file>` into the buffer.
    fn load(&mut self, id: &str, file: &str) -> std::io::Result<()> {
        use nix::fcntl::{openat, OFlag};
        use std::io::Read;
        use std::os::fd::{AsRawFd, FromRawFd};
        self.rel.clear();
        self.rel.push_str(id);
        self.rel.push('/');
        self.rel.push_str(file);
        let flags = OFlag::O_RDONLY | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW;
        let fd = openat(
            Some(self.dir.as_raw_fd()),
            self.rel.as_str(),
            flags,
            nix::sys::stat::Mode::empty(),
        )?;
        // SAFETY: openat just returned this fd and nothing else owns it.
        let mut file = unsafe { std::fs::File::from_raw_fd(fd) };
        let mut filled = 0;
        loop {
            if filled == self.buf.len() {
                self.buf.resize(self.buf.len() * 2, 0);
            }
            match file.read(&mut self.buf[filled..]) {
                Ok(n) => {
                    filled += n;
                    // A short read of a regular file is its end, and these
                    // files are never written in place (only replaced by
                    // rename), so the one read is the whole file: this
                    // saves a read per file when listing thousands.
                    if n == 0 || filled < self.buf.len() {
                        self.len = filled;
                        return Ok(());
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// The file `load` read last.
    fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// Reads and checks `state.json` in `dir`; the error is the reason the
/// record is broken.
pub(crate) fn read_state(dir: &Path) -> std::result::Result<State, String> {
    let bytes = std::fs::read(dir.join(STATE_FILE))
        .map_err(|e| format!("read {STATE_FILE}: {}", reason(&e)))?;
    parse_state(&bytes)
}

fn parse_state(bytes: &[u8]) -> std::result::Result<State, String> {
    let state: State = serde_json::from_slice(bytes).map_err(|e| format!("{STATE_FILE}: {e}"))?;
    if state.version > SCHEMA_VERSION {
        return Err(newer_version(STATE_FILE, state.version));
    }
    Ok(state)
}

/// Reads the config of the record in `dir`; the error is why it cannot.
pub(crate) fn read_config(dir: &Path) -> std::result::Result<Config, String> {
    let bytes = std::fs::read(dir.join(CONFIG_FILE))
        .map_err(|e| format!("read {CONFIG_FILE}: {}", reason(&e)))?;
    serde_json::from_slice::<ConfigFileIn>(&bytes)
        .map(|stored| stored.config)
        .map_err(|e| format!("{CONFIG_FILE}: {e}"))
}

/// Replaces `state.json` in `dir` atomically.
pub(crate) fn write_state(
    dir: &Path,
    state: &State,
    durability: hs_common::atomic::Durability,
) -> Result<()> {
    let path = dir.join(STATE_FILE);
    let bytes = to_json(state);
    hs_common::atomic::write_atomic_with(&path, &bytes, 0o644, durability).ctx("write", path)
}

/// Compact JSON with a final newline: one line per file, quick to parse.
/// Our types always serialize.
pub(crate) fn to_json(value: &impl Serialize) -> Vec<u8> {
    let mut bytes = serde_json::to_vec(value).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

fn newer_version(file: &str, version: u32) -> String {
    format!("{file} has schema version {version}, newer than this hs-state ({SCHEMA_VERSION})")
}

fn broken(id: &str, dir: PathBuf, reason: String) -> BrokenRecord {
    BrokenRecord {
        id: id.to_string(),
        dir,
        reason,
    }
}
