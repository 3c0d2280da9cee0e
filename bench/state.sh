#!/usr/bin/env bash
# bench/state.sh — hs-state's targets (issue 3), measured with hyperfine
# through bench/lib.sh's bench_group:
#   create: `hs-state create` with its fsyncs (target: median <= 2 ms),
#           next to the same steps in shell and, under bench/run, `podman
#           create --rootfs`;
#   ls:     `hs-state ls --all` over 10,000 records (target: <= 100 ms),
#           next to a bare read of the same files and, under bench/run,
#           `podman ps -a` of a smaller store next to `hs-state ls --all`
#           of the same size.
# Standalone: `bench/state.sh` (builds release hs-state if needed); podman
# rows run only under bench/run, whose private namespace keeps podman's
# fixed host paths (/run/libpod, /etc/containers) away from the host.
# Env: HS_BENCH_BIN, HS_BENCH_TMP, HS_BENCH_LIB (set by bench/run),
# LS_RECORDS (10000), PODMAN_RECORDS (300), BENCH_RUNS (30).
# Prints markdown on stdout, progress on stderr; removes what it creates.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
source "${HS_BENCH_LIB:-$here/lib.sh}"
ls_records=${LS_RECORDS:-10000}
podman_records=${PODMAN_RECORDS:-300}

bin=${HS_BENCH_BIN:-$here/../target/${CARGO_BUILD_TARGET:-x86_64-unknown-linux-musl}/release}
if [[ ! -x $bin/hs-state ]]; then
	bench_log "building release hs-state"
	(cd "$here/.." && cargo build --release -p hs-state >&2)
	bin=$here/../target/${CARGO_BUILD_TARGET:-x86_64-unknown-linux-musl}/release
fi
state=$bin/hs-state

# A disk, not a tmpfs: fsyncs must cost what they cost.
# Short: podman refuses a runroot over 50 characters, and under
# bench/run this sits below its own temp dir.
BENCH_TMP=$(mktemp -d "${HS_BENCH_TMP:-/var/tmp}/st.XXXXXX")
export BENCH_TMP
with_podman=
if [[ -n ${HS_BENCH_LIB:-} ]] && command -v podman >/dev/null; then
	with_podman=1
fi
PODMAN=(podman --root "$BENCH_TMP/podman/root" --runroot "$BENCH_TMP/podman/run"
	--tmpdir "$BENCH_TMP/podman/tmp" --network-config-dir "$BENCH_TMP/podman/net"
	--cgroup-manager=cgroupfs --events-backend=file)
cleanup() {
	if [[ -d $BENCH_TMP/podman ]]; then
		timeout 120 "${PODMAN[@]}" rm -af -t 0 >/dev/null 2>&1 || true
	fi
	rm -rf "$BENCH_TMP"
}
trap cleanup EXIT

config=$BENCH_TMP/config.json
echo '{"command":["/bin/busybox","true"],"rootfs":{"kind":"host"}}' >"$config"
rootfs=${HS_BENCH_ROOTFS:-$BENCH_TMP/rootfs}
if [[ ! -d $rootfs ]]; then
	mkdir -p "$rootfs/bin"
	cp /bin/busybox "$rootfs/bin/"
fi

# The steps of `hs-state create` in shell (README "Rough shell equivalent").
cat >"$BENCH_TMP/create.sh" <<'SH'
set -e
r=$1 id=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
d=$r/containers/.new-$id
mkdir -p "$r/names" "$d/upper" "$d/work"
cp "$2" "$d/config.json"
echo '{"version":1,"status":"created"}' >"$d/state.json"
sync "$d/config.json" "$d/state.json" "$d"
exec flock "$r/lock" sh -c 'ln -s "../containers/$2" "$1/names/n$2" && mv "$3" "$1/containers/$2" && sync "$1/names" "$1/containers"' sh "$r" "$id" "$d"
SH

