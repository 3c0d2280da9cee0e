#!/usr/bin/env bash
# bench/hs.sh — the front-end's own costs, next to podman where it has the
# same command (bench/run already measures `hs run --rm`, `hs exec` and
# `hs ps -a` over 1,000 containers against crun, runc, bwrap and podman):
#   front-end: `hs run --dry-run` (validation + chain, nothing runs) and
#              `hs inspect`, next to `podman inspect`;
#   lifecycle: `hs run -d` (returns at the handshake), `hs stop` of a
#              container that ends on SIGTERM, `hs rm -f` of a running one,
#              next to `podman run -d`, `podman stop`, `podman rm -f`.
# Podman rows run only under bench/run (its private namespace keeps
# podman's fixed host paths away from the host); standalone they are
# skipped. Env: HS_BENCH_BIN, HS_BENCH_ROOTFS, HS_BENCH_TMP, HS_BENCH_LIB,
# HS_ROOT, HS_CGROUP_PARENT (all set by bench/run), BENCH_RUNS (30).
# Prints markdown on stdout, progress on stderr; removes what it creates.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
source "${HS_BENCH_LIB:-$here/lib.sh}"

bin=${HS_BENCH_BIN:-$here/../target/${CARGO_BUILD_TARGET:-x86_64-unknown-linux-musl}/release}
if [[ ! -x $bin/hs ]]; then
	bench_log "building release hs and its tools"
	(cd "$here/.." && for p in hs hs-pty hs-cgroup hs-unshare hs-overlay; do cargo build --release -p "$p" >&2; done)
	bin=$here/../target/${CARGO_BUILD_TARGET:-x86_64-unknown-linux-musl}/release
fi
HS=$bin/hs

# Short: podman refuses a runroot over 50 characters, and under
# bench/run this sits below its own temp dir.
BENCH_TMP=$(mktemp -d "${HS_BENCH_TMP:-/var/tmp}/fe.XXXXXX")
export BENCH_TMP
export HS_ROOT=$BENCH_TMP/hsroot
export HS_CGROUP_PARENT=${HS_CGROUP_PARENT:-/hs-bench-front-$$}
with_podman=
if [[ -n ${HS_BENCH_LIB:-} ]] && command -v podman >/dev/null; then
	with_podman=1
fi
PODMAN=(podman --root "$BENCH_TMP/podman/root" --runroot "$BENCH_TMP/podman/run"
	--tmpdir "$BENCH_TMP/podman/tmp" --network-config-dir "$BENCH_TMP/podman/net"
	--cgroup-manager=cgroupfs --events-backend=file)

cleanup() {
	local id
	for id in $("$HS" ps -aq --no-trunc 2>/dev/null); do
		"$HS" rm -f "$id" >/dev/null 2>&1 || true
	done
	if [[ -d $BENCH_TMP/podman ]]; then
		timeout 120 "${PODMAN[@]}" rm -af -t 0 >/dev/null 2>&1 || true
	fi
	# Our cgroup parent only: the containers' own cgroups went with them.
	local d
	for d in /sys/fs/cgroup/*/"${HS_CGROUP_PARENT#/}" /sys/fs/cgroup/"${HS_CGROUP_PARENT#/}"; do
		[[ -d $d ]] && rmdir "$d" 2>/dev/null || true
	done
	rm -rf "$BENCH_TMP"
}
trap cleanup EXIT

rootfs=${HS_BENCH_ROOTFS:-}
if [[ -z $rootfs ]]; then
	rootfs=$BENCH_TMP/rootfs
	bench_busybox_rootfs "$rootfs"
fi
mkdir -p "$HS_ROOT"

# A script per prepared row: hyperfine's --prepare takes one command line.
cat >"$BENCH_TMP/fresh.sh" <<SH
#!/bin/sh
# fresh.sh NAME [run -d args…]: remove NAME, then start it again if asked.
name=\$1; shift
"$HS" rm -f "\$name" >/dev/null 2>&1
[ \$# -eq 0 ] || "$HS" run -d --name "\$name" "\$@" >/dev/null
SH
# --init: hs runs its init by default, and a sleep that is PID 1 would
# ignore podman stop's SIGTERM for its whole 10 s grace.
cat >"$BENCH_TMP/pfresh.sh" <<SH
#!/bin/sh
name=\$1; shift
${PODMAN[*]} rm -f -t 0 "\$name" >/dev/null 2>&1
[ \$# -eq 0 ] || ${PODMAN[*]} run -d --init --name "\$name" --network host --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 --rootfs "\$@" >/dev/null
SH
chmod +x "$BENCH_TMP/fresh.sh" "$BENCH_TMP/pfresh.sh"
F=$BENCH_TMP/fresh.sh
P=$BENCH_TMP/pfresh.sh

"$HS" run -d --name bench-inspect "$rootfs" /bin/sleep 1000000 >/dev/null
podman_rows=()
if [[ -n $with_podman ]]; then
	mkdir -p "$BENCH_TMP"/podman/{root,run,tmp,net}
	"$P" bench-pinspect "$rootfs" /bin/sleep 1000000 || bench_log "podman run -d failed"
	podman_rows+=("peer|podman inspect|${PODMAN[*]} inspect bench-pinspect")
fi
bench_group hs-front "hs front-end: what hs itself costs around the chain" \
	"hs|hs run --dry-run ROOTFS true|$HS run --dry-run $rootfs /bin/true" \
	"hs|hs inspect|$HS inspect bench-inspect" \
	"${podman_rows[@]}"

podman_rows=()
if [[ -n $with_podman ]]; then
	podman_rows+=(
		"peer|podman run -d --rootfs sleep|${PODMAN[*]} run -d --init --name bench-prun --network host --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 --rootfs $rootfs /bin/sleep 1000000|$P bench-prun"
		"peer|podman stop (ends on SIGTERM)|${PODMAN[*]} stop bench-pstop|$P bench-pstop $rootfs /bin/sleep 1000000"
		"peer|podman rm -f (running)|${PODMAN[*]} rm -f -t 0 bench-prm|$P bench-prm $rootfs /bin/sleep 1000000"
	)
fi
BENCH_RUNS=${BENCH_RUNS_SLOW:-10} bench_group hs-lifecycle "hs lifecycle: start detached, stop, force-remove" \
	"hs|hs run -d ROOTFS sleep|$HS run -d --name bench-run $rootfs /bin/sleep 1000000|$F bench-run" \
	"hs|hs stop (ends on SIGTERM)|$HS stop bench-stop|$F bench-stop $rootfs /bin/sleep 1000000" \
	"hs|hs rm -f (running)|$HS rm -f bench-rm|$F bench-rm $rootfs /bin/sleep 1000000" \
	"${podman_rows[@]}"
