#!/usr/bin/env bash
# RESTORE of re-encoded payloads against commands, per type, for values an older target
# cannot load as stored: a Redis 7.0 dump (listpack hashes and sorted sets, quicklist2
# lists) loaded into Redis 6.2 with `rdbshift load --type T`, once with the re-encoded
# payloads and once with commands (RDBSHIFT_REENCODE names the types re-encoded), into a
# flushed server each time, alternating; medians of the wall time and the server's CPU.
# Usage: scripts/bench-reencode.sh DUMP (BENCH_RUNS rounds, default 3)
set -euo pipefail
source "$(dirname "$0")/bench-lib.sh"
f=$(realpath "${1:?usage: $0 DUMP}")
P=$((20000 + RANDOM % 20000))
mkdir -p "$WORK/$P"; STARTED+=("$P")
"$R/bin/redis-6.2-server" --port "$P" --bind 127.0.0.1 --save '' --appendonly no \
  --dir "$WORK/$P" --daemonize yes --logfile "$WORK/$P/log" --pidfile "$WORK/$P/pid" --protected-mode no
for _ in $(seq 100); do redis-cli -p "$P" ping >/dev/null 2>&1 && break; sleep 0.1; done
SPID=$(cat "$WORK/$P/pid"); TICK=$(getconf CLK_TCK)
cpu() { awk -v t="$TICK" '{printf "%.3f\n", ($14 + $15) / t}' "/proc/$SPID/stat"; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
run() { # TYPE REENCODE -> "wall cpu"
  redis-cli -p "$P" flushall >/dev/null
  local c0 s e c1
  c0=$(cpu); s=$(date +%s.%N)
  RDBSHIFT_REENCODE=$2 "$B" load "$f" --target "redis://127.0.0.1:$P" --type "$1" >/dev/null 2>&1
  e=$(date +%s.%N); c1=$(cpu)
  echo "$(echo "$e - $s" | bc) $(echo "$c1 - $c0" | bc)"
}
cat "$f" >/dev/null
for t in ${BENCH_TYPES:-list hash zset set}; do
  : >"$WORK/re"; : >"$WORK/cmd"
  for _ in $(seq "$RUNS"); do run "$t" "$t" >>"$WORK/re"; run "$t" none >>"$WORK/cmd"; done
  rw=$(cut -d' ' -f1 "$WORK/re" | median); rc=$(cut -d' ' -f2 "$WORK/re" | median)
  cw=$(cut -d' ' -f1 "$WORK/cmd" | median); cc=$(cut -d' ' -f2 "$WORK/cmd" | median)
  printf '%-5s re-encoded RESTORE: %.2f s wall, %.2f s server CPU; commands: %.2f s wall, %.2f s server CPU; RESTORE/commands %.2fx wall, %.2fx CPU\n' \
    "$t" "$rw" "$rc" "$cw" "$cc" "$(echo "$rw / $cw" | bc -l)" "$(echo "$rc / $cc" | bc -l)"
done
