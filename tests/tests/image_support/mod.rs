//! Fixtures shared by the image tests: rootfs tarballs, hand-built OCI
//! layouts, a loopback registry (Debian's docker-registry) and a token
//! server for it, and the "store shows nothing" check.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hs_tests::{busybox_rootfs, run, run_ok, wait_until, Env, TempDir};

pub fn hs_image(env: &Env) -> Command {
    env.cmd("hs-image")
}

/// `hs-image ARGS…` that must succeed; returns stdout.
pub fn image_ok(env: &Env, args: &[&str]) -> String {
    let out = run_ok(hs_image(env).args(args));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The id from what `import` / `commit` print: `{"id":…,"refs":[…]}`.
pub fn added_id(output: &str) -> String {
    let value: serde_json::Value = serde_json::from_str(output.trim()).unwrap();
    value["id"].as_str().unwrap().to_string()
}

/// A tar of the busybox rootfs made by tar(1), gzipped or not, under a
/// name that gives nothing away (the format is found by content).
pub fn rootfs_tar(dir: &Path, gzip: bool) -> PathBuf {
    let out = dir.join(if gzip {
        "rootfs-gz.data"
    } else {
        "rootfs.data"
    });
    run_ok(
        Command::new("tar")
            .arg("-C")
            .arg(busybox_rootfs())
            .arg(if gzip { "-czf" } else { "-cf" })
            .arg(&out)
            .arg("."),
    );
    out
}

/// The bytes of a tar of `dir` made by tar(1).
pub fn tar_of_dir(dir: &Path) -> Vec<u8> {
    run_ok(
        Command::new("tar")
            .arg("-C")
            .arg(dir)
            .args(["-cf", "-", "."]),
    )
    .stdout
}

pub fn gzip_bytes(bytes: &[u8]) -> Vec<u8> {
    pipe(Command::new("gzip").args(["-c", "-n"]), bytes)
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    let out = pipe(&mut Command::new("sha256sum"), bytes);
    String::from_utf8_lossy(&out)[..64].to_string()
}

fn pipe(cmd: &mut Command, input: &[u8]) -> Vec<u8> {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input).unwrap());
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(out.status.success());
    out.stdout
}

/// A header with a raw name (and link name) written byte for byte, so a
/// test can make entries the tar crate's path API would refuse.
pub fn raw_entry(
    builder: &mut tar::Builder<Vec<u8>>,
    kind: tar::EntryType,
    name: &str,
    link: &str,
    data: &[u8],
) {
    let mut h = tar::Header::new_old();
    h.set_entry_type(kind);
    h.set_size(data.len() as u64);
    h.set_mode(if kind == tar::EntryType::Directory {
        0o755
    } else {
        0o644
    });
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(1_700_000_000);
    h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
    h.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
    h.set_cksum();
    builder.append(&h, data).unwrap();
}

/// One image of a hand-built OCI layout.
pub struct OciImage {
    pub arch: &'static str,
    /// Uncompressed layer tars, bottom first.
    pub layers: Vec<Vec<u8>>,
    pub gzip: bool,
    pub cmd: Vec<&'static str>,
}

/// Writes `bytes` as a blob of the layout; returns (digest, size).
pub fn write_blob(layout: &Path, bytes: &[u8]) -> (String, usize) {
    let hex = sha256_hex(bytes);
    let dir = layout.join("blobs/sha256");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(&hex), bytes).unwrap();
    (format!("sha256:{hex}"), bytes.len())
}

