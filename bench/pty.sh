#!/usr/bin/env bash
# bench/pty.sh — hs-pty, the monitor, side by side with its peers:
#   1. output throughput through a PTY: N bytes of `base64 /dev/zero`
#      through `hs-pty serve --tty` + `hs-pty attach` (with and without the
#      log), a bare `script -qec` PTY, and `podman run -t` (conmon);
#   2. idle VmRSS of a monitor holding one sleeping program vs conmon's.
# Prints markdown on stdout (progress on stderr) and removes what it creates.
#
# Run by bench/run (which sets HS_BENCH_* and a private mount namespace), or
# by hand as root:
#   cargo build --release -p hs-pty && bash bench/pty.sh
# PTY_BENCH_BYTES (default 200000000) and PTY_BENCH_RUNS (default 3) tune it.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
bin=${HS_BENCH_BIN:-${CARGO_TARGET_DIR:-$here/../target}/${CARGO_BUILD_TARGET:-x86_64-unknown-linux-musl}/release}
lib=${HS_BENCH_LIB:-$here/lib.sh}
# shellcheck source=bench/lib.sh
source "$lib"

pty=$(bench_tool pty hs-pty) || exit 125

# By hand: the same private world bench/run makes, so podman and crun write
# no state to the host (/run, /etc/containers) and accept the hybrid cgroups.
if [[ -z ${HS_BENCH_TMP:-} && -z ${PTY_BENCH_IN_NS:-} ]]; then
	exec unshare --mount --propagation private env PTY_BENCH_IN_NS=1 bash "$0" "$@"
fi
if [[ -n ${PTY_BENCH_IN_NS:-} ]]; then
	if [[ $(stat -f -c %T /sys/fs/cgroup/unified 2>/dev/null) == cgroup2fs ]]; then
		umount /sys/fs/cgroup/unified
		mount -t tmpfs -o size=1m,mode=755 pty-bench-no-unified /sys/fs/cgroup/unified
	fi
	mount -t tmpfs -o mode=755 pty-bench-run /run
	if [[ -d /etc/containers ]]; then
		etc=$(mktemp -d)
		mount -t tmpfs -o mode=755 pty-bench-etc "$etc"
		cp -a /etc/containers/. "$etc/"
		mount --bind "$etc" /etc/containers
		umount -l "$etc"
		rmdir "$etc"
	fi
fi

bytes=${PTY_BENCH_BYTES:-200000000}
runs=${PTY_BENCH_RUNS:-3}
scratch=$(mktemp -d "${HS_BENCH_TMP:-${CARGO_TARGET_DIR:-$here/../target}}/pty-bench.XXXXXX")
BENCH_TMP=${BENCH_TMP:-$scratch}
podman_g=(--root "$scratch/podman/root" --runroot "$scratch/podman/run" --tmpdir "$scratch/podman/tmp"
	--network-config-dir "$scratch/podman/net" --volumepath "$scratch/podman/vol"
	--cgroup-manager=cgroupfs --events-backend=file)
podman_run=(--network none --ulimit nofile=1024:1024 --ulimit nproc=1024:1024)
BENCH_RESULTS_TSV=${BENCH_RESULTS_TSV:-$scratch/results.tsv}
hs_pid=
conmon_pid=
cleanup() {
	[[ -n $hs_pid ]] && kill -TERM "$hs_pid" 2>/dev/null || true
	if command -v podman >/dev/null && [[ -d $scratch/podman ]]; then
		timeout 60 podman "${podman_g[@]}" rm -af -t 0 >/dev/null 2>&1 || true
	fi
	# conmon runs podman's cleanup after it, writing into the storage.
	[[ -n $conmon_pid ]] && bench_wait_for 20 bash -c "! kill -0 $conmon_pid"
	# podman's storage keeps mounts (its overlay dir is a mount itself):
	# take down whatever is still mounted below the scratch dir, deepest first.
	awk -v d="$scratch/" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo | sort -r |
		while read -r mnt; do umount -l "$mnt" 2>/dev/null || true; done
	rm -rf "$scratch" 2>/dev/null || { sleep 1; rm -rf "$scratch"; }
}
trap cleanup EXIT

rootfs=$scratch/rootfs
if [[ -n ${HS_BENCH_ROOTFS:-} ]]; then
	rootfs=$HS_BENCH_ROOTFS
else
	bench_busybox_rootfs "$rootfs" >&2
fi

