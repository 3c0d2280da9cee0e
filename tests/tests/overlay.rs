//! hs-overlay, black-box: every mount is made inside a private mount
//! namespace the test creates (util-linux `unshare -m`), and the test checks
//! from its own namespace that nothing reached it or outlived the command.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use hs_tests::{
    assert_no_mounts_under, assert_tool_error, bin, in_private_mount_ns, mounts_under, run, run_ok,
    tempdir_in_target, tree_digest, wait_until, TempDir,
};

/// `sh -c SCRIPT` in a new private mount namespace, with `$OV` the
/// hs-overlay binary and `$1…` the given arguments.
fn sh_in_ns(script: &str, args: &[&Path]) -> Command {
    let mut cmd = in_private_mount_ns("sh");
    cmd.arg("-c")
        .arg(script)
        .arg("sh")
        .args(args)
        .env("OV", bin("hs-overlay"));
    cmd
}

/// A scratch dir with `t/` (the target) and paths for upper and work.
struct Scratch {
    dir: TempDir,
}

impl Scratch {
    fn new(prefix: &str) -> Self {
        let dir = tempdir_in_target(prefix);
        std::fs::create_dir(dir.path().join("t")).unwrap();
        Self { dir }
    }
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    fn target(&self) -> PathBuf {
        self.path("t")
    }
}

/// Two image layers: `top` with `a` and `file`, `bottom` with `dir/…`,
/// `file` (shadowed) and `keep`.
fn two_layers(scratch: &Scratch) -> (PathBuf, PathBuf) {
    let top = scratch.path("top");
    let bottom = scratch.path("bottom");
    std::fs::create_dir_all(&top).unwrap();
    std::fs::create_dir_all(bottom.join("dir/sub")).unwrap();
    std::fs::write(top.join("a"), "a\n").unwrap();
    std::fs::write(top.join("file"), "top\n").unwrap();
    std::fs::write(bottom.join("file"), "bottom\n").unwrap();
    std::fs::write(bottom.join("keep"), "keep\n").unwrap();
    std::fs::write(bottom.join("dir/one"), "1\n").unwrap();
    std::fs::write(bottom.join("dir/sub/two"), "2\n").unwrap();
    (top, bottom)
}

/// What a tool wrote on `--info-fd`, redirected to `path`.
fn info_json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn is_whiteout(path: &Path) -> bool {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    path.symlink_metadata()
        .is_ok_and(|m| m.file_type().is_char_device() && m.rdev() == 0)
}

#[test]
fn mount_write_delete_and_rename_land_in_upper_and_leave_lowers_unchanged() {
    if !hs_tests::require_root() {
        return;
    }
    let scratch = Scratch::new("ov-mount");
    let (top, bottom) = two_layers(&scratch);
    let before = (tree_digest(&top), tree_digest(&bottom));
    let lowers = format!("{}:{}", top.display(), bottom.display());
    run_ok(
        sh_in_ns(
            r#"set -e
            "$OV" mount --lower "$1" --upper "$2" --work "$3" --target "$4" -- sh -c '
                set -e
                test "$(cat "${1:?}/file")" = top
                echo new > "${1:?}/new"
                echo more >> "${1:?}/file"
                rm -rf "${1:?}/dir"
                mv "${1:?}/a" "${1:?}/renamed"' sh "$4""#,
            &[
                Path::new(&lowers),
                &scratch.path("u"),
                &scratch.path("w"),
                &scratch.target(),
            ],
        )
        .stdin(Stdio::null()),
    );
    assert_eq!((tree_digest(&top), tree_digest(&bottom)), before);
    let upper = scratch.path("u");
    assert_eq!(std::fs::read_to_string(upper.join("new")).unwrap(), "new\n");
    assert_eq!(
        std::fs::read_to_string(upper.join("file")).unwrap(),
        "top\nmore\n"
    );
    assert_eq!(
        std::fs::read_to_string(upper.join("renamed")).unwrap(),
        "a\n"
    );
    assert!(is_whiteout(&upper.join("dir")), "rm -rf left no whiteout");
    assert!(is_whiteout(&upper.join("a")), "mv left no whiteout");
    assert_no_mounts_under(&scratch.target());
}

#[test]
fn mount_reports_its_mounts_on_info_fd() {
    if !hs_tests::require_root() {
        return;
    }
    let scratch = Scratch::new("ov-info");
    let (top, _) = two_layers(&scratch);
    let info = scratch.path("info.json");
    run_ok(&mut sh_in_ns(
        r#""$OV" mount --lower "$1" --upper "$2" --work "$3" --target "$4" --info-fd 3 -- true 3>"$5""#,
        &[
            &top,
            &scratch.path("u"),
            &scratch.path("w"),
            &scratch.target(),
            &info,
        ],
    ));
    let info = info_json(&info);
    let target = scratch.target().canonicalize().unwrap();
    assert_eq!(info["target"], target.to_str().unwrap());
    assert_eq!(
        info["mounts"],
        serde_json::json!([target.to_str().unwrap()])
    );
}