/// Writes an image's config, layers and manifest; returns the manifest's
/// descriptor (with its platform).
pub fn write_image(layout: &Path, image: &OciImage) -> serde_json::Value {
    let mut diff_ids = Vec::new();
    let mut layer_descriptors = Vec::new();
    for layer in &image.layers {
        diff_ids.push(format!("sha256:{}", sha256_hex(layer)));
        let (blob, media) = if image.gzip {
            (
                gzip_bytes(layer),
                "application/vnd.oci.image.layer.v1.tar+gzip",
            )
        } else {
            (layer.clone(), "application/vnd.oci.image.layer.v1.tar")
        };
        let (digest, size) = write_blob(layout, &blob);
        layer_descriptors
            .push(serde_json::json!({"mediaType": media, "digest": digest, "size": size}));
    }
    let config = serde_json::json!({
        "created": "2024-01-01T00:00:00Z",
        "architecture": image.arch,
        "os": "linux",
        "config": {"Cmd": image.cmd, "Env": ["PATH=/bin:/usr/bin"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    });
    let (config_digest, config_size) = write_blob(layout, &serde_json::to_vec(&config).unwrap());
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config_size},
        "layers": layer_descriptors,
    });
    let (digest, size) = write_blob(layout, &serde_json::to_vec(&manifest).unwrap());
    serde_json::json!({
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": digest,
        "size": size,
        "platform": {"os": "linux", "architecture": image.arch},
    })
}

/// An OCI layout with one image, or an image index of several, tagged `tag`.
pub fn write_oci_layout(layout: &Path, images: &[OciImage], tag: &str) {
    std::fs::create_dir_all(layout).unwrap();
    std::fs::write(
        layout.join("oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    let descriptors: Vec<serde_json::Value> =
        images.iter().map(|i| write_image(layout, i)).collect();
    let mut top = if descriptors.len() == 1 {
        descriptors[0].clone()
    } else {
        let index = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": descriptors,
        });
        let (digest, size) = write_blob(layout, &serde_json::to_vec(&index).unwrap());
        serde_json::json!({"mediaType": "application/vnd.oci.image.index.v1+json", "digest": digest, "size": size})
    };
    top["annotations"] = serde_json::json!({"org.opencontainers.image.ref.name": tag});
    let index = serde_json::json!({"schemaVersion": 2, "manifests": [top]});
    std::fs::write(
        layout.join("index.json"),
        serde_json::to_vec(&index).unwrap(),
    )
    .unwrap();
}

/// The busybox rootfs as a one-image layout (gzip layers), tagged `tag`.
pub fn busybox_layout(layout: &Path, tag: &str) {
    let image = OciImage {
        arch: "amd64",
        layers: vec![tar_of_dir(&busybox_rootfs())],
        gzip: true,
        cmd: vec!["/bin/sh"],
    };
    write_oci_layout(layout, &[image], tag);
}

/// An image pushed to a registry of its own.
pub struct Pushed {
    pub registry: Registry,
    /// The OCI layout it was pushed from (kept while this lives).
    pub layout: PathBuf,
    pub reference: String,
    _dir: TempDir,
}

/// Starts a registry and pushes to it, as `repo_tag`, the OCI layout
/// (tagged `v1`) that `write` makes in the dir it is given.
pub fn push_layout(repo_tag: &str, write: impl FnOnce(&Path)) -> Pushed {
    let registry = Registry::start();
    let dir = hs_tests::tempdir_in_target("pull");
    let layout = dir.path().join("layout");
    write(&layout);
    registry.push(&layout, "v1", repo_tag);
    Pushed {
        reference: registry.reference(repo_tag),
        registry,
        layout,
        _dir: dir,
    }
}

/// The busybox image, pushed as `repo_tag` (see [`push_layout`]).
pub fn push_busybox(repo_tag: &str) -> Pushed {
    push_layout(repo_tag, |layout| busybox_layout(layout, "v1"))
}

/// A one-image layout (tag `v1`) whose layer writes `/tmp/NAME` through a
/// symlinked parent.
pub fn escaping_layout(layout: &Path, name: &str) {
    let evil = {
        let mut b = tar::Builder::new(Vec::new());
        raw_entry(&mut b, tar::EntryType::Symlink, "out", "/tmp", b"");
        raw_entry(
            &mut b,
            tar::EntryType::Regular,
            &format!("out/{name}"),
            "",
            b"x",
        );
        b.into_inner().unwrap()
    };
    let image = OciImage {
        arch: "amd64",
        layers: vec![evil],
        gzip: true,
        cmd: vec!["/bin/sh"],
    };
    write_oci_layout(layout, &[image], "v1");
}

