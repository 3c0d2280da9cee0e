#!/usr/bin/env bash
# bench/profile.sh — where the time of `hs run --rm ROOTFS true` goes.
#
# Runs `hs run --rm` N times under the kernel's event tracer (ftrace:
# sched_process_fork/exec/exit and the entry of a few system calls, for
# this script's children only) and cuts each run at the chain's landmarks:
# every tool's exec, the user program's exit, the monitor's rename of the
# exit file, the on-exit `hs cleanup`, the front-end's exit. Prints the
# median of every phase as markdown, with the counts of fsyncs, sleeps and
# execs, and `perf stat`'s CPU time next to the wall time (a run that is
# mostly waiting has a low CPU share). The tracer costs each event well
# under a microsecond (strace, used before, stopped every traced process
# twice per event, stretched the runs 1.6x and one phase 3x).
#
# Run by bench/run (inside its private namespace, with HS_BENCH_* set), or
# by hand as root: bench/profile.sh [--runs N] [--host] [--out FILE].
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
source "${HS_BENCH_LIB:-$here/lib.sh}"

RUNS=10 HOST=0 EXEC=0 OUT=
ARGS=("$@")
while (($#)); do
	case $1 in
	--runs) RUNS=$2; shift ;;
	--host) HOST=1 ;;
	--exec) EXEC=1 ;;
	--out) OUT=$2; shift ;;
	-h | --help) echo "usage: bench/profile.sh [--runs N] [--host | --exec] [--out FILE]"; exit 0 ;;
	*) echo "profile.sh: error: unknown option: $1" >&2; exit 125 ;;
	esac
	shift
done
((EUID == 0)) || { echo "profile.sh: error: needs root" >&2; exit 125; }
bin=${HS_BENCH_BIN:-${CARGO_TARGET_DIR:-$here/../target}/${CARGO_BUILD_TARGET:-x86_64-unknown-linux-musl}/release}
[[ -x $bin/hs ]] || { echo "profile.sh: error: $bin/hs is not built" >&2; exit 125; }
# The phases are cut at execve paths, which hs spells canonically.
bin=$(cd "$bin" && pwd -P)
TRACING=/sys/kernel/tracing
[[ -w $TRACING/set_event ]] || mount -t tracefs tracefs "$TRACING" 2>/dev/null || :
[[ -w $TRACING/set_event ]] || { echo "profile.sh: error: no tracefs at $TRACING" >&2; exit 125; }
# The tracer as found: off, no events, no pid filter.
trace_off() {
	echo 0 >"$TRACING/tracing_on"
	: >"$TRACING/set_event"
	: >"$TRACING/set_event_pid"
	echo 0 >"$TRACING/options/event-fork"
}

# By hand: the same private namespace as bench/run (see bench/README.md).
if [[ -z ${HS_BENCH_TMP:-} && -z ${PROFILE_IN_NS:-} ]]; then
	exec unshare --mount --propagation private env PROFILE_IN_NS=1 "$0" "${ARGS[@]}"
fi
if [[ -n ${PROFILE_IN_NS:-} && $(stat -f -c %T /sys/fs/cgroup/unified 2>/dev/null) == cgroup2fs ]]; then
	umount /sys/fs/cgroup/unified
	mount -t tmpfs -o size=1m,mode=755 hs-profile-no-unified /sys/fs/cgroup/unified
fi

