//! Shared helpers of the `hs` front-end tests: a per-test environment that
//! removes its containers and cgroups when dropped (also after a failed
//! assertion), and a real PTY driver (python3's pty module).

#![allow(dead_code)]

use std::path::Path;
use std::process::Command;
use std::time::Duration;

pub use hs_tests::{run, run_ok, wait_until, Env};

/// One test's world: its own HS_ROOT and cgroup parent; on drop every
/// container is force-removed and the cgroup parent deleted.
pub struct World {
    pub env: Env,
}

impl World {
    pub fn new() -> Self {
        Self { env: Env::new() }
    }

    /// With HS_ROOT at `root` instead of a temp dir under the target dir.
    pub fn with_root(root: &Path) -> Self {
        let mut env = Env::new();
        env.root = tempfile::Builder::new()
            .prefix("hs-front-")
            .tempdir_in(root)
            .expect("create HS_ROOT");
        Self { env }
    }

    pub fn hs(&self) -> Command {
        self.env.cmd("hs")
    }

    /// `hs ARGS…` that must succeed; its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = run_ok(self.hs().args(args));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `hs ARGS…`: (code, stdout, stderr).
    pub fn run(&self, args: &[&str]) -> (i32, String, String) {
        run(self.hs().args(args))
    }

    /// `hs run -d ARGS…`; the id it printed.
    pub fn detach(&self, args: &[&str]) -> String {
        let mut all = vec!["run", "-d"];
        all.extend_from_slice(args);
        let id = self.ok(&all).trim().to_string();
        assert_eq!(id.len(), 64, "not a full id: {id:?}");
        id
    }

    /// `hs ps -a --format {{.State}}` of one container.
    pub fn state(&self, id: &str) -> String {
        let out = self.ok(&["inspect", id]);
        let value: serde_json::Value = serde_json::from_str(&out).unwrap();
        value[0]["State"]["Status"]
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    pub fn inspect(&self, id: &str) -> serde_json::Value {
        let out = self.ok(&["inspect", id]);
        let value: serde_json::Value = serde_json::from_str(&out).unwrap();
        value[0].clone()
    }

    pub fn wait_state(&self, id: &str, state: &str) -> bool {
        wait_until(Duration::from_secs(20), || self.state(id) == state)
    }

    /// Container directories in this HS_ROOT.
    pub fn containers(&self) -> Vec<String> {
        std::fs::read_dir(self.env.root().join("containers"))
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| !n.starts_with('.'))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The cgroup dirs of container `id` that exist now.
    pub fn cgroups_of(&self, id: &str) -> Vec<std::path::PathBuf> {
        hs_tests::cgroup_dirs(&self.env.cgroup_parent, id)
    }
}

impl Drop for World {
    fn drop(&mut self) {
        let ids = run(self.hs().args(["ps", "-aq", "--no-trunc"])).1;
        for id in ids.lines().filter(|l| !l.is_empty()) {
            let _ = run(self.hs().args(["rm", "-f", id]));
        }
        // Monitors remove their containers' cgroups on exit, a moment
        // after a foreground `run --rm` returned: let them finish.
        let parent = &self.env.cgroup_parent;
        wait_until(Duration::from_secs(10), || {
            hs_tests::own_cgroup_dirs().iter().all(|dir| {
                std::fs::read_dir(dir.join(parent))
                    .map(|entries| !entries.flatten().any(|e| e.path().is_dir()))
                    .unwrap_or(true)
            })
        });
        hs_tests::remove_cgroup_parent(parent);
    }
}

/// The busybox rootfs as an image argument (a path with a slash).
pub fn rootfs() -> String {
    hs_tests::busybox_rootfs().to_string_lossy().into_owned()
}

/// Drives `argv` on a real PTY: waits for `expect` in the output (sending
/// newlines to get a prompt), writes `input`, then either waits for the
/// program to end (reports `exit=N`) or, with `hangup` (the text to see
/// before hanging up), closes the terminal and reports the program's end.
/// Returns everything printed, the driver's report last.
pub fn pty_session(
    world: &World,
    argv: &[String],
    expect: &str,
    input: &str,
    hangup: Option<&str>,
) -> String {
    const DRIVER: &str = r#"
import os, pty, sys, time, select, signal
expect, data, until = sys.argv[1].encode(), sys.argv[2].encode(), sys.argv[3].encode()
hangup = sys.argv[3] != "-"
argv = sys.argv[4:]
pid, fd = pty.fork()
if pid == 0:
    os.execv(argv[0], argv)
out = b""
def pump(t, want=None):
    global out
    want = want if want is not None else expect
    end = time.time() + t
    while time.time() < end:
        r, _, _ = select.select([fd], [], [], 0.05)
        if r:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                return False
            if not chunk:
                return False
            out += chunk
            if want and want in out:
                return True
    return True
deadline = time.time() + 20
while expect and expect not in out and time.time() < deadline:
    if not pump(0.2):
        break
    if expect not in out:
        os.write(fd, b"\n")
os.write(fd, data)
if hangup:
    end = time.time() + 20
    while until not in out and time.time() < end:
        if not pump(0.2, until):
            break
    os.close(fd)
    end = time.time() + 10
    while time.time() < end:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.02)
    else:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        status = -1
    sys.stdout.write(out.decode(errors="replace") + "\nhangup-exit=%d\n" % status)
    sys.exit(0)
end = time.time() + 20
while time.time() < end:
    if not pump(0.1):
        break
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
        break
else:
    os.kill(pid, signal.SIGKILL)
    sys.stdout.write(out.decode(errors="replace") + "\ntimeout\n")
    sys.exit(0)
try:
    _, status = os.waitpid(pid, 0)
except ChildProcessError:
    pass
sys.stdout.write(out.decode(errors="replace") + "\nexit=%d\n" % os.waitstatus_to_exitcode(status))
"#;
    let mut cmd = Command::new("python3");
    cmd.arg("-c")
        .arg(DRIVER)
        .arg(expect)
        .arg(input)
        .arg(hangup.unwrap_or("-"))
        .args(argv)
        .env("HS_ROOT", world.env.root())
        .env("HS_CGROUP_PARENT", &world.env.cgroup_parent)
        .env("TERM", "xterm");
    let out = run_ok(&mut cmd);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn hs_bin() -> String {
    hs_tests::bin("hs").to_string_lossy().into_owned()
}
