//! Fixtures for the black-box tests of the hs binaries: where the binaries
//! are, the root guard, the busybox rootfs, a throwaway `HS_ROOT` and cgroup
//! parent per test, polling with a deadline, and leak checks.
//!
//! Tests run as parallel processes (cargo runs test binaries one after the
//! other but the threads of one binary in parallel, and CI may use nextest),
//! so everything shared is built under a file lock and everything per test
//! has a unique name.

use std::ffi::OsStr;
use std::fs::File;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub use tempfile::TempDir;

/// The directory holding the built hs binaries: `HS_BIN_DIR`, or the cargo
/// target dir this test binary was built into (`target/debug/deps/..`).
pub fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("HS_BIN_DIR") {
        return PathBuf::from(dir);
    }
    let exe = std::env::current_exe().expect("current_exe");
    let deps = exe.parent().expect("test binary has a parent dir");
    deps.parent().expect("deps dir has a parent").to_path_buf()
}

/// The path of hs binary `name`; panics with a hint when it was not built.
pub fn bin(name: &str) -> PathBuf {
    let path = bin_dir().join(name);
    assert!(
        path.is_file(),
        "{} is not built: run `cargo build --workspace` first (or set HS_BIN_DIR)",
        path.display()
    );
    path
}

/// True when running as root. Tests that need root start with
/// `if !hs_tests::require_root() { return; }`: outside CI they skip with a
/// message; under `CI=true` a non-root run fails instead of passing silently.
pub fn require_root() -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("this test needs root, and CI must run it as root");
    }
    eprintln!("skipped: this test needs root");
    false
}

