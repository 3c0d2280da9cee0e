#!/usr/bin/env bash
# bench/build-static.sh — what the C library costs at every exec: times an
# exec of each hs tool as built by default (static musl, .cargo/config.toml)
# and as a static glibc build of the same commit (`--target
# x86_64-unknown-linux-gnu`, `+crt-static` from the config), side by
# side; with a working `hs run`, also the whole chain and the idle monitor.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$BENCH_DIR/.." && pwd)
# shellcheck source=bench/lib.sh
source "$BENCH_DIR/lib.sh"

usage() {
	echo "usage: bench/build-static.sh [--no-build] [--runs N] [--out FILE] [TOOL…]"
	echo "default tools: hs hs-state hs-overlay hs-cgroup hs-unshare hs-pty"
}
BUILD=1 OUT= STATIC_RUNS=
while (($#)); do
	case $1 in
	--no-build) BUILD=0 ;;
	--runs) STATIC_RUNS=$2; shift ;;
	--out) OUT=$2; shift ;;
	-h | --help) usage; exit 0 ;;
	-*) echo "build-static.sh: error: unknown option: $1" >&2; usage >&2; exit 125 ;;
	*) break ;;
	esac
	shift
done
TOOLS=("$@")
((${#TOOLS[@]})) || TOOLS=(hs hs-state hs-overlay hs-cgroup hs-unshare hs-pty)
BENCH_RUNS=${STATIC_RUNS:-200}
BENCH_WARMUP=20

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$REPO/target}
GLIBC=$CARGO_TARGET_DIR/x86_64-unknown-linux-gnu/release
MUSL=$CARGO_TARGET_DIR/x86_64-unknown-linux-musl/release

if ((BUILD)); then
	for tool in "${TOOLS[@]}"; do
		bench_log "building $tool, static glibc and musl"
		(cd "$REPO" && cargo build --release --quiet --target x86_64-unknown-linux-gnu -p "$tool") >&2 ||
			bench_log "$tool: glibc build failed"
		(cd "$REPO" && cargo build --release --quiet --target x86_64-unknown-linux-musl -p "$tool") >&2 ||
			bench_log "$tool: musl build failed"
	done
fi

BENCH_TMP=$(mktemp -d /tmp/hs-bench-static.XXXXXX)
export BENCH_TMP BENCH_RUNS BENCH_WARMUP
trap 'rm -rf "$BENCH_TMP"' EXIT
[[ -n $OUT ]] && { : >"$OUT"; export BENCH_OUT=$OUT; }

rows=()
for tool in "${TOOLS[@]}"; do
	[[ -x $GLIBC/$tool && -x $MUSL/$tool ]] || continue
	rows+=("glibc|$tool|$GLIBC/$tool --version" "musl|$tool|$MUSL/$tool --version")
done
BENCH_QUIET=1 bench_group static "" "${rows[@]}"
bench_emit ""
bench_emit "### Exec cost of \`TOOL --version\`: static glibc vs static musl ($BENCH_RUNS runs each)"
bench_emit ""
bench_emit "$(awk -F'\t' -v glibc="$GLIBC" -v musl="$MUSL" '
	function ms(s) { return sprintf("%.3f", s * 1000) }
	$2 == "glibc" { dm[$1] = $3; dn[$1] = $4; order[++n] = $1 }
	$2 == "musl" { sm[$1] = $3; sn[$1] = $4 }
	END {
	  print "| tool | glibc median ms | musl median ms | musl/glibc | glibc min ms | musl min ms |"
	  print "| --- | ---: | ---: | ---: | ---: | ---: |"
	  for (i = 1; i <= n; i++) { t = order[i]
	    if (dm[t] == "-" || sm[t] == "-" || sm[t] == "") { printf "| %s | failed | | | | |\n", t; continue }
	    printf "| %s | %s | %s | %.2f | %s | %s |\n", t, ms(dm[t]), ms(sm[t]), sm[t] / dm[t], ms(dn[t]), ms(sn[t]) }
	}' "$BENCH_TMP/static.run1.tsv")"
bench_emit ""
bench_emit "sizes: $(for t in "${TOOLS[@]}"; do [[ -x $GLIBC/$t && -x $MUSL/$t ]] && printf '%s %s→%s KiB ' "$t" $(($(stat -c %s "$GLIBC/$t") / 1024)) $(($(stat -c %s "$MUSL/$t") / 1024)); done)"

# The whole chain, each tool finding its siblings of the same build next to itself.
root=$BENCH_TMP/rootfs
bench_busybox_rootfs "$root"
export HS_ROOT=$BENCH_TMP/hsroot HS_CGROUP_PARENT=/hs-bench-static-$$
if [[ -x $GLIBC/hs && -x $MUSL/hs ]] && bench_smoke "$GLIBC/hs" run --rm "$root" /bin/true >/dev/null; then
	bench_log "hs run works: timing the whole chain"
	BENCH_RUNS=30 BENCH_WARMUP=3 bench_group static-chain "hs run --rm ROOTFS true: glibc vs musl tools" \
		"peer|hs run --rm ROOTFS true (glibc)|$GLIBC/hs run --rm $root /bin/true" \
		"hs|hs run --rm ROOTFS true (musl)|$MUSL/hs run --rm $root /bin/true"
	# The monitor stays for the container's life: its footprint counts.
	bench_emit ""
	bench_emit "### Idle monitor (hs-pty serve) of \`hs run -d ROOTFS sleep\`: glibc vs musl"
	bench_emit ""
	bench_emit "| build | RSS KiB | PSS KiB |"
	bench_emit "| --- | ---: | ---: |"
	for build in glibc musl; do
		dir=$GLIBC
		[[ $build == musl ]] && dir=$MUSL
		id=$("$dir/hs" run -d "$root" /bin/sleep 1000 </dev/null 2>/dev/null) || { bench_emit "| $build | failed | |"; continue; }
		mon=$("$dir/hs" inspect "$id" | jq -r '.[0].State.MonitorPid // empty')
		read -r rss pss _anon < <(bench_rss_kib "$mon")
		bench_emit "| $build | $rss | $pss |"
		"$dir/hs" rm -f "$id" >/dev/null 2>&1 || true
	done
else
	bench_log "hs run does not work yet: no chain figures"
fi
find /sys/fs/cgroup -mindepth 2 -maxdepth 2 -type d -name "${HS_CGROUP_PARENT#/}" -exec rmdir {} + 2>/dev/null || true