# populate ROOT COUNT: one record made by hs-state, the rest copies of it
# under fresh ids and names (COUNT process starts would take minutes).
populate() {
	local root=$1 count=$2
	"$state" --root "$root" create --config "$config" >/dev/null
	python3 - "$root" "$count" <<'PY'
import json, os, sys
root, count = sys.argv[1], int(sys.argv[2])
containers = os.path.join(root, "containers")
(template,) = os.listdir(containers)
record = json.load(open(os.path.join(containers, template, "config.json")))
state = open(os.path.join(containers, template, "state.json")).read()
for i in range(count - 1):
    cid = os.urandom(32).hex()
    d = os.path.join(containers, cid)
    os.makedirs(os.path.join(d, "upper"))
    os.makedirs(os.path.join(d, "work"))
    record["id"], record["name"] = cid, f"bench_{i}"
    record["config"]["created"] = f"2024-01-01T00:{i // 60 % 60:02d}:{i % 60:02d}Z"
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(record, f, separators=(",", ":"))
    with open(os.path.join(d, "state.json"), "w") as f:
        f.write(state)
    os.symlink(f"../containers/{cid}", os.path.join(root, "names", f"bench_{i}"))
PY
}

mkdir -p "$BENCH_TMP/create-hs" "$BENCH_TMP/create-sh/containers"
create_rows=(
	"hs|hs-state create|$state --root $BENCH_TMP/create-hs create --config $config"
	"floor|the same steps in sh (mkdir, cp, sync, flock, ln, mv)|sh $BENCH_TMP/create.sh $BENCH_TMP/create-sh $config"
)
if [[ -n $with_podman ]]; then
	create_rows+=("peer|podman create --rootfs|${PODMAN[*]} create --network none --rootfs $rootfs /bin/busybox true")
fi
bench_log "state: create"
bench_group state-create "hs-state create (fsynced; target: median <= 2 ms)" "${create_rows[@]}"

bench_log "state: populating $ls_records records"
populate "$BENCH_TMP/ls-big" "$ls_records"
bench_log "state: ls"
bench_group state-ls "hs-state ls --all over $ls_records records (target: <= 100 ms)" \
	"hs|hs-state ls --all ($ls_records records)|$state --root $BENCH_TMP/ls-big ls --all" \
	"floor|cat of the same $((ls_records * 2)) files|find $BENCH_TMP/ls-big/containers -name '*.json' -exec cat {} +"

if [[ -n $with_podman ]]; then
	bench_log "state: populating $podman_records records and podman containers"
	populate "$BENCH_TMP/ls-small" "$podman_records"
	for _ in $(seq "$podman_records"); do
		"${PODMAN[@]}" create --network none --rootfs "$rootfs" /bin/busybox true >/dev/null
	done
	bench_group state-ps "listing $podman_records containers" \
		"hs|hs-state ls --all ($podman_records records)|$state --root $BENCH_TMP/ls-small ls --all" \
		"peer|podman ps -a --format json ($podman_records containers)|${PODMAN[*]} ps -a --format json"
fi

# The targets, from the medians just measured.
median_ms() { awk -F'\t' -v l="$2" '$1 == l && $3 != "-" { printf "%.2f", $3 * 1000 }' "$BENCH_TMP/$1.run${BENCH_RUN_NO}.tsv"; }
create_ms=$(median_ms state-create "hs-state create")
ls_ms=$(median_ms state-ls "hs-state ls --all ($ls_records records)")
bench_emit ""
bench_emit "| target | limit | median | |"
bench_emit "| --- | --- | ---: | --- |"
for t in "hs-state create|2|$create_ms" "hs-state ls --all of $ls_records|100|$ls_ms"; do
	IFS='|' read -r what limit got <<<"$t"
	verdict=$(awk -v g="${got:-0}" -v l="$limit" 'BEGIN { print (g != 0 && g <= l) ? "met" : "**not met**" }')
	bench_emit "| $what | <= $limit ms | ${got:-n/a} ms | $verdict |"
done