/// A name unique across the parallel processes and threads of a test run.
pub fn unique(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Where fixtures shared by a whole test run are built (next to the binaries).
pub fn fixtures_dir() -> PathBuf {
    let dir = bin_dir().join("hs-fixtures");
    std::fs::create_dir_all(&dir).expect("create fixtures dir");
    dir
}

/// Runs `build` once per test run across processes: under an exclusive
/// flock on `name.lock`, and only when `name.done` does not exist yet.
fn build_once(name: &str, build: impl FnOnce(&Path)) -> PathBuf {
    let dir = fixtures_dir();
    let target = dir.join(name);
    let done = dir.join(format!("{name}.done"));
    let lock = File::create(dir.join(format!("{name}.lock"))).expect("create lock file");
    nix::fcntl::Flock::lock(lock, nix::fcntl::FlockArg::LockExclusive)
        .map(|guard| {
            if !done.exists() {
                if target.exists() {
                    std::fs::remove_dir_all(&target).expect("remove half-built fixture");
                }
                build(&target);
                File::create(&done).expect("mark fixture done");
            }
            drop(guard);
        })
        .map_err(|(_, e)| e)
        .expect("lock fixture");
    target
}

/// The busybox rootfs fixture (read-only by convention: a test that mounts
/// into it or writes to it takes [`rootfs_copy`] instead).
///
/// Built from the `busybox-static` Debian package's /bin/busybox:
/// `chroot ROOTFS /bin/busybox --install -s /bin`, so the links are
/// relative to the rootfs and nothing lands in the host's /bin.
pub fn busybox_rootfs() -> PathBuf {
    static ROOTFS: OnceLock<PathBuf> = OnceLock::new();
    ROOTFS
        .get_or_init(|| build_once("busybox-rootfs", build_busybox_rootfs))
        .clone()
}

fn build_busybox_rootfs(root: &Path) {
    let busybox = Path::new("/bin/busybox");
    assert!(
        busybox.is_file(),
        "/bin/busybox is missing: apt-get install busybox-static"
    );
    for dir in [
        "bin", "sbin", "usr/bin", "usr/sbin", "etc", "proc", "sys", "dev", "tmp", "run", "home",
        "root", "mnt", "var/tmp",
    ] {
        std::fs::create_dir_all(root.join(dir)).expect("create rootfs dir");
    }
    std::fs::copy(busybox, root.join("bin/busybox")).expect("copy busybox");
    run_ok(
        Command::new("chroot")
            .arg(root)
            .args(["/bin/busybox", "--install", "-s", "/bin"]),
    );
    std::fs::write(
        root.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    )
    .expect("write passwd");
    std::fs::write(root.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n").expect("write group");
    std::fs::write(root.join("etc/hostname"), "busybox\n").expect("write hostname");
    // busybox's own /bin/sh link must exist: every test runs it.
    assert!(
        root.join("bin/sh").symlink_metadata().is_ok(),
        "busybox --install made no /bin/sh"
    );
    let _ = symlink("/proc/self/mounts", root.join("etc/mtab"));
}

/// A private copy of the busybox rootfs for a test that changes it.
pub fn rootfs_copy() -> TempDir {
    let dir = tempdir_in_target("rootfs");
    run_ok(
        Command::new("cp")
            .arg("-a")
            .arg(format!("{}/.", busybox_rootfs().display()))
            .arg(dir.path()),
    );
    dir
}

/// A temp dir under the target dir (on the same disk filesystem as the
/// fixtures, not a tmpfs, so overlays and xattrs behave as in real use).
pub fn tempdir_in_target(prefix: &str) -> TempDir {
    let base = bin_dir().join("hs-tmp");
    std::fs::create_dir_all(&base).expect("create hs-tmp");
    tempfile::Builder::new()
        .prefix(&format!("{prefix}-"))
        .tempdir_in(base)
        .expect("create temp dir")
}

/// A throwaway `$HS_ROOT` and a relative cgroup parent unique to one test,
/// so a test's containers and cgroups never meet another test's. Commands
/// made with [`Env::cmd`] carry both.
pub struct Env {
    pub root: TempDir,
    pub cgroup_parent: String,
}

impl Env {
    pub fn new() -> Self {
        Self {
            root: tempdir_in_target("hsroot"),
            cgroup_parent: unique("hs-test"),
        }
    }

    /// `HS_ROOT`.
    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// A command for hs binary `name` with this test's `HS_ROOT` and
    /// `HS_CGROUP_PARENT`.
    pub fn cmd(&self, name: &str) -> Command {
        let mut cmd = Command::new(bin(name));
        cmd.env("HS_ROOT", self.root())
            .env("HS_CGROUP_PARENT", &self.cgroup_parent);
        cmd
    }
}

impl Default for Env {
    fn default() -> Self {
        Self::new()
    }
}

/// Runs `cmd` and panics with its output unless it exits 0.
pub fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed with {:?}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Runs `cmd` and returns (exit code, stdout, stderr); a signal death is
/// 128+N like a shell reports it.
/// Runs `cmd` (program, arguments and environment) under `strace -f` with
/// `stdin`, and returns its output and how many fsync-family calls it and
/// every process it started made. strace is installed by .ci/run.
pub fn run_counting_fsyncs(cmd: &Command, stdin: &[u8]) -> (Output, usize) {
    use std::io::Write;
    let trace = tempfile::NamedTempFile::new().expect("temp file for the trace");
    let mut traced = Command::new("strace");
    traced
        .args(["-f", "-qq", "-e", "trace=fsync,fdatasync,syncfs,sync", "-o"])
        .arg(trace.path())
        .arg(cmd.get_program())
        .args(cmd.get_args())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    for (key, value) in cmd.get_envs() {
        match value {
            Some(value) => traced.env(key, value),
            None => traced.env_remove(key),
        };
    }
    let mut child = traced
        .spawn()
        .expect("strace must be installed (.ci/run installs it)");
    if let Some(mut input) = child.stdin.take() {
        input.write_all(stdin).expect("writing stdin");
    }
    let out = child.wait_with_output().expect("waiting for strace");
    let calls = std::fs::read_to_string(trace.path())
        .expect("reading the trace")
        .lines()
        .filter(|line| line.contains("sync"))
        .count();
    (out, calls)
}

pub fn run(cmd: &mut Command) -> (i32, String, String) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    code_and_text(&out)
}

/// [`run`] for a command that could hang: killed, and the test failed,
/// when it has not exited within `limit`. For commands with little output:
/// the pipes are read once it exited, so one that fills a pipe waits.
pub fn run_within(cmd: &mut Command, limit: Duration) -> (i32, String, String) {
    use std::process::Stdio;
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    let exited = wait_until(limit, || matches!(child.try_wait(), Ok(Some(_))));
    if !exited {
        let _ = child.kill();
    }
    let out = child.wait_with_output().expect("waiting for the command");
    assert!(exited, "{cmd:?} did not exit within {limit:?}");
    code_and_text(&out)
}

fn code_and_text(out: &Output) -> (i32, String, String) {
    use std::os::unix::process::ExitStatusExt;
    let code = out
        .status
        .code()
        .unwrap_or_else(|| 128 + out.status.signal().unwrap_or(0));
    (
        code,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Asserts a failure the way every hs tool fails: exit 125 and one line on
/// stderr `TOOL: error: …` mentioning `needle`.
pub fn assert_tool_error(result: &(i32, String, String), tool: &str, needle: &str) {
    let (code, _, stderr) = result;
    assert_eq!(*code, 125, "expected exit 125, stderr: {stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "expected one error line, got: {stderr}");
    assert!(
        lines[0].starts_with(&format!("{tool}: error: ")),
        "not a {tool} error line: {stderr}"
    );
    assert!(
        lines[0].contains(needle),
        "error line lacks {needle:?}: {stderr}"
    );
}

/// Polls `check` until it returns true or `timeout` passes; returns whether
/// it became true. Tests wait this way, never with a fixed sleep.
pub fn wait_until(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if check() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Mount points (from this process's mountinfo) at or below `path`.
pub fn mounts_under(path: &Path) -> Vec<String> {
    let canonical = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    let prefix = canonical.to_string_lossy().into_owned();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|line| line.split(' ').nth(4).map(unescape_mountinfo))
        .filter(|mp| mp == &prefix || mp.starts_with(&format!("{prefix}/")))
        .collect()
}

fn unescape_mountinfo(field: &str) -> String {
    field
        .replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
}

/// Asserts that nothing is mounted at or below `path` in the host's (this
/// test's) mount namespace.
pub fn assert_no_mounts_under(path: &Path) {
    let left = mounts_under(path);
    assert!(
        left.is_empty(),
        "mounts left behind under {}: {left:?}",
        path.display()
    );
}

/// Pids of processes whose command line contains `needle` (e.g. a unique
/// marker the test put in the command it ran).
pub fn pids_with_cmdline(needle: &str) -> Vec<i32> {
    let me = std::process::id() as i32;
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| pid != me)
        .filter(|&pid| {
            let Ok(raw) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
                return false;
            };
            let alive = hs_common::proc::stat(pid).is_some_and(|s| !s.is_dead());
            alive
                && String::from_utf8_lossy(&raw)
                    .replace('\0', " ")
                    .contains(needle)
        })
        .collect()
}

/// Waits (with a deadline) until no process's command line contains
/// `needle`, and fails the test if one is still there.
pub fn assert_no_processes_with(needle: &str) {
    let gone = wait_until(Duration::from_secs(10), || {
        pids_with_cmdline(needle).is_empty()
    });
    assert!(
        gone,
        "processes left behind: {:?}",
        pids_with_cmdline(needle)
    );
}

/// The cgroup directories named `name` below the relative parent `parent`
/// in every mounted hierarchy (v1 controllers and the unified tree),
/// relative to this process's own cgroup there, that exist now.
pub fn cgroup_dirs(parent: &str, name: &str) -> Vec<PathBuf> {
    own_cgroup_dirs()
        .into_iter()
        .map(|dir| dir.join(parent).join(name))
        .filter(|dir| dir.exists())
        .collect()
}

/// Asserts that no cgroup directory of the relative parent `parent` is
/// left in any hierarchy (the parent itself included).
pub fn assert_no_cgroups(parent: &str) {
    let left: Vec<PathBuf> = own_cgroup_dirs()
        .into_iter()
        .map(|dir| dir.join(parent))
        .filter(|dir| dir.exists())
        .collect();
    assert!(left.is_empty(), "cgroups left behind: {left:?}");
}

/// Removes the relative cgroup parent `parent` in every hierarchy (children
/// first). For test teardown after the tools removed their own cgroups.
pub fn remove_cgroup_parent(parent: &str) {
    for dir in own_cgroup_dirs() {
        remove_cgroup_tree(&dir.join(parent));
    }
}

fn remove_cgroup_tree(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            remove_cgroup_tree(&entry.path());
        }
    }
    let _ = std::fs::remove_dir(dir);
}

/// This process's own cgroup directory in every hierarchy mounted under
/// /sys/fs/cgroup (from /proc/self/cgroup and /proc/self/mountinfo).
pub fn own_cgroup_dirs() -> Vec<PathBuf> {
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut dirs = Vec::new();
    for line in mountinfo.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        let Some(sep) = fields.iter().position(|f| *f == "-") else {
            continue;
        };
        let (Some(fstype), Some(options)) = (fields.get(sep + 1), fields.get(sep + 3)) else {
            continue;
        };
        let mount_point = fields[4];
        let root = fields[3];
        let key = match *fstype {
            "cgroup2" => String::new(),
            "cgroup" => {
                let controllers: Vec<&str> = options
                    .split(',')
                    .filter(|o| !matches!(*o, "rw" | "ro") && !o.contains("relatime"))
                    .collect();
                controllers.join(",")
            }
            _ => continue,
        };
        let path = own.lines().find_map(|l| {
            let mut parts = l.splitn(3, ':');
            let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
            (controllers == key || (key.is_empty() && controllers.is_empty())).then_some(path)
        });
        if let Some(path) = path {
            let relative = path
                .strip_prefix(root)
                .unwrap_or(path)
                .trim_start_matches('/');
            dirs.push(Path::new(mount_point).join(relative));
        }
    }
    dirs
}

/// A command run inside a new private mount namespace (util-linux
/// `unshare -m --propagation private`), so whatever it mounts vanishes
/// with it and never shows in the test's namespace.
pub fn in_private_mount_ns(program: impl AsRef<OsStr>) -> Command {
    let mut cmd = Command::new("unshare");
    cmd.args(["--mount", "--propagation", "private", "--"])
        .arg(program);
    cmd
}

/// sha256 of every regular file and the target of every symlink below
/// `dir`, with paths, as one sorted listing: equal before and after means
/// nothing below `dir` changed.
pub fn tree_digest(dir: &Path) -> String {
    let out = run_ok(Command::new("sh").arg("-c").arg(
        "cd \"$1\" && find . \\( -type f -exec sha256sum {} + \\) -o \\( -type l -printf '%p -> %l\\n' \\) -o \\( -type d -printf '%p/ %m\\n' \\) | LC_ALL=C sort",
    ).arg("sh").arg(dir));
    String::from_utf8_lossy(&out.stdout).into_owned()
}