#[test]
fn host_mirror_reports_its_mounts_on_info_fd_in_plan_order() {
    if !hs_tests::require_root() {
        return;
    }
    // Overlays are prepared on several threads; they are still attached,
    // and reported, skeleton first and then in path order.
    let scratch = Scratch::new("ov-hinfo");
    let info = scratch.path("info.json");
    run_ok(&mut sh_in_ns(
        r#""$OV" host --dirs var,usr,etc --add-dir /usr/share --upper "$1" --work "$2" --target "$3" --info-fd 3 -- true 3>"$4""#,
        &[
            &scratch.path("u"),
            &scratch.path("w"),
            &scratch.target(),
            &info,
        ],
    ));
    let info = info_json(&info);
    let target = scratch.target().canonicalize().unwrap();
    // /usr/share is on the host root's mount: usr's bind shows it.
    let expected: Vec<String> = ["", "etc", "usr", "var"]
        .iter()
        .map(|rel| {
            target
                .join(rel)
                .to_string_lossy()
                .trim_end_matches('/')
                .to_string()
        })
        .collect();
    assert_eq!(info["mounts"], serde_json::json!(expected));
}

/// The chained program (`child`, which writes its pid to `ready` and then
/// waits for stdin to close) sees `seen` (a mount point below `target`)
/// while the test's namespace sees nothing below `target`; once it exits
/// nothing is mounted there.
fn assert_mounts_only_for_the_program(mut child: Child, ready: &Path, target: &Path, seen: &Path) {
    assert!(wait_until(Duration::from_secs(10), || {
        std::fs::read_to_string(ready).is_ok_and(|s| s.ends_with('\n'))
    }));
    let pid = std::fs::read_to_string(ready).unwrap().trim().to_string();
    let theirs = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap();
    assert!(
        theirs.contains(&format!(" {} ", seen.display())),
        "the chained program does not see {}",
        seen.display()
    );
    assert_eq!(mounts_under(target), Vec::<String>::new());
    drop(child.stdin.take());
    assert!(child.wait().unwrap().success());
    assert_no_mounts_under(target);
}

#[test]
fn mount_is_invisible_outside_its_namespace_and_gone_after_prog_exits() {
    if !hs_tests::require_root() {
        return;
    }
    let scratch = Scratch::new("ov-private");
    let (top, _) = two_layers(&scratch);
    let ready = scratch.path("ready");
    let child = sh_in_ns(
        r#"exec "$OV" mount --lower "$1" --upper "$2" --work "$3" --target "$4" -- sh -c 'echo $$ > "$1"; read line || true' sh "$5""#,
        &[
            &top,
            &scratch.path("u"),
            &scratch.path("w"),
            &scratch.target(),
            &ready,
        ],
    )
    .stdin(Stdio::piped())
    .spawn()
    .unwrap();
    let target = scratch.target().canonicalize().unwrap();
    assert_mounts_only_for_the_program(child, &ready, &target, &target);
}

#[test]
fn host_mirror_is_invisible_outside_its_namespace_and_gone_after_prog_exits() {
    if !hs_tests::require_root() {
        return;
    }
    let scratch = Scratch::new("ov-hostprivate");
    let ready = scratch.path("ready");
    let child = sh_in_ns(
        r#"exec "$OV" host --upper "$1" --work "$2" --target "$3" -- sh -c 'echo $$ > "$1"; read line || true' sh "$4""#,
        &[
            &scratch.path("u"),
            &scratch.path("w"),
            &scratch.target(),
            &ready,
        ],
    )
    .stdin(Stdio::piped())
    .spawn()
    .unwrap();
    let target = scratch.target().canonicalize().unwrap();
    assert_mounts_only_for_the_program(child, &ready, &target, &target.join("usr"));
}

