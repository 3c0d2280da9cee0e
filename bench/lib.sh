# bench/lib.sh — helpers shared by bench/run and the per-tool bench/<tag>.sh
# scripts. Source it; it defines functions and nothing runs on load.
#
# A group is a list of rows, each "KIND|LABEL|COMMAND":
#   KIND    hs (ours), peer (crun, runc, bwrap, podman…), floor (the cheapest
#           possible way to do the same kernel work, e.g. plain unshare)
#   LABEL   the row's name in the table
#   COMMAND run by hyperfine without a shell (-N): no pipes or redirections;
#           wrap in `sh -c '…'` when a row needs them (and say so in LABEL).
#           "COMMAND|PREPARE" runs PREPARE (untimed) before each timed run.
# A row whose COMMAND is "-" is shown as "not yet available" (an hs tool that
# has not landed yet); a row whose smoke run fails is shown with its error.
#
# Results of every measured row are appended to $BENCH_RESULTS_TSV
# (run, group, label, kind, median_s, min_s) so targets can be checked later.

BENCH_LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh
BENCH_RUNS=${BENCH_RUNS:-30}
BENCH_WARMUP=${BENCH_WARMUP:-3}
BENCH_RUN_NO=${BENCH_RUN_NO:-1}

bench_log() { printf 'bench: %s\n' "$*" >&2; }

