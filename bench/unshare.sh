#!/usr/bin/env bash
# bench/unshare.sh — hs-unshare side by side with util-linux unshare(1),
# bubblewrap and nsenter(1): new namespaces + PID 1, the busybox root set up
# and pivoted into, and joining a running container. Every row execs
# /bin/true. Prints markdown on stdout (progress on stderr) and removes what
# it creates.
#
# Run by bench/run (which sets HS_BENCH_*), or by hand as root:
#   cargo build --release -p hs-unshare && bash bench/unshare.sh
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
bin=${HS_BENCH_BIN:-${CARGO_TARGET_DIR:-$here/../target}/${CARGO_BUILD_TARGET:-x86_64-unknown-linux-musl}/release}
lib=${HS_BENCH_LIB:-$here/lib.sh}
# shellcheck source=bench/lib.sh
source "$lib"

hu=$(bench_tool unshare hs-unshare) || exit 125

scratch=$(mktemp -d "${HS_BENCH_TMP:-${CARGO_TARGET_DIR:-$here/../target}}/unshare-bench.XXXXXX")
BENCH_TMP=${BENCH_TMP:-$scratch}
container_pid=
cleanup() {
	# The background container dies with its outer process (its init has
	# PR_SET_PDEATHSIG); every mount lived in a namespace that is gone.
	if [[ -n $container_pid ]]; then
		kill "$container_pid" 2>/dev/null || true
		wait "$container_pid" 2>/dev/null || true
	fi
	rm -rf "$scratch"
}
trap cleanup EXIT

# A private copy of the rootfs: hs-unshare creates missing mount points in
# the root it is given.
root=$scratch/rootfs
if [[ -n ${HS_BENCH_ROOTFS:-} ]]; then
	cp -a "$HS_BENCH_ROOTFS/." "$root"
else
	bench_busybox_rootfs "$root"
fi

ns=mnt,pid,uts,ipc
bwrap_ns="--unshare-pid --unshare-ipc --unshare-uts"
bench_group unshare "hs-unshare: namespaces + PID 1 + rootfs + pivot_root, then /bin/true" \
	"floor|unshare -mpf --mount-proc true|unshare -mpf --mount-proc true" \
	"hs|hs-unshare --ns $ns -- true (no root)|$hu --ns $ns -- true" \
	"peer|bwrap (busybox root, proc, dev, tmpfs /tmp)|bwrap $bwrap_ns --bind $root / --proc /proc --dev /dev --tmpfs /tmp /bin/true" \
	"hs|hs-unshare --ns $ns -- hs-unshare --root R -- true|$hu --ns $ns -- $hu --root $root -- /bin/true" \
	"hs|hs-unshare --ns $ns --root R -- true (one call)|$hu --ns $ns --root $root -- /bin/true" \
	"hs|hs-unshare --ns $ns --no-init --root R -- true|$hu --ns $ns --no-init --root $root -- /bin/true"

# Joining: one container idles in the background; each row enters it.
mkfifo "$scratch/ready"
"$hu" --ns "$ns" --root "$root" -- /bin/sh -c 'echo ready; exec sleep 1000' >"$scratch/ready" &
container_pid=$!
read -r _ <"$scratch/ready"
# Its init: the process whose pid in its own namespace is 1 and whose
# command line is that of the container started above.
init=
for status in /proc/[0-9]*/status; do
	pid=${status#/proc/}
	pid=${pid%/status}
	awk '/^NSpid:/ { exit !($NF == 1) }' "$status" 2>/dev/null || continue
	cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || continue
	if [[ $cmdline == "$hu --ns $ns --root $root "* ]]; then
		init=$pid
		break
	fi
done
if [[ -n $init ]]; then
	bench_group unshare-join "hs-unshare --join: enter a running container, then /bin/true" \
		"floor|nsenter -a -t PID true|nsenter -m -u -i -p -C -r -w -t $init /bin/true" \
		"hs|hs-unshare --join PID -- true|$hu --join $init -- /bin/true"
else
	bench_log "unshare: the background container's init was not found; join not measured"
fi

tsv="$BENCH_TMP/unshare.run${BENCH_RUN_NO:-1}.tsv"
if [[ -s $tsv ]]; then
	# The issue's target: the two-step chain within 1.2x of bwrap.
	awk -F'\t' '
		$2 == "peer" && $5 == "ok" { bw = $3; bwmin = $4 }
		$1 ~ /-- hs-unshare --root R/ && $5 == "ok" { hs = $3; hsmin = $4 }
		END {
			if (bw == "" || hs == "") { print "\ntarget (≤ 1.2× bwrap): not measured"; exit }
			r = hs / bw
			printf "\ntarget: hs-unshare chain ≤ 1.2× bwrap: %.2f× (median), %.2f× (min): %s\n",
				r, hsmin / bwmin, r <= 1.2 ? "met" : "**not met**"
		}' "$tsv" | { if [[ -n ${BENCH_OUT:-} ]]; then tee -a "$BENCH_OUT"; else cat; fi; }
fi