#[test]
fn unshare_mount_keeps_the_mounts_out_of_the_callers_namespace() {
    if !hs_tests::require_root() {
        return;
    }
    for mode in ["mount", "host"] {
        let scratch = Scratch::new("ov-unshare");
        let (top, _) = two_layers(&scratch);
        let ready = scratch.path("ready");
        // Run from the test's own mount namespace: hs-overlay makes its own.
        let mut cmd = Command::new(bin("hs-overlay"));
        cmd.arg(mode);
        if mode == "mount" {
            cmd.arg("--lower").arg(&top);
        }
        cmd.arg("--upper")
            .arg(scratch.path("u"))
            .arg("--work")
            .arg(scratch.path("w"))
            .arg("--target")
            .arg(scratch.target())
            .args(["--unshare-mount", "--", "sh", "-c"])
            .arg(r#"echo $$ > "$1"; read line || true"#)
            .arg("sh")
            .arg(&ready);
        let child = cmd.stdin(Stdio::piped()).spawn().unwrap();
        let target = scratch.target().canonicalize().unwrap();
        assert_mounts_only_for_the_program(child, &ready, &target, &target);
    }
}

#[test]
fn unshare_mount_without_a_program_is_refused() {
    if !hs_tests::require_root() {
        return;
    }
    let scratch = Scratch::new("ov-unshare-noprog");
    let (top, _) = two_layers(&scratch);
    let out = run(Command::new(bin("hs-overlay"))
        .arg("mount")
        .arg("--lower")
        .arg(&top)
        .arg("--upper")
        .arg(scratch.path("u"))
        .arg("--work")
        .arg(scratch.path("w"))
        .arg("--target")
        .arg(scratch.target())
        .arg("--unshare-mount"));
    assert_tool_error(&out, "hs-overlay", "--unshare-mount needs a PROG");
    assert!(!scratch.path("u").exists());
    assert_no_mounts_under(&scratch.target().canonicalize().unwrap());
}

#[test]
fn host_mirror_write_delete_and_rename_land_in_upper_and_leave_host_unchanged() {
    if !hs_tests::require_root() {
        return;
    }
    // A host dir of the test's own under /var/tmp stands in for the host
    // files the container touches.
    let host = tempfile::Builder::new()
        .prefix("hs-ov-host-")
        .tempdir_in("/var/tmp")
        .unwrap();
    std::fs::create_dir_all(host.path().join("dir/sub")).unwrap();
    std::fs::write(host.path().join("dir/sub/f"), "f\n").unwrap();
    std::fs::write(host.path().join("file"), "host\n").unwrap();
    std::fs::write(host.path().join("old"), "old\n").unwrap();
    let before = tree_digest(host.path());
    let etc_before = tree_digest(Path::new("/etc/default"));
    let scratch = Scratch::new("ov-host");
    run_ok(&mut sh_in_ns(
        r#"set -e
        "$OV" host --upper "$1" --work "$2" --target "$3" -- sh -c '
            set -e
            h="${1:?}${2:?}"
            echo more >> "$h/file"
            rm -rf "$h/dir"
            mv "$h/old" "$h/new"
            echo hs > "${1:?}/etc/default/hs-overlay-test"' sh "$3" "$4""#,
        &[
            &scratch.path("u"),
            &scratch.path("w"),
            &scratch.target(),
            host.path(),
        ],
    ));
    assert_eq!(tree_digest(host.path()), before);
    assert_eq!(tree_digest(Path::new("/etc/default")), etc_before);
    assert!(!Path::new("/etc/default/hs-overlay-test").exists());
    let rel = host.path().strip_prefix("/var").unwrap();
    let upper = scratch.path("u/var").join(rel);
    assert_eq!(
        std::fs::read_to_string(upper.join("file")).unwrap(),
        "host\nmore\n"
    );
    assert!(is_whiteout(&upper.join("dir")));
    assert!(is_whiteout(&upper.join("old")));
    assert_eq!(std::fs::read_to_string(upper.join("new")).unwrap(), "old\n");
    assert_eq!(
        std::fs::read_to_string(scratch.path("u/etc/default/hs-overlay-test")).unwrap(),
        "hs\n"
    );
    assert_no_mounts_under(&scratch.target());
}

#[test]
fn host_mirror_runs_host_programs_chrooted() {
    if !hs_tests::require_root() {
        return;
    }
    let scratch = Scratch::new("ov-chroot");
    let out = run_ok(&mut sh_in_ns(
        r#""$OV" host --upper "$1" --work "$2" --target "$3" -- chroot "$3" /bin/sh -c '/usr/bin/env -i A=b /usr/bin/env; ls /usr/bin/env; echo $0'"#,
        &[&scratch.path("u"), &scratch.path("w"), &scratch.target()],
    ));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "A=b\n/usr/bin/env\n/bin/sh\n"
    );
}

#[test]
fn host_mirror_symlinks_stay_symlinks_and_are_not_mounted() {
    if !hs_tests::require_root() {
        return;
    }
    let scratch = Scratch::new("ov-links");
    let target = scratch.target().canonicalize().unwrap();
    let out = run_ok(&mut sh_in_ns(
        r#""$OV" host --upper "$1" --work "$2" --target "$3" -- cat /proc/self/mountinfo"#,
        &[&scratch.path("u"), &scratch.path("w"), &target],
    ));
    let mountinfo = String::from_utf8_lossy(&out.stdout);
    let mount_points: Vec<&str> = mountinfo
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|mp| Path::new(mp).starts_with(&target))
        .collect();
    let mut expected = vec![target.clone()];
    for dir in [
        "bin", "sbin", "lib", "lib32", "lib64", "libx32", "usr", "etc", "opt", "var", "srv",
    ] {
        let host = Path::new("/").join(dir);
        match host.symlink_metadata() {
            Ok(meta) if meta.file_type().is_symlink() => {
                // The symlink was made in the skeleton, which is gone with the
                // namespace; what counts is that it was not mounted.
                assert!(!mount_points.contains(&target.join(dir).to_str().unwrap()));
            }
            Ok(meta) if meta.is_dir() => expected.push(target.join(dir)),
            _ => {}
        }
    }
    let mut found: Vec<PathBuf> = mount_points.iter().map(PathBuf::from).collect();
    found.sort();
    expected.sort();
    assert_eq!(found, expected, "one mount per real dir, none for symlinks");
}

