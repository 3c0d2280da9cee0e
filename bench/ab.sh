#!/usr/bin/env bash
# bench/ab.sh — interleaved timing of a few commands: round after round,
# each command once per round, in a rotating order, so a burst of load on
# this shared 2-core machine hits every command alike (hyperfine runs all
# of one command, then all of the next, and a busy minute lands on one row
# only).
#
#   bench/ab.sh [--runs N] [--warmup N] LABEL=COMMAND…
#
# COMMAND is run by bash (`eval`), its output discarded; the time is bash's
# EPOCHREALTIME around it, so every row carries the same fork+exec of the
# shell. Prints a markdown table: median, min, and each row's ratio to the
# first row's median.
set -euo pipefail

RUNS=100 WARMUP=5
while (($#)); do
	case $1 in
	--runs) RUNS=$2; shift ;;
	--warmup) WARMUP=$2; shift ;;
	-h | --help) sed -n '2,13p' "$0"; exit 0 ;;
	-*) echo "ab.sh: error: unknown option: $1" >&2; exit 125 ;;
	*) break ;;
	esac
	shift
done
(($# >= 1)) || { echo "ab.sh: error: give at least one LABEL=COMMAND" >&2; exit 125; }
labels=() commands=()
for spec in "$@"; do
	[[ $spec == *=* ]] || { echo "ab.sh: error: not LABEL=COMMAND: $spec" >&2; exit 125; }
	labels+=("${spec%%=*}")
	commands+=("${spec#*=}")
done

tmp=$(mktemp -d /tmp/hs-ab.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
n=${#commands[@]}
for ((round = 1 - WARMUP; round <= RUNS; round++)); do
	# Each round starts one command further on: a command inherits what
	# the one before it left running (hs's on-exit cleanup takes ~2 ms of
	# CPU after `hs run` returns), and with a fixed order the second of
	# two identical builds measured 10% slower than the first.
	for ((k = 0; k < n; k++)); do
		i=$(((round + WARMUP + k) % n))
		start=$EPOCHREALTIME
		eval "${commands[$i]}" >/dev/null 2>&1 || { echo "ab.sh: error: ${labels[$i]} failed" >&2; exit 1; }
		end=$EPOCHREALTIME
		((round > 0)) && echo "${start/./} ${end/./}" >>"$tmp/$i"
	done
done

echo "| command | median ms | min ms | × first (median) |"
echo "| --- | ---: | ---: | ---: |"
first=
for i in "${!commands[@]}"; do
	read -r median min < <(awk '{ print $2 - $1 }' "$tmp/$i" | sort -n |
		awk '{ v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.3f %.3f\n", m / 1000, v[1] / 1000 }')
	[[ -z $first ]] && first=$median
	printf '| %s | %s | %s | %s |\n' "${labels[$i]}" "$median" "$min" "$(awk -v a="$median" -v b="$first" 'BEGIN { printf "%.2f", a / b }')"
done