/// Asserts the store holds nothing visible or staged: no image listed,
/// no layer, no blob, no staging dir.
pub fn assert_store_empty(env: &Env) {
    let (code, out, err) = run(hs_image(env).arg("ls"));
    assert_eq!(code, 0, "ls failed: {err}");
    assert!(out.trim().is_empty(), "images listed: {out}");
    let dir = env.root().join("images");
    for sub in ["layers", "tmp", "blobs/sha256"] {
        let d = dir.join(sub);
        if let Ok(entries) = std::fs::read_dir(&d) {
            let left: Vec<_> = entries.flatten().map(|e| e.path()).collect();
            assert!(left.is_empty(), "left in {}: {left:?}", d.display());
        }
    }
}

/// The image's layer dirs, top first, as `lowerdirs` prints them.
pub fn lowerdirs(env: &Env, image: &str) -> String {
    image_ok(env, &["lowerdirs", image]).trim().to_string()
}

/// Runs `script` with /bin/sh inside an overlay of `lowers` (hs-overlay in
/// a private mount namespace, then chroot); returns (code, stdout, stderr).
pub fn run_in_image(lowers: &str, script: &str) -> (i32, String, String) {
    let dir = hs_tests::tempdir_in_target("image-run");
    run_in_image_at(lowers, dir.path(), script)
}

/// The same with the container's upper/work/root under `dir`, so the
/// caller can look at (or commit) `dir/upper` afterwards.
pub fn run_in_image_at(lowers: &str, dir: &Path, script: &str) -> (i32, String, String) {
    let (upper, work, target) = (dir.join("upper"), dir.join("work"), dir.join("root"));
    std::fs::create_dir_all(&target).unwrap();
    let result = run(hs_tests::in_private_mount_ns(hs_tests::bin("hs-overlay"))
        .arg("mount")
        .arg("--lower")
        .arg(lowers)
        .arg("--upper")
        .arg(&upper)
        .arg("--work")
        .arg(&work)
        .arg("--target")
        .arg(&target)
        .arg("--")
        .arg("chroot")
        .arg(&target)
        .args(["/bin/sh", "-c", script]));
    hs_tests::assert_no_mounts_under(dir);
    result
}

/// A docker-registry on a free loopback port with storage in a temp dir,
/// killed on drop. Its request log tells what clients fetched.
pub struct Registry {
    child: Child,
    pub addr: String,
    pub dir: TempDir,
}

impl Registry {
    pub fn start() -> Self {
        Self::start_with("")
    }