#[test]
fn host_mirror_recreates_host_symlinks_with_their_targets() {
    if !hs_tests::require_root() {
        return;
    }
    let scratch = Scratch::new("ov-readlink");
    let out = run_ok(&mut sh_in_ns(
        r#""$OV" host --upper "$1" --work "$2" --target "$3" -- sh -c 'for d in bin sbin lib lib64; do if [ -L "/$d" ]; then echo "$d $(readlink "$3/$d") $(readlink "/$d")"; fi; done'"#,
        &[&scratch.path("u"), &scratch.path("w"), &scratch.target()],
    ));
    let text = String::from_utf8_lossy(&out.stdout);
    for line in text.lines() {
        let parts: Vec<&str> = line.split(' ').collect();
        assert_eq!(parts[1], parts[2], "{line}");
    }
    let merged_usr = Path::new("/bin").symlink_metadata().unwrap().is_symlink();
    assert_eq!(!text.is_empty(), merged_usr);
}

#[test]
fn host_mirror_with_upper_under_var_works_with_that_path_hidden() {
    if !hs_tests::require_root() {
        return;
    }
    let root = tempfile::Builder::new()
        .prefix("hs-ov-root-")
        .tempdir_in("/var/tmp")
        .unwrap();
    std::fs::write(root.path().join("secret"), "s\n").unwrap();
    let scratch = Scratch::new("ov-var");
    let (upper, work) = (root.path().join("c/upper"), root.path().join("c/work"));
    let out = run_ok(&mut sh_in_ns(
        r#"set -e
        "$OV" host --upper "$1" --work "$2" --target "$3" --hide "$4" -- sh -c '
            set -e
            ls -A "${1:?}$2"
            echo x > "${1:?}/etc/hs-overlay-var-test"
            grep " ${1:?}$2 " /proc/self/mountinfo | grep -c " ro,"' sh "$3" "$4""#,
        &[&upper, &work, &scratch.target(), root.path()],
    ));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "1\n",
        "hidden dir not empty or not ro"
    );
    assert_eq!(
        std::fs::read_to_string(upper.join("etc/hs-overlay-var-test")).unwrap(),
        "x\n"
    );
    assert!(!Path::new("/etc/hs-overlay-var-test").exists());
    assert_no_mounts_under(&scratch.target());
}

#[test]
fn host_mirror_with_upper_under_var_and_no_hide_is_refused() {
    if !hs_tests::require_root() {
        return;
    }
    let root = tempfile::Builder::new()
        .prefix("hs-ov-root-")
        .tempdir_in("/var/tmp")
        .unwrap();
    let scratch = Scratch::new("ov-nohide");
    let result = run(&mut sh_in_ns(
        r#"exec "$OV" host --upper "${1:?}/upper" --work "${1:?}/work" --target "$2" -- true"#,
        &[root.path(), &scratch.target()],
    ));
    assert_tool_error(&result, "hs-overlay", "--hide");
    assert_eq!(
        std::fs::read_dir(root.path()).unwrap().count(),
        0,
        "created something"
    );
}

/// A host mount below a mirrored dir (here a tmpfs on /srv/data, below a
/// tmpfs on /srv, both in the test's namespace only) is its empty mount
/// point through its parent's overlay; `--add-dir` gives it an overlay of
/// its own, on top of its parent's, with its own upper subdir.
#[test]
fn host_mirror_add_dir_mirrors_a_nested_mount_as_its_own_overlay() {
    if !hs_tests::require_root() {
        return;
    }
    let scratch = Scratch::new("ov-adddir");
    let target = scratch.target().canonicalize().unwrap();
    let out = run_ok(&mut sh_in_ns(
        r#"mount -t tmpfs tmpfs /srv && mkdir /srv/data && mount -t tmpfs tmpfs /srv/data || exit 99
        echo below > /srv/data/file
        "$OV" host --upper "$1" --work "$2" --target "$3" --dirs usr,srv --add-dir /srv/data -- sh -c 'grep -c " $1/srv/data " /proc/self/mountinfo; cat "$1/srv/data/file"; touch "${1:?}/srv/data/hs-overlay-add-dir"' sh "$3"
        rc=$?
        ls /srv/data
        exit $rc"#,
        &[&scratch.path("u"), &scratch.path("w"), &target],
    ));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "1\nbelow\nfile\n");
    assert!(scratch.path("u/srv%2Fdata/hs-overlay-add-dir").exists());
}

