#!/usr/bin/env bash
# `rdbshift rewrite` against `rdbshift convert` and `cat` on the same dump, alternating
# rounds, medians; the issue asks rewrite to RDB 10 (Redis 7.0) to be at least as fast as
# convert on the 2M-key benchmark dump (written by Redis 7.0: every value is kept as
# stored, after the server's checks). A second line rewrites for Redis 6.2 (RDB 9), where
# 7.0's listpacks are re-encoded. Each output is a fresh file, after a sync.
# Usage: scripts/bench-rewrite.sh DUMP... (BENCH_RUNS rounds, default 3)
set -euo pipefail
source "$(dirname "$0")/bench-lib.sh"
[ $# -gt 0 ] || { echo "usage: $0 DUMP..." >&2; exit 2; }
t() { local s e; rm -f "$WORK/out"; sync; s=$(date +%s.%N); "$@" >/dev/null 2>&1; e=$(date +%s.%N); echo "$e - $s" | bc; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
for f in "$@"; do
  f=$(realpath "$f")
  cat "$f" >/dev/null
  : >"$WORK/cat"; : >"$WORK/conv"; : >"$WORK/rw"; : >"$WORK/rw9"
  for _ in $(seq "$RUNS"); do
    t sh -c "cat '$f' > '$WORK/out'" >>"$WORK/cat"
    t "$B" convert "$f" -o "$WORK/out" --target-version 7.0 >>"$WORK/conv"
    t "$B" rewrite "$f" -o "$WORK/out" --target-version 7.0 >>"$WORK/rw"
    t "$B" rewrite "$f" -o "$WORK/out" --target-version 6.2 >>"$WORK/rw9"
  done
  c=$(median <"$WORK/cat"); v=$(median <"$WORK/conv"); r=$(median <"$WORK/rw"); r9=$(median <"$WORK/rw9")
  printf '%s (%s keys): cat %.2f s, convert %.2f s, rewrite for 7.0 %.2f s (%.2fx convert, %.2fx cat), for 6.2 %.2f s (%.2fx convert)\n' \
    "$(basename "$f")" "$(dump_keys "$f")" "$c" "$v" "$r" "$(echo "$r / $v" | bc -l)" \
    "$(echo "$r / $c" | bc -l)" "$r9" "$(echo "$r9 / $v" | bc -l)"
done