# Waits (up to 60 s) until the disks have completed no write and no discard
# for 2 s: on this machine's ext4 (mounted with discard) deleting a few
# thousand files keeps the disk busy for a while, and every row that
# creates and deletes files (hs's layers) is slowed meanwhile.
bench_wait_disk_idle() {
	local before after waited=0 quiet=0
	disk_ops() { awk '{ n += $5 + $12 } END { print n + 0 }' /sys/block/*/stat 2>/dev/null; }
	before=$(disk_ops)
	while ((quiet < 2 && waited < 60)); do
		sleep 1
		waited=$((waited + 1))
		after=$(disk_ops)
		if [[ $after == "$before" ]]; then quiet=$((quiet + 1)); else quiet=0; fi
		before=$after
	done
	((waited > 2)) && bench_log "waited ${waited} s for the disk to be idle"
	return 0
}

# Waits for an idle disk, writes back what is dirty and lets 65 s pass:
# on ext4 without a journal (this machine) a new inode is allocated past
# every inode of its block group freed in the last 60 s (360 s while the
# inode table block is dirty), looking each one up, so the deletions of
# an earlier group (or of a test suite run just before) made every file
# that the next group's rows create slower: 90-130 µs a mkdir after a
# test suite, 20 µs settled (bench/profile.sh: the same build took
# 10.4 ms a run right after a test suite, 7.1 ms settled).
bench_settle() {
	bench_wait_disk_idle
	sync
	bench_log "settling: 65 s for recently freed inodes to age out"
	sleep 65
}

# bench_aside PATH… — moves each existing PATH into the run's graveyard
# instead of deleting it, then writes back what is dirty. For the PREPARE
# of rows that create thousands of files: deleting the previous run's
# files just before made the allocator walk past every one of them (see
# bench_settle), so `tar -xf` of 11,780 files took 9.7 s after the
# previous run's were deleted and 0.35 s after they were set aside. The
# graveyard is under bench/run's temp dir (the script's own when it runs
# alone), removed only when the whole run ends.
bench_aside() {
	local graveyard=${HS_BENCH_TMP:-$BENCH_TMP}/aside path
	mkdir -p "$graveyard"
	for path; do
		[[ -e $path ]] && mv "$path" "$(mktemp -d "$graveyard/XXXXXX")/"
	done
	sync
}

# bench_fresh_dirs DIR… — each DIR empty (set aside, then made anew).
bench_fresh_dirs() {
	bench_aside "$@" && mkdir -p "$@"
}

# bench_fresh_dirs_cmd DIR… — bench_fresh_dirs as a row's PREPARE
# (hyperfine -N runs it without a shell).
bench_fresh_dirs_cmd() {
	printf "env HS_BENCH_TMP=%s bash -c 'source %s && bench_fresh_dirs \"\$@\"' bench-fresh-dirs %s" \
		"${HS_BENCH_TMP:-$BENCH_TMP}" "$BENCH_LIB" "$*"
}

# A tool script's start: it must run as root and hs tool NAME must be
# built in $bin (set by the caller). Prints the tool's path; fails with
# 125 after one log line otherwise. Usage: ov=$(bench_tool overlay hs-overlay) || exit 125
bench_tool() {
	local tag=$1 name=$2
	if [[ $(id -u) != 0 ]]; then
		bench_log "$tag: needs root"
		return 125
	fi
	if [[ ! -x $bin/$name ]]; then
		bench_log "$tag: $bin/$name is not built (cargo build --release -p $name)"
		return 125
	fi
	printf '%s\n' "$bin/$name"
}

# The markdown output goes to stdout and to $BENCH_OUT when set.
bench_emit() {
	if [[ -n ${BENCH_OUT:-} ]]; then
		printf '%s\n' "$*" | tee -a "$BENCH_OUT"
	else
		printf '%s\n' "$*"
	fi
}

# bench_busybox_rootfs DIR — the same recipe as tests/src/lib.rs
# build_busybox_rootfs: busybox --install must run chrooted, or the links
# point at host paths (or land in the host's own /bin).
bench_busybox_rootfs() {
	local root=$1 d
	for d in bin sbin usr/bin usr/sbin etc proc sys dev tmp run home root mnt var/tmp; do
		mkdir -p "$root/$d"
	done
	cp /bin/busybox "$root/bin/busybox"
	chroot "$root" /bin/busybox --install -s /bin
	printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$root/etc/passwd"
	printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
	printf 'busybox\n' >"$root/etc/hostname"
	ln -sf /proc/self/mounts "$root/etc/mtab"
}

# bench_oci_bundle DIR ROOTFS NET(yes|no) ARG… — an OCI bundle from
# `crun spec`, no terminal, running ARG…; NET=no drops the network
# namespace so the container has the same namespaces as hs.
bench_oci_bundle() {
	local dir=$1 rootfs=$2 net=$3
	shift 3
	mkdir -p "$dir"
	(cd "$dir" && rm -f config.json && crun spec)
	local args
	args=$(printf '%s\n' "$@" | jq -R . | jq -s .)
	jq --arg root "$rootfs" --argjson args "$args" --arg net "$net" '
		.process.terminal = false
		| .process.args = $args
		| .root.path = $root
		| if $net == "no" then .linux.namespaces |= map(select(.type != "network")) else . end
	' "$dir/config.json" >"$dir/config.json.new"
	mv "$dir/config.json.new" "$dir/config.json"
}

# bench_smoke CMD… — run a row once ($BENCH_SMOKE_SECS s limit, default 10;
# rows that take seconds set more); on failure print the
# first line of its error and return non-zero.
bench_smoke() {
	local out rc=0
	out=$(timeout "${BENCH_SMOKE_SECS:-10}" "$@" 2>&1 >/dev/null </dev/null) || rc=$?
	((rc == 0)) && return 0
	out=$(printf '%s' "$out" | grep -v '^$' | head -n1 | cut -c1-100)
	printf 'fails (exit %s)%s' "$rc" "${out:+: $out}"
	return 1
}

# bench_fmt_ms SECONDS — milliseconds with two decimals.
bench_fmt_ms() { awk -v s="$1" 'BEGIN { printf "%.2f", s * 1000 }'; }

# bench_group ID TITLE ROW… — measure the available rows in one hyperfine
# run, print the table (median, min, ratio to the best peer; lower is
# better), record the figures in $BENCH_RESULTS_TSV.
bench_group() {
	local id=$1 title=$2
	shift 2
	local -a kinds=() labels=() cmds=() status=() hf=() prep=()
	local row kind label cmd i reason prepare any_prepare=
	for row in "$@"; do
		kind=${row%%|*}
		row=${row#*|}
		label=${row%%|*}
		cmd=${row#*|}
		prepare=true
		if [[ $cmd == *"|"* ]]; then
			prepare=${cmd#*|}
			cmd=${cmd%%|*}
			any_prepare=1
		fi
		kinds+=("$kind")
		labels+=("$label")
		cmds+=("$cmd")
		if [[ $cmd == - ]]; then
			status+=("not yet available")
		elif eval "$prepare" >/dev/null 2>&1 && reason=$(eval "bench_smoke $cmd"); then
			status+=(ok)
			hf+=(-n "$label" "$cmd")
			prep+=(--prepare "$prepare")
		else
			[[ $kind == hs ]] && reason="not yet available ($reason)"
			status+=("$reason")
			bench_log "$id: $label: $reason"
		fi
	done
	local json="$BENCH_TMP/$id.run$BENCH_RUN_NO.json"
	rm -f "$json"
	if ((${#hf[@]})); then
		bench_log "$id: measuring $((${#hf[@]} / 3)) rows"
		hyperfine -N --style basic --warmup "$BENCH_WARMUP" --runs "$BENCH_RUNS" \
			--export-json "$json" ${any_prepare:+"${prep[@]}"} "${hf[@]}" >"$BENCH_TMP/$id.run$BENCH_RUN_NO.log" 2>&1 ||
			bench_log "$id: hyperfine failed, see $BENCH_TMP/$id.run$BENCH_RUN_NO.log"
	fi
	local tsv="$BENCH_TMP/$id.run$BENCH_RUN_NO.tsv" n=0 median min
	: >"$tsv"
	for i in "${!labels[@]}"; do
		median=- min=-
		if [[ ${status[$i]} == ok && -s $json ]]; then
			read -r median min < <(jq -r --argjson n "$n" '.results[$n] | "\(.median) \(.min)"' "$json")
			n=$((n + 1))
			printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$BENCH_RUN_NO" "$id" "${labels[$i]}" "${kinds[$i]}" \
				"$median" "$min" >>"${BENCH_RESULTS_TSV:-/dev/null}"
		fi
		printf '%s\t%s\t%s\t%s\t%s\n' "${labels[$i]}" "${kinds[$i]}" "$median" "$min" "${status[$i]}" >>"$tsv"
	done
	# BENCH_QUIET=1: the caller renders $BENCH_TMP/ID.runN.tsv itself.
	[[ -n ${BENCH_QUIET:-} ]] && return
	bench_emit ""
	bench_emit "### $title"
	bench_emit ""
	bench_emit "$(bench_render_times "$tsv")"
}

# bench_render_times TSV — the markdown table of one group (lower is better).
bench_render_times() {
	awk -F'\t' '
	function ms(s) { return sprintf("%.2f", s * 1000) }
	{ label[NR] = $1; kind[NR] = $2; med[NR] = $3; mn[NR] = $4; st[NR] = $5
	  if ($2 == "peer" && $5 == "ok" && (best == "" || $3 < med[best])) best = NR
	  if ($2 == "peer" && $5 == "ok" && (bestmin == "" || $4 < mn[bestmin])) bestmin = NR }
	END {
	  print "| command | kind | median ms | min ms | × best peer (median) | × best peer (min) |"
	  print "| --- | --- | ---: | ---: | ---: | ---: |"
	  for (i = 1; i <= NR; i++) {
	    if (st[i] != "ok") { printf "| `%s` | %s | %s | | | |\n", label[i], kind[i], st[i]; continue }
	    rm = best == "" ? "" : sprintf("%.2f", med[i] / med[best])
	    rn = bestmin == "" ? "" : sprintf("%.2f", mn[i] / mn[bestmin])
	    printf "| `%s` | %s | %s | %s | %s | %s |\n", label[i], kind[i], ms(med[i]), ms(mn[i]), rm, rn
	  }
	  if (best != "") printf "\nbest peer: `%s` (median), `%s` (min)\n", label[best], label[bestmin]
	}' "$1"
}

# bench_lookup RUN LABEL FIELD(median|min) — a recorded figure, or empty.
bench_lookup() {
	awk -F'\t' -v r="$1" -v l="$2" -v f="$3" '
		$1 == r && $3 == l { print (f == "min" ? $6 : $5); exit }' "$BENCH_RESULTS_TSV"
}

# bench_record RUN GROUP LABEL KIND VALUE — a non-timing figure (RSS, MiB/s)
# for target checks.
bench_record() {
	printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" "$5" >>"$BENCH_RESULTS_TSV"
}

# bench_target RUN DESCRIPTION A B OP LIMIT [FIELD] — checks value(A)/value(B)
# OP LIMIT (OP is <= or >=) and prints one markdown table row.
bench_target() {
	local run=$1 desc=$2 a=$3 b=$4 op=$5 limit=$6 field=${7:-median} va vb
	va=$(bench_lookup "$run" "$a" "$field")
	vb=$(bench_lookup "$run" "$b" "$field")
	if [[ -z $va || -z $vb ]]; then
		bench_emit "| $desc | $op $limit | n/a | not measured |"
		return
	fi
	awk -v a="$va" -v b="$vb" -v op="$op" -v lim="$limit" -v d="$desc" -v run="$run" \
		-v tsv="${BENCH_TARGETS_TSV:-/dev/null}" 'BEGIN {
		r = a / b
		ok = (op == "<=") ? (r <= lim) : (r >= lim)
		printf "| %s | %s %s | %.2f | %s |\n", d, op, lim, r, ok ? "met" : "**not met**"
		printf "%s\t%s %s\t%s\t%.2f\t%s\n", d, op, lim, run, r, ok ? "met" : "not met" >>tsv
	}' | { if [[ -n ${BENCH_OUT:-} ]]; then tee -a "$BENCH_OUT"; else cat; fi; }
}

# bench_targets_summary — one table, a column per run, from
# $BENCH_TARGETS_TSV (written by bench_target).
bench_targets_summary() {
	[[ -s ${BENCH_TARGETS_TSV:-} ]] || return 0
	awk -F'\t' '
		!($1 in seen) { seen[$1] = 1; order[++n] = $1; lim[$1] = $2 }
		{ r[$1, $3] = $4 " (" $5 ")"; if ($3 > runs) runs = $3 }
		END {
			printf "| target | limit |"; for (j = 1; j <= runs; j++) printf " run %d |", j; print ""
			printf "| --- | --- |"; for (j = 1; j <= runs; j++) printf " ---: |"; print ""
			for (i = 1; i <= n; i++) {
				t = order[i]; printf "| %s | %s |", t, lim[t]
				for (j = 1; j <= runs; j++) printf " %s |", ((t, j) in r) ? r[t, j] : "n/a"
				print ""
			}
		}' "$BENCH_TARGETS_TSV"
}

# bench_rss_kib PID — resident set, proportional set size and anonymous
# memory in KiB. RSS and PSS count the clean pages of mapped files too,
# which stay in the page cache, shared and reclaimable; the anonymous part
# (heap, stack, dirtied data) is what one more such process costs.
bench_rss_kib() {
	local pid=$1 rss pss anon
	rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status" 2>/dev/null)
	pss=$(awk '/^Pss:/ { print $2 }' "/proc/$pid/smaps_rollup" 2>/dev/null)
	anon=$(awk '/^Anonymous:/ { print $2 }' "/proc/$pid/smaps_rollup" 2>/dev/null)
	printf '%s %s %s\n' "${rss:-}" "${pss:-}" "${anon:-}"
}

# bench_wait_for SECONDS CMD… — poll CMD until it succeeds or time runs out.
bench_wait_for() {
	local deadline=$((SECONDS + $1))
	shift
	until "$@" >/dev/null 2>&1; do
		((SECONDS < deadline)) || return 1
		sleep 0.05
	done
}