/// Below a mirrored dir on the host root's mount, an added dir is shown by
/// its parent's bind of the shared overlay: no mount of its own, and its
/// changes land under the parent's.
#[test]
fn host_mirror_add_dir_on_the_root_mount_needs_no_mount_of_its_own() {
    if !hs_tests::require_root() {
        return;
    }
    let scratch = Scratch::new("ov-addshared");
    let target = scratch.target().canonicalize().unwrap();
    let out = run_ok(&mut sh_in_ns(
        r#""$OV" host --upper "$1" --work "$2" --target "$3" --dirs usr --add-dir /usr/share -- sh -c 'grep -c " $1/usr/share " /proc/self/mountinfo; touch "${1:?}/usr/share/hs-overlay-add-dir"' sh "$3""#,
        &[&scratch.path("u"), &scratch.path("w"), &target],
    ));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "0\n");
    assert!(scratch.path("u/usr/share/hs-overlay-add-dir").exists());
    assert!(!Path::new("/usr/share/hs-overlay-add-dir").exists());
}

#[test]
fn layers_130_mount_with_the_top_layer_winning() {
    if !hs_tests::require_root() {
        return;
    }
    let scratch = Scratch::new("ov-layers");
    let mut lowers = Vec::new();
    for i in 0..130 {
        let layer = scratch.path(&format!("layers/layer-with-a-longish-name-{i:03}"));
        std::fs::create_dir_all(&layer).unwrap();
        std::fs::write(layer.join("who"), format!("{i}\n")).unwrap();
        std::fs::write(layer.join(format!("only-{i:03}")), "").unwrap();
        lowers.push(layer.display().to_string());
    }
    let lowers = lowers.join(":");
    assert!(
        lowers.len() > 4096,
        "the test must exceed one page of options"
    );
    let out = run_ok(&mut sh_in_ns(
        r#""$OV" mount --lower "$1" --upper "$2" --work "$3" --target "$4" -- sh -c 'cat "${1:?}/who"; ls "$1" | grep -c only-' sh "$4""#,
        &[
            Path::new(&lowers),
            &scratch.path("u"),
            &scratch.path("w"),
            &scratch.target(),
        ],
    ));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "0\n130\n");
}

#[test]
fn diff_matches_the_expected_changes_for_a_scripted_session() {
    if !hs_tests::require_root() {
        return;
    }
    let scratch = Scratch::new("ov-diff");
    let lower = scratch.path("lower");
    for d in ["etc", "old/deep", "swap"] {
        std::fs::create_dir_all(lower.join(d)).unwrap();
    }
    for f in [
        "etc/keep",
        "etc/edit",
        "etc/gone",
        "old/deep/x",
        "swap/x",
        "swap/y",
    ] {
        std::fs::write(lower.join(f), "x\n").unwrap();
    }
    run_ok(&mut sh_in_ns(
        r#"set -e
        "$OV" mount --lower "$1" --upper "$2" --work "$3" --target "$4" -- sh -c '
            set -e
            cd "${1:?}"
            echo changed >> etc/edit
            echo new > etc/new
            rm etc/gone
            rm -rf old
            rm -rf swap && mkdir swap && echo z > swap/z
            mkdir -p fresh/sub && echo f > fresh/sub/f' sh "$4""#,
        &[
            &lower,
            &scratch.path("u"),
            &scratch.path("w"),
            &scratch.target(),
        ],
    ));
    let out = run_ok(
        Command::new(bin("hs-overlay"))
            .arg("diff")
            .arg(scratch.path("u"))
            .arg("--lower")
            .arg(&lower),
    );
    let expected = [
        ("C", "/etc"),
        ("C", "/etc/edit"),
        ("D", "/etc/gone"),
        ("A", "/etc/new"),
        ("A", "/fresh"),
        ("A", "/fresh/sub"),
        ("A", "/fresh/sub/f"),
        ("D", "/old"),
        ("C", "/swap"),
        ("D", "/swap/x"),
        ("D", "/swap/y"),
        ("A", "/swap/z"),
    ]
    .iter()
    .map(|(kind, path)| format!("{{\"kind\":\"{kind}\",\"path\":\"{path}\"}}\n"))
    .collect::<String>();
    assert_eq!(String::from_utf8_lossy(&out.stdout), expected);
}

#[test]
fn diff_without_lowers_uses_the_kernels_copy_up_marks() {
    if !hs_tests::require_root() {
        return;
    }
    let scratch = Scratch::new("ov-diffguess");
    let (top, _) = two_layers(&scratch);
    run_ok(&mut sh_in_ns(
        r#""$OV" mount --lower "$1" --upper "$2" --work "$3" --target "$4" -- sh -c 'echo more >> "${1:?}/file"; echo new > "${1:?}/new"' sh "$4""#,
        &[
            &top,
            &scratch.path("u"),
            &scratch.path("w"),
            &scratch.target(),
        ],
    ));
    let out = run_ok(
        Command::new(bin("hs-overlay"))
            .arg("diff")
            .arg(scratch.path("u")),
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "{\"kind\":\"C\",\"path\":\"/file\"}\n{\"kind\":\"A\",\"path\":\"/new\"}\n"
    );
}

