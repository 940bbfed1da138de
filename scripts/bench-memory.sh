#!/usr/bin/env bash
# `rdbshift memory` against `rdbshift info` on the same dump, alternating rounds, medians:
# the issue asks memory to be no slower than 2x info on the 2M-key benchmark dump. info
# reads records without decoding values; memory decodes every value and prices it.
# Usage: scripts/bench-memory.sh DUMP... (BENCH_RUNS rounds, default 3)
set -euo pipefail
source "$(dirname "$0")/bench-lib.sh"
[ $# -gt 0 ] || { echo "usage: $0 DUMP..." >&2; exit 2; }
t() { local s e; s=$(date +%s.%N); "$@" >/dev/null 2>&1; e=$(date +%s.%N); echo "$e - $s" | bc; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
for f in "$@"; do
  f=$(realpath "$f")
  cat "$f" >/dev/null
  : >"$WORK/info"; : >"$WORK/mem"
  for _ in $(seq "$RUNS"); do
    t "$B" info "$f" >>"$WORK/info"
    t "$B" memory "$f" -o "$WORK/out.txt" >>"$WORK/mem"
  done
  i=$(median <"$WORK/info"); m=$(median <"$WORK/mem")
  printf '%s (%s keys): info %.2f s, memory %.2f s: %.2fx info\n' "$(basename "$f")" \
    "$(dump_keys "$f")" "$i" "$m" "$(echo "$m / $i" | bc -l)"
done
