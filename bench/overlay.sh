#!/usr/bin/env bash
# bench/overlay.sh — hs-overlay side by side with util-linux mount(8):
# setting up one overlay, the host mirror, and a 130-layer image, each in a
# fresh private mount namespace and then exec'ing `true`. Prints markdown
# on stdout (progress on stderr) and removes what it creates.
#
# Run by bench/run (which sets HS_BENCH_*), or by hand as root:
#   cargo build --release -p hs-overlay && bash bench/overlay.sh
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
bin=${HS_BENCH_BIN:-${CARGO_TARGET_DIR:-$here/../target}/${CARGO_BUILD_TARGET:-x86_64-unknown-linux-musl}/release}
lib=${HS_BENCH_LIB:-$here/lib.sh}
# shellcheck source=bench/lib.sh
source "$lib"

ov=$(bench_tool overlay hs-overlay) || exit 125

# A scratch dir on a disk filesystem (overlay uppers on tmpfs behave
# differently), never under a mirrored host dir.
scratch=$(mktemp -d "${HS_BENCH_TMP:-${CARGO_TARGET_DIR:-$here/../target}}/overlay-bench.XXXXXX")
BENCH_TMP=${BENCH_TMP:-$scratch}
cleanup() {
	# Every mount below lives in a namespace that died with its row, or
	# (the setup-only rows) in one kept by a bind mount under $scratch/ns.
	umount "$scratch/ns/one" "$scratch/ns/host" 2>/dev/null || :
	umount "$scratch/ns" 2>/dev/null || :
	rm -rf "$scratch"
}
trap cleanup EXIT

mkdir -p "$scratch"/{t,layer,u1,w1,hu,hw,lu,lw,ku1,kw1,khu,khw}
echo x >"$scratch/layer/file"
lowers=()
for i in $(seq -w 0 129); do
	mkdir -p "$scratch/layers/layer-$i"
	echo "$i" >"$scratch/layers/layer-$i/who"
	lowers+=("$scratch/layers/layer-$i")
done
many=$(
	IFS=:
	echo "${lowers[*]}"
)

# The host mirror by hand with mount(8), as hs-overlay's README spells it
# (its mount(2) path: the shared overlay of / on a scratch dir, a bind of
# each mirrored dir from it; this host's dirs are all on the root's mount).
cat >"$scratch/mirror.sh" <<'EOF'
set -e
t=$1 u=$2 w=$3
mkdir -p "$u" "$w/%2F" "$w/%2F.mnt"
mount -t overlay overlay -o "lowerdir=/,upperdir=$u,workdir=$w/%2F,index=off,metacopy=off" "$w/%2F.mnt"
mount -t tmpfs -o mode=0755 tmpfs "$t"
for d in bin sbin lib lib32 lib64 libx32 usr etc opt var srv; do
	if [ -L "/$d" ]; then ln -s "$(readlink "/$d")" "$t/$d"
	elif [ -d "/$d" ]; then
		mkdir "$t/$d"
		mount --bind "$w/%2F.mnt/$d" "$t/$d"
	fi
done
umount -l "$w/%2F.mnt"
for d in proc sys dev tmp run home root mnt; do mkdir -p "$t/$d"; done
EOF

# The setup-only rows keep their namespace alive with a bind mount of its
# nsfs file (unshare --mount=FILE, which needs a private mount to bind on)
# and tear it down untimed in the next run's prepare: a row then stops when
# `true` exits, without the unmounts (per overlay: a sync of the upper
# filesystem, a disk cache flush, an RCU grace period). They have their own
# upper and work dirs: a kept overlay still holds its own.
mkdir -p "$scratch/ns"
mount --bind "$scratch/ns" "$scratch/ns"
mount --make-private "$scratch/ns"
touch "$scratch/ns/one" "$scratch/ns/host"

ns="unshare --mount --propagation private"
s=$scratch
kept() { echo "unshare --mount=$s/ns/$1 --propagation private"; }
unkeep() { echo "sh -c 'umount $s/ns/$1 2>/dev/null; :'"; }
bench_group overlay "hs-overlay: mount + exec true, in a fresh private mount namespace" \
	"floor|unshare -m true|$ns true" \
	"peer|mount(8): one overlay|$ns mount -t overlay overlay -o lowerdir=$s/layer,upperdir=$s/u1,workdir=$s/w1 $s/t" \
	"hs|hs-overlay mount: one overlay|$ns $ov mount --lower $s/layer --upper $s/u1 --work $s/w1 --target $s/t -- true" \
	"peer|sh + mount(8): host mirror|$ns sh $s/mirror.sh $s/t $s/hu $s/hw" \
	"hs|hs-overlay host: host mirror|$ns $ov host --upper $s/hu --work $s/hw --target $s/t --hide $s -- true" \
	"hs|hs-overlay mount: 130 layers|$ns $ov mount --lower $many --upper $s/lu --work $s/lw --target $s/t -- true" \
	"hs|hs-overlay mount: one overlay, setup only|$(kept one) $ov mount --lower $s/layer --upper $s/ku1 --work $s/kw1 --target $s/t -- true|$(unkeep one)" \
	"hs|hs-overlay host: host mirror, setup only|$(kept host) $ov host --upper $s/khu --work $s/khw --target $s/t --hide $s -- true|$(unkeep host)"

# The issue's target: the host mirror adds at most 1 ms over one overlay.
# Each row includes the namespace's teardown, where every overlay unmount
# syncs the whole upper filesystem (unless mounted volatile): on a disk
# other work keeps dirty, that dominates the medians.
tsv="$BENCH_TMP/overlay.run${BENCH_RUN_NO:-1}.tsv"
target_line() {
	awk -F'\t' -v one_label="$1" -v host_label="$2" -v what="$3" '
		$1 == one_label && $5 == "ok" { one = $3; onemin = $4 }
		$1 == host_label && $5 == "ok" { host = $3; hostmin = $4 }
		END {
			if (one == "" || host == "") { printf "\n%s: not measured\n", what; exit }
			d = (host - one) * 1000; dm = (hostmin - onemin) * 1000
			printf "\n%s: host mirror − one overlay = %.2f ms (median), %.2f ms (min); target ≤ 1 ms: %s\n",
				what, d, dm, d <= 1 ? "met" : "**not met**"
		}' "$tsv"
}
if [[ -s $tsv ]]; then
	{
		target_line "hs-overlay mount: one overlay" "hs-overlay host: host mirror" "target"
		target_line "hs-overlay mount: one overlay, setup only" "hs-overlay host: host mirror, setup only" "setup only (teardown excluded)"
	} | { if [[ -n ${BENCH_OUT:-} ]]; then tee -a "$BENCH_OUT"; else cat; fi; }
fi