#[test]
fn diff_host_maps_upper_subdirs_to_container_paths() {
    if !hs_tests::require_root() {
        return;
    }
    let scratch = Scratch::new("ov-diffhost");
    run_ok(&mut sh_in_ns(
        r#""$OV" host --upper "$1" --work "$2" --target "$3" --dirs etc -- sh -c 'echo x > "${1:?}/etc/hs-overlay-diff-test"; rm "${1:?}/etc/hostname"' sh "$3""#,
        &[&scratch.path("u"), &scratch.path("w"), &scratch.target()],
    ));
    let out = run_ok(
        Command::new(bin("hs-overlay"))
            .arg("diff")
            .arg(scratch.path("u"))
            .arg("--host"),
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "{\"kind\":\"C\",\"path\":\"/etc\"}\n\
         {\"kind\":\"D\",\"path\":\"/etc/hostname\"}\n\
         {\"kind\":\"A\",\"path\":\"/etc/hs-overlay-diff-test\"}\n"
    );
}

#[test]
fn umount_removes_everything_a_mount_without_prog_left() {
    if !hs_tests::require_root() {
        return;
    }
    let scratch = Scratch::new("ov-umount");
    let target = scratch.target().canonicalize().unwrap();
    let out = run_ok(&mut sh_in_ns(
        r#"set -e
        "$OV" host --upper "$1" --work "$2" --target "$3"
        grep -c " $3[ /]" /proc/self/mountinfo
        "$OV" umount "$3"
        grep -c " $3[ /]" /proc/self/mountinfo || true"#,
        &[&scratch.path("u"), &scratch.path("w"), &target],
    ));
    let text = String::from_utf8_lossy(&out.stdout);
    let counts: Vec<&str> = text.lines().collect();
    assert_ne!(counts[0], "0");
    assert_eq!(counts[1], "0");
}

#[test]
fn umount_of_something_not_mounted_is_refused() {
    if !hs_tests::require_root() {
        return;
    }
    let scratch = Scratch::new("ov-notmounted");
    let result = run(Command::new(bin("hs-overlay"))
        .arg("umount")
        .arg(scratch.target()));
    assert_tool_error(&result, "hs-overlay", "not a mount point");
}

#[test]
fn missing_lower_is_refused_and_nothing_created() {
    if !hs_tests::require_root() {
        return;
    }
    let scratch = Scratch::new("ov-nolower");
    let result = run(&mut sh_in_ns(
        r#"exec "$OV" mount --lower "$1" --upper "$2" --work "$3" --target "$4" -- true"#,
        &[
            &scratch.path("missing"),
            &scratch.path("u"),
            &scratch.path("w"),
            &scratch.target(),
        ],
    ));
    assert_tool_error(&result, "hs-overlay", "no such directory");
    assert!(!scratch.path("u").exists() && !scratch.path("w").exists());
}

#[test]
fn target_that_is_not_a_directory_is_refused() {
    if !hs_tests::require_root() {
        return;
    }
    let scratch = Scratch::new("ov-notdir");
    let (top, _) = two_layers(&scratch);
    let result = run(&mut sh_in_ns(
        r#"exec "$OV" mount --lower "$1" --target "$2" -- true"#,
        &[&top, &top.join("a")],
    ));
    assert_tool_error(&result, "hs-overlay", "not a directory");
}

#[test]
fn upper_on_an_overlay_is_refused() {
    if !hs_tests::require_root() {
        return;
    }
    let scratch = Scratch::new("ov-nested");
    let (top, bottom) = two_layers(&scratch);
    std::fs::create_dir(scratch.path("t2")).unwrap();
    let result = run(&mut sh_in_ns(
        r#"exec "$OV" mount --lower "$1" --upper "$2" --work "$3" --target "$4" -- "$OV" mount --lower "$5" --upper "$4/u" --work "$4/w" --target "$6" -- true"#,
        &[
            &top,
            &scratch.path("u"),
            &scratch.path("w"),
            &scratch.target(),
            &bottom,
            &scratch.path("t2"),
        ],
    ));
    assert_tool_error(&result, "hs-overlay", "lies on an overlayfs");
}

#[test]
fn upper_and_work_on_different_filesystems_are_refused() {
    if !hs_tests::require_root() {
        return;
    }
    let scratch = Scratch::new("ov-xdev");
    let (top, _) = two_layers(&scratch);
    let work = tempfile::tempdir_in("/dev/shm").unwrap();
    let result = run(&mut sh_in_ns(
        r#"exec "$OV" mount --lower "$1" --upper "$2" --work "$3" --target "$4" -- true"#,
        &[
            &top,
            &scratch.path("u"),
            &work.path().join("w"),
            &scratch.target(),
        ],
    ));
    assert_tool_error(&result, "hs-overlay", "different filesystems");
    assert!(!scratch.path("u").exists());
}