    /// `extra` is appended to the config YAML (e.g. an `auth:` section).
    pub fn start_with(extra: &str) -> Self {
        let dir = hs_tests::tempdir_in_target("registry");
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let config = format!(
            "version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: false\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n{extra}",
            dir.path().join("storage").display()
        );
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).unwrap();
        let log = std::fs::File::create(dir.path().join("registry.log")).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config_path)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start docker-registry");
        let up = wait_until(Duration::from_secs(20), || {
            TcpStream::connect(&addr).is_ok()
        });
        assert!(
            up,
            "registry did not come up: {}",
            std::fs::read_to_string(dir.path().join("registry.log")).unwrap_or_default()
        );
        Self { child, addr, dir }
    }

    /// Pushes the layout's `tag` to `REPO:TAG` here with skopeo (`--all`
    /// keeps a multi-platform index whole).
    pub fn push(&self, layout: &Path, tag: &str, repo_tag: &str) {
        run_ok(Command::new("skopeo").args([
            "copy",
            "--all",
            "--quiet",
            "--dest-tls-verify=false",
            &format!("oci:{}:{tag}", layout.display()),
            &format!("docker://{}/{repo_tag}", self.addr),
        ]));
    }

    /// How many times the registry served blob `digest` of `repo`.
    pub fn blob_gets(&self, repo: &str, digest: &str) -> usize {
        let log = std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default();
        let needle = format!("\"GET /v2/{repo}/blobs/{digest} ");
        log.lines().filter(|l| l.contains(&needle)).count()
    }

    /// Where the registry keeps blob `digest` on disk.
    pub fn blob_path(&self, digest: &str) -> PathBuf {
        let hex = digest.trim_start_matches("sha256:");
        self.dir
            .path()
            .join("storage/docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }

    /// `ADDR/REPO:TAG`.
    pub fn reference(&self, repo_tag: &str) -> String {
        format!("{}/{repo_tag}", self.addr)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A token service for a registry with `auth: token:`: every request gets
/// one JWT, signed with a throwaway key whose self-signed certificate the
/// registry trusts, granting pull and push on `repo`.
pub struct TokenServer {
    pub realm: String,
    pub cert: PathBuf,
    pub requests: Arc<AtomicUsize>,
    _dir: TempDir,
}

pub const TOKEN_SERVICE: &str = "hs-test-registry";
pub const TOKEN_ISSUER: &str = "hs-test-issuer";

impl TokenServer {
    pub fn start(repo: &str) -> Self {
        let dir = hs_tests::tempdir_in_target("token");
        let key = dir.path().join("key.pem");
        let cert = dir.path().join("cert.pem");
        run_ok(
            Command::new("openssl")
                .args([
                    "req",
                    "-x509",
                    "-newkey",
                    "rsa:2048",
                    "-nodes",
                    "-days",
                    "1",
                    "-subj",
                    "/CN=hs-test-token",
                    "-keyout",
                ])
                .arg(&key)
                .arg("-out")
                .arg(&cert),
        );
        let der = run_ok(
            Command::new("openssl")
                .args(["x509", "-outform", "DER", "-in"])
                .arg(&cert),
        )
        .stdout;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let header = serde_json::json!({"typ": "JWT", "alg": "RS256", "x5c": [base64_std(&der)]});
        let claims = serde_json::json!({
            "iss": TOKEN_ISSUER, "sub": "hs-test", "aud": TOKEN_SERVICE,
            "exp": now + 3600, "nbf": now - 60, "iat": now - 60, "jti": "hs-test-token",
            "access": [{"type": "repository", "name": repo, "actions": ["pull", "push"]}],
        });
        let signing_input = format!(
            "{}.{}",
            base64_url(&serde_json::to_vec(&header).unwrap()),
            base64_url(&serde_json::to_vec(&claims).unwrap())
        );
        let signature = pipe(
            Command::new("openssl")
                .args(["dgst", "-sha256", "-sign"])
                .arg(&key),
            signing_input.as_bytes(),
        );
        let token = format!("{signing_input}.{}", base64_url(&signature));
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let realm = format!("http://{}/token", listener.local_addr().unwrap());
        let requests = Arc::new(AtomicUsize::new(0));
        let counter = requests.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut buf = [0u8; 8192];
                let mut seen = Vec::new();
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
                counter.fetch_add(1, Ordering::SeqCst);
                let body =
                    serde_json::json!({"token": token, "access_token": token, "expires_in": 3600})
                        .to_string();
                let response = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(response.as_bytes());
            }
        });
        Self {
            realm,
            cert,
            requests,
            _dir: dir,
        }
    }

    /// The registry config section that makes it require our tokens.
    pub fn registry_config(&self) -> String {
        format!(
            "auth:\n  token:\n    realm: {}\n    service: {TOKEN_SERVICE}\n    issuer: {TOKEN_ISSUER}\n    rootcertbundle: {}\n",
            self.realm,
            self.cert.display()
        )
    }
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn base64_std(bytes: &[u8]) -> String {
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn base64_url(bytes: &[u8]) -> String {
    base64_std(bytes)
        .trim_end_matches('=')
        .replace('+', "-")
        .replace('/', "_")
}

/// The value of xattr `name` on `path` itself (not following a symlink).
pub fn xattr_of(path: &Path, name: &str) -> Option<Vec<u8>> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    let name = std::ffi::CString::new(name).unwrap();
    let mut buf = [0u8; 256];
    let n = unsafe {
        libc::lgetxattr(
            path.as_ptr(),
            name.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    (n >= 0).then(|| buf[..n as usize].to_vec())
}