# Each row is a script (a row cannot hold a pipe), so every row pays the
# same bash start. The monitor row serves the program detached and attaches
# a client that types the go-ahead and relays everything to /dev/null; the
# program waits for that client, so no byte misses it.
cat >"$scratch/monitor.sh" <<'EOF'
set -e
pty=$1 dir=$2 bytes=$3 log=$4
rm -f "$dir/s" "$dir/log" "$dir/exit"
logflag=
[ "$log" = log ] && logflag="--log $dir/log"
"$pty" serve --detach --tty --socket "$dir/s" $logflag --exit-file "$dir/exit" -- \
	sh -c 'read go; base64 /dev/zero | head -c "$1"' sh "$bytes"
printf 'go\r' | "$pty" attach --socket "$dir/s" >/dev/null
rm -f "$dir/log"
EOF
cat >"$scratch/script.sh" <<'EOF'
script -qec "base64 /dev/zero | head -c $1" /dev/null >/dev/null
EOF
cat >"$scratch/podman.sh" <<'EOF'
bytes=$1 rootfs=$2
shift 2
podman "$@" run --rm -t --network none --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 \
	--rootfs "$rootfs" sh -c "base64 /dev/zero | head -c $bytes" >/dev/null </dev/null
EOF
mkdir -p "$scratch/run"
megabytes=$(awk -v b="$bytes" 'BEGIN { printf "%d", b / 1000000 }')
podman_row="bash $scratch/podman.sh $bytes $rootfs ${podman_g[*]}"
command -v podman >/dev/null || podman_row=-

# Measured here rather than with bench_group: one run of a row takes longer
# than its 10-second smoke limit. The smoke run (5-minute limit) doubles as
# the warmup.
tsv=$BENCH_TMP/pty-throughput.run${BENCH_RUN_NO:-1}.tsv
json=$BENCH_TMP/pty-throughput.run${BENCH_RUN_NO:-1}.json
: >"$tsv"
kinds=() labels=() cmds=() status=() hf=()
row() { kinds+=("$1") labels+=("$2") cmds+=("$3"); }
row hs "hs-pty serve --tty + attach (with log)" "bash $scratch/monitor.sh $pty $scratch/run $bytes log"
row hs "hs-pty serve --tty + attach (no log)" "bash $scratch/monitor.sh $pty $scratch/run $bytes nolog"
row floor "script -qec (bare PTY)" "bash $scratch/script.sh $bytes"
row peer "podman run -t (conmon)" "$podman_row"
for i in "${!labels[@]}"; do
	bench_log "pty: smoke ${labels[$i]}"
	if [[ ${cmds[$i]} == - ]]; then
		status+=("not available")
	elif err=$(timeout 300 ${cmds[$i]} 2>&1 >/dev/null </dev/null); then
		status+=(ok)
		hf+=(-n "${labels[$i]}" "${cmds[$i]}")
	else
		status+=("fails: $(printf '%s' "$err" | head -n1 | cut -c1-80)")
	fi