#[test]
fn unknown_overlay_option_is_refused() {
    if !hs_tests::require_root() {
        return;
    }
    let scratch = Scratch::new("ov-badopt");
    let (top, _) = two_layers(&scratch);
    let result = run(&mut sh_in_ns(
        r#"exec "$OV" mount --lower "$1" --upper "$2" --work "$3" --target "$4" --option no_such_feature=on -- true"#,
        &[
            &top,
            &scratch.path("u"),
            &scratch.path("w"),
            &scratch.target(),
        ],
    ));
    assert_tool_error(&result, "hs-overlay", "not supported by this kernel");
}

#[test]
fn chained_program_that_is_missing_exits_127() {
    if !hs_tests::require_root() {
        return;
    }
    let scratch = Scratch::new("ov-127");
    let (top, _) = two_layers(&scratch);
    let (code, _, stderr) = run(&mut sh_in_ns(
        r#"exec "$OV" mount --lower "$1" --upper "$2" --work "$3" --target "$4" -- /no/such/program"#,
        &[
            &top,
            &scratch.path("u"),
            &scratch.path("w"),
            &scratch.target(),
        ],
    ));
    assert_eq!(code, 127, "{stderr}");
}

#[test]
fn read_only_overlay_of_two_layers_mounts_and_of_one_is_refused() {
    if !hs_tests::require_root() {
        return;
    }
    let scratch = Scratch::new("ov-ro");
    let (top, bottom) = two_layers(&scratch);
    let lowers = format!("{}:{}", top.display(), bottom.display());
    let out = run_ok(&mut sh_in_ns(
        r#""$OV" mount --lower "$1" --target "$2" -- sh -c 'cat "${1:?}/keep"; touch "${1:?}/x" 2>/dev/null || echo read-only' sh "$2""#,
        &[Path::new(&lowers), &scratch.target()],
    ));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "keep\nread-only\n");
    let result = run(&mut sh_in_ns(
        r#"exec "$OV" mount --lower "$1" --target "$2" -- true"#,
        &[&top, &scratch.target()],
    ));
    assert_tool_error(&result, "hs-overlay", "two lower");
}

#[test]
fn host_mirror_that_fails_midway_removes_the_upper_dirs_it_made() {
    if !hs_tests::require_root() {
        return;
    }
    let scratch = Scratch::new("ov-undo");
    let result = run(&mut sh_in_ns(
        r#"exec "$OV" host --upper "$1" --work "$2" --target "$3" --option no_such_feature=on -- true"#,
        &[&scratch.path("u"), &scratch.path("w"), &scratch.target()],
    ));
    assert_tool_error(&result, "hs-overlay", "not supported by this kernel");
    assert!(!scratch.path("u").exists() && !scratch.path("w").exists());
    assert_eq!(std::fs::read_dir(scratch.target()).unwrap().count(), 0);
}

#[test]
fn host_mirror_whose_middle_overlay_fails_unmounts_the_ones_prepared_with_it() {
    if !hs_tests::require_root() {
        return;
    }
    // The overlays are prepared side by side: /srv on a mount of its own
    // (a tmpfs, in this namespace only) gets an overlay of its own, and a
    // work dir on another filesystem than its upper makes it fail in the
    // kernel, after etc's bind and with usr's still to come.
    let scratch = Scratch::new("ov-mid");
    for dir in ["u", "w/srv"] {
        std::fs::create_dir_all(scratch.path(dir)).unwrap();
    }
    let result = run(&mut sh_in_ns(
        r#"mount -t tmpfs tmpfs "$2/srv" || exit 99
        mount -t tmpfs tmpfs /srv || exit 98
        "$OV" host --dirs etc,srv,usr --upper "$1" --work "$2" --target "$3" -- true
        rc=$?
        awk -v t="$3" '$5 == t || index($5, t "/") == 1 { print $5 }' /proc/self/mountinfo
        exit $rc"#,
        &[&scratch.path("u"), &scratch.path("w"), &scratch.target()],
    ));
    let needle = scratch.target().join("srv");
    assert_tool_error(&result, "hs-overlay", &needle.to_string_lossy());
    assert_eq!(result.1, "", "mounts left under the target");
}

#[test]
fn dry_run_prints_the_plan_and_creates_nothing() {
    let scratch = Scratch::new("ov-dry");
    let target = scratch.target().canonicalize().unwrap();
    let out = run_ok(
        Command::new(bin("hs-overlay"))
            .args(["host", "--dry-run", "--dirs", "usr,etc", "--upper"])
            .arg(scratch.path("u"))
            .arg("--work")
            .arg(scratch.path("w"))
            .arg("--target")
            .arg(&target),
    );
    let plan = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = plan.lines().collect();
    assert_eq!(
        lines[0],
        format!("mount -t tmpfs -o mode=0755 tmpfs {}", target.display())
    );
    // Each mirrored dir once: an overlay of its own (on a mount of its
    // own) or a bind of the one shared overlay (on the host root's mount).
    let own = lines
        .iter()
        .filter(|l| l.starts_with("mount -t overlay") && !l.contains("(detached"))
        .count();
    let bound = lines
        .iter()
        .filter(|l| l.starts_with("mount --bind <shared overlay>"))
        .count();
    assert_eq!(own + bound, 2, "{plan}");
    assert!(!scratch.path("u").exists() && !scratch.path("w").exists());
    assert_no_mounts_under(&target);
}