tmp=$(mktemp -d "${HS_BENCH_TMP:-/var/tmp}/hs-profile.XXXXXX")
export HS_ROOT=$tmp/hsroot HS_CGROUP_PARENT=/hs-profile-$$ PATH=$bin:$PATH
cleanup() {
	trace_off 2>/dev/null
	: >"$TRACING/trace" 2>/dev/null
	[[ -n ${exec_id:-} ]] && "$bin/hs" rm -f "$exec_id" >/dev/null 2>&1
	find /sys/fs/cgroup -mindepth 2 -maxdepth 2 -type d -name "${HS_CGROUP_PARENT#/}" -exec rmdir {} + 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
if [[ -n ${HS_BENCH_ROOTFS:-} ]]; then
	rootfs=$HS_BENCH_ROOTFS
else
	rootfs=$tmp/rootfs
	bench_busybox_rootfs "$rootfs"
fi
exec_id=
if ((EXEC)); then
	exec_id=$("$bin/hs" run -d "$rootfs" /bin/sleep 1000000 </dev/null)
	what="hs exec C true"
	cmd=("$bin/hs" exec "$exec_id" /bin/true)
elif ((HOST)); then
	what="hs run --rm true (host mirror)"
	cmd=("$bin/hs" run --rm /bin/true)
else
	what="hs run --rm ROOTFS true"
	cmd=("$bin/hs" run --rm "$rootfs" /bin/true)
fi

# One warm-up, then N traced runs, each cut into phases by awk. The
# tracer follows this shell's children only (set_event_pid + event-fork);
# the tracer state is put back as found at exit (see cleanup).
"${cmd[@]}" >/dev/null
mkfifo "$tmp/never"
phases=$tmp/phases.tsv
: >"$phases"
EVENTS=(sched:sched_process_exec sched:sched_process_exit
	syscalls:sys_enter_fsync syscalls:sys_enter_fdatasync syscalls:sys_enter_syncfs
	syscalls:sys_enter_rename syscalls:sys_enter_renameat syscalls:sys_enter_renameat2
	syscalls:sys_enter_rmdir syscalls:sys_enter_clock_nanosleep syscalls:sys_enter_nanosleep)
trace_on() {
	echo 0 >"$TRACING/tracing_on"
	: >"$TRACING/trace"
	echo "$BASHPID" >"$TRACING/set_event_pid"
	echo 1 >"$TRACING/options/event-fork"
	local e
	: >"$TRACING/set_event"
	for e in "${EVENTS[@]}"; do echo "$e" >>"$TRACING/set_event" 2>/dev/null || :; done
	echo 1 >"$TRACING/tracing_on"
}
for ((i = 1; i <= RUNS; i++)); do
	# In a subshell: its pid ($BASHPID) is the traced root, the command its child.
	# Traced until the on-exit cleanup has deleted the container too (and
	# a little longer, for its exit): waited for with builtins only, as
	# every process this shell starts is traced.
	(
		trace_on
		"${cmd[@]}" >/dev/null
		for ((w = 0; w < 500; w++)); do
			compgen -G "$HS_ROOT/containers/.rm-*" >/dev/null || break
			read -rt 0.01 -u 9 || :
		done
		read -rt 0.02 -u 9 || :
		trace_off
	) 9<>"$tmp/never"
	cp "$TRACING/trace" "$tmp/trace"
	: >"$TRACING/trace"
	awk -v bin="$bin/" -v mode="$( ((EXEC)) && echo exec || echo run)" '
	function mark(name, t) { if (!(name in M)) { M[name] = t } }
	# "COMM-PID [CPU] FLAGS TIME: EVENT: DETAILS"; COMM may hold dashes.
	/^#/ { next }
	{
		if (!match($0, /-[0-9]+ +\[[0-9]+\]/)) next
		head = substr($0, RSTART + 1, RLENGTH - 1); split(head, hp, " "); pid = hp[1]
		rest = substr($0, RSTART + RLENGTH)
		if (!match(rest, /[0-9]+\.[0-9]+: /)) next
		t = substr(rest, RSTART, RLENGTH - 2) * 1000
		ev = substr(rest, RSTART + RLENGTH); sub(/:.*/, "", ev)
	}
	!started { M["start"] = t; started = 1 }
	ev == "sched_process_exec" {
		split($0, q, "filename="); split(q[2], w, " "); path = w[1]
		if (top == "") top = pid
		if (index(path, bin) == 1) {
			name = substr(path, length(bin) + 1); n[name]++
			execs++
			if (mode == "exec") {
				if (name == "hs-cgroup") mark("cgroup", t)
				else if (name == "hs-unshare") mark("root", t)
			}
			else if (name == "hs-pty") { mark("pty", t) }
			else if (name == "hs-cgroup" && n[name] == 1) mark("cgroup", t)
			else if (name == "hs-overlay") mark("overlay", t)
			else if (name == "hs-unshare" && n[name] == 1) { mark("root", t); ns_pid = pid }
			else if (name == "hs" && n[name] == 2) { mark("cleanup", t); cleanup_pid = pid }
		} else if (("root" in M) && !("prog" in M)) { mark("prog", t); prog_pid = pid; execs++ }
		else execs++
	}
	# Entries of system calls show as "sys_NAME(ARGS)".
	ev ~ /^sys_(fsync|fdatasync|syncfs)\(/ { fsyncs++ }
	ev ~ /^sys_(clock_)?nanosleep\(/ { sleeps++ }
	ev ~ /^sys_rmdir\(/ { rmdirs++ }
	# The exit file: the first rename the monitor makes once the program ended.
	ev ~ /^sys_rename(at2?)?\(/ && ("progexit" in M) && $0 ~ /^ *hs-pty-/ { mark("exitfile", t) }
	ev == "sched_process_exit" {
		if (pid == prog_pid) mark("progexit", t)
		if (pid == ns_pid) mark("nsexit", t)
		if (pid == cleanup_pid) mark("cleanupexit", t)
		if (pid == top) mark("end", t)
	}
	# The critical path, landmark to landmark: KEYS in order, a LABEL
	# ("|"-separated) for each step between two of them.
	function phases(keys, labels, what,    order, label, n, i, a, b) {
		n = split(keys, order, " ")
		split(labels, label, "|")
		for (i = 1; i < n; i++) {
			a = order[i]; b = order[i + 1]
			if ((a in M) && (b in M)) printf "%02d %s\t%.3f\n", i, label[i], M[b] - M[a]
			else printf "%02d %s\t-\n", i, label[i]
		}
		if (("start" in M) && ("end" in M)) printf "20 total: %s start → exit (traced)\t%.3f\n", what, M["end"] - M["start"]
	}
	END {
		if (mode == "exec") {
			phases("start cgroup root prog progexit end",
				"hs: resolve the container, read its state|hs-cgroup exec --path: join the cgroups|hs-unshare --join: setns, fork into the pid namespace|the program itself|program exit → hs exec exits",
				"hs exec")
			printf "c1 execs\t%d\nc2 fsyncs\t%d\nc3 sleeps (clock_nanosleep)\t%d\n", execs, fsyncs, sleeps
			exit
		}
		phases("start pty cgroup overlay root prog progexit nsexit exitfile end",
			"hs: create the record, spawn the monitor|hs-pty serve: fork the monitor, exec the chain|hs-cgroup exec: create the cgroups, move in|hs-overlay: mount namespace, the rootfs overlay|hs-unshare: namespaces, fork init, /proc /sys /dev /tmp, pivot_root|the program itself|program exit → init reaped, namespaces gone|→ monitor writes the exit file|exit file → hs run exits",
			"hs run")
		# ...and what runs beside or after it.
		if (("cleanup" in M) && ("cleanupexit" in M)) printf "30 off the path: on-exit hs cleanup, exec → exit\t%.3f\n", M["cleanupexit"] - M["cleanup"]
		if (("end" in M) && ("cleanupexit" in M)) printf "31 off the path: hs cleanup ends after hs run exits by\t%.3f\n", M["cleanupexit"] - M["end"]
		printf "c1 execs\t%d\nc2 fsyncs\t%d\nc3 sleeps (clock_nanosleep)\t%d\nc4 rmdirs\t%d\n", execs, fsyncs, sleeps, rmdirs
	}' "$tmp/trace" >>"$phases"
done

# CPU time vs wall time, untraced.
perf_line=
if command -v perf >/dev/null && perf stat -x, -e task-clock true >/dev/null 2>&1; then
	cpu_ms=()
	wall_ms=()
	for ((i = 1; i <= RUNS; i++)); do
		out=$(perf stat -x, -e task-clock -- "${cmd[@]}" 2>&1 >/dev/null | awk -F, '/task-clock/ { print $1 }')
		cpu_ms+=("$out")
	done
	start=$(date +%s%N)
	for ((i = 1; i <= RUNS; i++)); do "${cmd[@]}" >/dev/null; done
	wall=$((($(date +%s%N) - start) / RUNS / 1000))
	cpu=$(printf '%s\n' "${cpu_ms[@]}" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
	perf_line="untraced: $(awk -v w="$wall" 'BEGIN { printf "%.1f", w / 1000 }') ms wall per run (mean of $RUNS), $(awk -v c="$cpu" 'BEGIN { printf "%.1f", c }') ms CPU (perf stat task-clock, median, all processes)"
fi

[[ -n $OUT ]] && export BENCH_OUT=$OUT
bench_emit ""
bench_emit "### Where the time goes: \`$what\`, median of $RUNS runs under ftrace"
bench_emit ""
bench_emit "| phase | median ms | min ms | max ms |"
bench_emit "| --- | ---: | ---: | ---: |"
bench_emit "$(grep -v $'\t-$' "$phases" | sort -t$'\t' -k1,1 -k2,2g | awk -F'\t' '
	function flush() {
		if (key == "") return
		if (n == 0) { printf "| %s | - | | |\n", substr(key, 4); return }
		med = (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
		fmt = (key ~ /^c/) ? "| %s | %d | %d | %d |\n" : "| %s | %.2f | %.2f | %.2f |\n"
		printf fmt, substr(key, 4), med, v[1], v[n]
	}
	$1 != key { flush(); key = $1; n = 0 }
	{ v[++n] = $2 + 0 }
	END { flush() }')"
[[ -n $perf_line ]] && { bench_emit ""; bench_emit "$perf_line"; }
exit 0
