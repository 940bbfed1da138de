#!/usr/bin/env bash
# RESTORE against SET for plain strings, per size band (issue 17): what each costs the
# server. For each value size, a dump of plain strings (DEBUG POPULATE on a real Redis 7.0,
# then SAVE); its `rdbshift convert` (SET per key) and `convert --restore` (RESTORE per key)
# piped with `redis-cli --pipe` into one Redis 7.0, emptied before each run; and
# `rdbshift load` (what the loader sends plain strings as: MSETs of up to 64 keys). The
# contenders alternate, BENCH_RUNS rounds (default 3), medians; every key counted after each
# run. Reported: wall time, and the server's CPU (user+sys from /proc/PID/stat) per key.
# Usage: scripts/bench-strings.sh [SIZE...]   (bytes; default 16 128 1024 8192 65536 524288)
set -euo pipefail
. "$(dirname "$0")/bench-lib.sh"
SIZES=${*:-16 128 1024 8192 65536 524288}
SRC=$((22000 + RANDOM % 10000))
DST=$((SRC + 1))
start_redis "$SRC" --enable-debug-command yes
start_redis "$DST"
DPID=$(cat "$WORK/$DST/pid")
TICK=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$DPID/stat"; }
secs() { local s e; s=$(date +%s.%N); eval "$1" >/dev/null 2>&1; e=$(date +%s.%N); echo "$e - $s" | bc; }
: > "$WORK/times"
for size in $SIZES; do
  # about 200 MB of values, at least 400 and at most 1M keys
  n=$((200000000 / size)); [ "$n" -gt 1000000 ] && n=1000000; [ "$n" -lt 400 ] && n=400
  redis-cli -p "$SRC" flushall >/dev/null
  redis-cli -p "$SRC" debug populate "$n" key "$size" >/dev/null
  redis-cli -p "$SRC" save >/dev/null
  F=$WORK/strings-$size.rdb
  mv "$WORK/$SRC/dump.rdb" "$F"
  "$B" convert "$F" -o "$WORK/set-$size.resp" 2>/dev/null
  "$B" convert "$F" --restore -o "$WORK/restore-$size.resp" 2>/dev/null
  declare -A RUN=(
    [set]="redis-cli -p $DST --pipe < $WORK/set-$size.resp"
    [restore]="redis-cli -p $DST --pipe < $WORK/restore-$size.resp"
    [load]="$B load $F --target redis://127.0.0.1:$DST"
  )
  for _ in $(seq "$RUNS"); do
    for k in set restore load; do
      redis-cli -p "$DST" flushall sync >/dev/null
      c0=$(cpu); t=$(secs "${RUN[$k]}"); c1=$(cpu)
      got=$(redis-cli -p "$DST" dbsize)
      [ "$got" = "$n" ] || { echo "$size $k: $got of $n keys arrived" >&2; exit 1; }
      echo "$size $n $k $t $(echo "scale=3; ($c1 - $c0) / $TICK" | bc)" >> "$WORK/times"
    done
  done
  rm -f "$WORK/set-$size.resp" "$WORK/restore-$size.resp" "$F"
done
python3 - "$WORK/times" "$RUNS" <<'PY'
import statistics, sys
t = {}
for line in open(sys.argv[1]):
    size, n, k, wall, cpu = line.split()
    t.setdefault((int(size), int(n)), {}).setdefault(k, []).append((float(wall), float(cpu)))
print(f"plain strings into Redis 7.0; medians of {sys.argv[2]} alternating rounds")
print(f"{'value':>8} {'keys':>8} | {'SET wall':>9} {'cpu/key':>8} | {'RESTORE wall':>12} {'cpu/key':>8} {'x SET':>6} | {'load (MSET) wall':>16} {'cpu/key':>8} {'x SET':>6}")
for (size, n), r in sorted(t.items()):
    med = {k: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v)) for k, v in r.items()}
    us = lambda k: med[k][1] / n * 1e6
    print(f"{size:>8} {n:>8} | {med['set'][0]:>8.2f}s {us('set'):>6.2f}us | {med['restore'][0]:>11.2f}s {us('restore'):>6.2f}us {med['restore'][1] / med['set'][1]:>5.2f}x | {med['load'][0]:>15.2f}s {us('load'):>6.2f}us {med['load'][1] / med['set'][1]:>5.2f}x")
PY