#[test]
fn layer_paths_longer_than_fsconfig_takes_still_mount() {
    if !hs_tests::require_root() {
        return;
    }
    let scratch = Scratch::new("ov-longpath");
    let long = scratch.path(&["a".repeat(120), "b".repeat(120), "c".repeat(40)].join("/"));
    assert!(long.as_os_str().len() > 255);
    std::fs::create_dir_all(&long).unwrap();
    std::fs::write(long.join("deep"), "deep\n").unwrap();
    let out = run_ok(&mut sh_in_ns(
        r#""$OV" mount --lower "$1" --upper "$2" --work "$3" --target "$4" -- cat "$4/deep""#,
        &[
            &long,
            &scratch.path("u"),
            &scratch.path("w"),
            &scratch.target(),
        ],
    ));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "deep\n");
}

#[test]
fn classic_mount_fallback_mounts_and_reports_too_many_layers() {
    if !hs_tests::require_root() {
        return;
    }
    let scratch = Scratch::new("ov-classic");
    let (top, bottom) = two_layers(&scratch);
    let lowers = format!("{}:{}", top.display(), bottom.display());
    let out = run_ok(
        sh_in_ns(
            r#""$OV" mount --lower "$1" --upper "$2" --work "$3" --target "$4" -- sh -c 'cat "${1:?}/file" "${1:?}/keep"; grep " $1 " /proc/self/mountinfo | grep -c "lowerdir=$2"' sh "$4" "$5""#,
            &[
                Path::new(&lowers),
                &scratch.path("u"),
                &scratch.path("w"),
                &scratch.target().canonicalize().unwrap(),
                &top.canonicalize().unwrap(),
            ],
        )
        .env("HS_OVERLAY_CLASSIC_MOUNT", "1"),
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "top\nkeep\n1\n");

    let mut many = Vec::new();
    for i in 0..130 {
        let layer = scratch.path(&format!("layers/layer-with-a-longish-name-{i:03}"));
        std::fs::create_dir_all(&layer).unwrap();
        many.push(layer.display().to_string());
    }
    let result = run(sh_in_ns(
        r#"exec "$OV" mount --lower "$1" --upper "$2" --work "$3" --target "$4" -- true"#,
        &[
            Path::new(&many.join(":")),
            &scratch.path("u2"),
            &scratch.path("w2"),
            &scratch.target(),
        ],
    )
    .env("HS_OVERLAY_CLASSIC_MOUNT", "1"));
    assert_tool_error(&result, "hs-overlay", "130 layers need");
    assert!(!scratch.path("u2").exists());
}

/// Without the new mount API the host mirror's shared overlay is mounted
/// with mount(2) on a scratch dir in the work dir and bound from there:
/// the program sees the binds, not the scratch mount, which is gone.
#[test]
fn host_mirror_by_mount_2_binds_from_a_scratch_mount_it_removes() {
    if !hs_tests::require_root() {
        return;
    }
    let scratch = Scratch::new("ov-hclassic");
    let out = run_ok(
        sh_in_ns(
            r#""$OV" host --dirs usr,etc --upper "$1" --work "$2" --target "$3" -- sh -c 'awk -v s="$2/%2F.mnt" "\$5 == s" /proc/self/mountinfo | wc -l; test -e "$2/%2F.mnt" && echo left || echo gone; echo x > "${1:?}/etc/hs-overlay-classic"' sh "$3" "$2""#,
            &[
                &scratch.path("u"),
                &scratch.path("w").canonicalize().unwrap_or(scratch.path("w")),
                &scratch.target().canonicalize().unwrap(),
            ],
        )
        .env("HS_OVERLAY_CLASSIC_MOUNT", "1"),
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "0\ngone\n");
    assert!(scratch.path("u/etc/hs-overlay-classic").exists());
    assert!(!Path::new("/etc/hs-overlay-classic").exists());
}

#[test]
fn volatile_mount_works_once_and_a_remount_is_refused_clearly() {
    if !hs_tests::require_root() {
        return;
    }
    let scratch = Scratch::new("ov-volatile");
    let (top, _) = two_layers(&scratch);
    let mount = || {
        run(&mut sh_in_ns(
            r#"exec "$OV" mount --lower "$1" --upper "$2" --work "$3" --target "$4" --option volatile -- true"#,
            &[
                &top,
                &scratch.path("u"),
                &scratch.path("w"),
                &scratch.target(),
            ],
        ))
    };
    assert_eq!(mount().0, 0);
    assert_tool_error(&mount(), "hs-overlay", "work/incompat/volatile");
}