done
if ((${#hf[@]})); then
	bench_log "pty: measuring $((${#hf[@]} / 3)) rows, $runs runs each"
	hyperfine -N --style basic --runs "$runs" --export-json "$json" "${hf[@]}" >&2 ||
		bench_log "pty: hyperfine failed"
fi
n=0
for i in "${!labels[@]}"; do
	median=- min=-
	if [[ ${status[$i]} == ok && -s $json ]]; then
		read -r median min < <(jq -r --argjson n "$n" '.results[$n] | "\(.median) \(.min)"' "$json")
		n=$((n + 1))
	fi
	printf '%s\t%s\t%s\t%s\t%s\n' "${labels[$i]}" "${kinds[$i]}" "$median" "$min" "${status[$i]}" >>"$tsv"
done

# Throughput table: MB/s from the median and the best run.
bench_emit ""
bench_emit "### hs-pty: ${megabytes} MB of base64 through a PTY to a client (higher is better)"
bench_emit ""
bench_emit "$(awk -F'\t' -v b="$bytes" '
	{ l[NR] = $1; k[NR] = $2; med[NR] = $3; mn[NR] = $4; st[NR] = $5
	  if ($1 ~ /^script/ && $5 == "ok") s = NR; if ($1 ~ /^podman/ && $5 == "ok") p = NR }
	END {
	  print "| command | kind | median s | MB/s (median) | MB/s (best) | × script | × podman |"
	  print "| --- | --- | ---: | ---: | ---: | ---: | ---: |"
	  for (i = 1; i <= NR; i++) {
	    if (st[i] != "ok") { printf "| `%s` | %s | %s | | | | |\n", l[i], k[i], st[i]; continue }
	    rs = s ? sprintf("%.2f", med[s] / med[i]) : ""
	    rp = p ? sprintf("%.2f", med[p] / med[i]) : ""
	    printf "| `%s` | %s | %.2f | %.1f | %.1f | %s | %s |\n", l[i], k[i], med[i], b / med[i] / 1e6, b / mn[i] / 1e6, rs, rp
	  }
	}' "$tsv")"

# Idle RSS: a monitor holding one sleeping program, next to conmon holding
# one sleeping container.
bench_log "pty: idle RSS"
"$pty" serve --detach --tty --socket "$scratch/idle.sock" --log "$scratch/idle.log" \
	--exit-file "$scratch/idle.exit" --info-fd 3 -- sleep 1000000 3>"$scratch/idle.info"
hs_pid=$(jq -r .monitor_pid "$scratch/idle.info")
if command -v podman >/dev/null &&
	podman "${podman_g[@]}" run -d --name pty-bench-idle "${podman_run[@]}" -t --rootfs "$rootfs" \
		/bin/sleep 1000000 </dev/null >/dev/null 2>&1; then
	conmon_pid=$(podman "${podman_g[@]}" inspect --format '{{.State.ConmonPid}}' pty-bench-idle 2>/dev/null) || conmon_pid=
fi
sleep 1 # both settle (idle means after start-up)
read -r hs_rss hs_pss _anon < <(bench_rss_kib "$hs_pid")
if [[ -n $conmon_pid ]]; then
	read -r c_rss c_pss _anon < <(bench_rss_kib "$conmon_pid")
else
	c_rss=- c_pss=-
fi
bench_emit ""
bench_emit "### hs-pty: idle memory of a monitor holding one sleeping program (lower is better)"
bench_emit ""
bench_emit "| process | kind | VmRSS KiB | PSS KiB | × conmon (RSS) |"
bench_emit "| --- | --- | ---: | ---: | ---: |"
ratio=$(awk -v a="${hs_rss:-0}" -v b="$c_rss" 'BEGIN { if (b + 0 > 0) printf "%.2f", a / b }')
bench_emit "| \`hs-pty serve --tty\` | hs | ${hs_rss:--} | ${hs_pss:--} | $ratio |"
bench_emit "| \`conmon\` (podman run -d -t) | peer | $c_rss | $c_pss | 1.00 |"
bench_record "${BENCH_RUN_NO:-1}" pty-rss "hs-pty serve --tty" hs "${hs_rss:-0}"
[[ $c_rss != - ]] && bench_record "${BENCH_RUN_NO:-1}" pty-rss "conmon" peer "$c_rss"

# The issue's targets.
hs_med=$(awk -F'\t' '$1 ~ /with log/ && $5 == "ok" { print $3 }' "$tsv")
s_med=$(awk -F'\t' '$1 ~ /^script/ && $5 == "ok" { print $3 }' "$tsv")
p_med=$(awk -F'\t' '$1 ~ /^podman/ && $5 == "ok" { print $3 }' "$tsv")
target() { # DESC VALUE OP LIMIT
	if [[ -z $2 ]]; then
		bench_emit "| $1 | $3 $4 | n/a | not measured |"
	else
		bench_emit "$(awk -v d="$1" -v v="$2" -v op="$3" -v lim="$4" 'BEGIN {
			ok = (op == "<=") ? (v <= lim) : (v >= lim)
			printf "| %s | %s %s | %.2f | %s |", d, op, lim, v, ok ? "met" : "**not met**" }')"
	fi
}
bench_emit ""
bench_emit "| target | want | got | |"
bench_emit "| --- | --- | ---: | --- |"
target "throughput / podman -t (with log)" "$([[ -n $hs_med && -n $p_med ]] && awk -v a="$hs_med" -v b="$p_med" 'BEGIN { print b / a }')" ">=" 1.5
target "throughput / script -qc (with log)" "$([[ -n $hs_med && -n $s_med ]] && awk -v a="$hs_med" -v b="$s_med" 'BEGIN { print b / a }')" ">=" 0.9
target "idle VmRSS / conmon" "$ratio" "<=" 0.75
