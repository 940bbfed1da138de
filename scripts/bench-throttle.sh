#!/usr/bin/env bash
# How exactly `load --max-ops` holds its rate: loads DUMP into a fresh Redis 7.0 with
# --max-ops RATE (BENCH_RUNS times, default 3), each run checked (every key arrived), and
# prints per run the wall time, the time the key count predicts (keys / RATE), the achieved
# rate from the report and the time held back. Then one run without a limit, for scale.
# Usage: scripts/bench-throttle.sh DUMP [RATE]   (RATE default 100000)
set -euo pipefail
F=$(realpath "${1:?usage: scripts/bench-throttle.sh DUMP [RATE]}")
RATE=${2:-100000}
. "$(dirname "$0")/bench-lib.sh"
P=$((22000 + RANDOM % 20000))
start_redis $P
KEYS=$(dump_keys "$F")
cat "$F" > /dev/null
echo "$KEYS keys, --max-ops $RATE: the keys alone take $(python3 -c "print(round($KEYS/$RATE, 2))") s"
one() {
  redis-cli -p $P flushall >/dev/null
  local t0 t1
  t0=$(date +%s.%N)
  "$B" load "$F" --target "redis://127.0.0.1:$P" --report "$WORK/r.json" "$@" 2>"$WORK/err" || { cat "$WORK/err"; exit 1; }
  t1=$(date +%s.%N)
  local n; n=$(redis-cli -p $P dbsize)
  [ "$n" = "$KEYS" ] || { echo "only $n of $KEYS keys arrived" >&2; exit 1; }
  python3 - "$WORK/r.json" "$t0" "$t1" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); wall = float(sys.argv[3]) - float(sys.argv[2]); x = r["rates"]
print(f"  wall {wall:6.2f} s  loaded {r['loaded']}  achieved {x['ops_per_second']:9.0f} ops/s  {x['bytes_per_second']/1e6:6.1f} MB/s  held back {x['throttled_seconds']:5.2f} s")
PY
}
for i in $(seq "$RUNS"); do one --max-ops "$RATE"; done
echo "without a limit:"
one
