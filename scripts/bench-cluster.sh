#!/usr/bin/env bash
# Load into a 3-master Redis 7.0 cluster against a standalone Redis 7.0, on this machine,
# alternating round by round (BENCH_RUNS, default 3), medians; every key counted after each
# load. Beside the wall time: the servers' CPU (user+sys, /proc/PID/stat) summed.
# Usage: scripts/bench-cluster.sh DUMP   (LOAD_ARGS="--window 4MiB" adds options to each load)
set -euo pipefail
F=$(realpath "${1:?usage: scripts/bench-cluster.sh DUMP}")
. "$(dirname "$0")/bench-lib.sh"
BASE=$((22000 + RANDOM % 10000))
PORTS="$BASE $((BASE + 1)) $((BASE + 2))"
SOLO=$((BASE + 3))
for p in $PORTS; do start_redis "$p" --cluster-enabled yes --cluster-config-file "$WORK/$p/nodes.conf"; done
start_redis "$SOLO"
# shellcheck disable=SC2086
redis-cli --cluster create $(for p in $PORTS; do printf '127.0.0.1:%s ' "$p"; done) \
  --cluster-yes >/dev/null
for _ in $(seq 100); do
  [ "$(redis-cli -p $BASE cluster info | tr -d '\r' | awk -F: '/cluster_state/ {print $2}')" = ok ] && break
  sleep 0.2
done
KEYS=$(dump_keys "$F")
TICK=$(getconf CLK_TCK)
cpu() { local t=0 p; for p in "$@"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$(cat "$WORK/$p/pid")/stat"))); done; echo "$t"; }
count() { local n=0 p; for p in "$@"; do n=$((n + $(redis-cli -p "$p" dbsize))); done; echo "$n"; }
: > "$WORK/times"
for _ in $(seq "$RUNS"); do
  for what in standalone cluster; do
    if [ $what = cluster ]; then ps=$PORTS; url=redis://127.0.0.1:$BASE; else ps=$SOLO; url=redis://127.0.0.1:$SOLO; fi
    for p in $ps; do redis-cli -p "$p" flushall sync >/dev/null; done
    # shellcheck disable=SC2086
    c0=$(cpu $ps); s=$(date +%s.%N)
    # shellcheck disable=SC2086
    "$B" load "$F" --target "$url" ${LOAD_ARGS:-} >/dev/null 2>&1
    e=$(date +%s.%N)
    # shellcheck disable=SC2086
    c1=$(cpu $ps); n=$(count $ps)
    [ "$n" = "$KEYS" ] || { echo "$what: $n of $KEYS keys arrived" >&2; exit 1; }
    echo "$what $(echo "$e - $s" | bc) $(echo "scale=2; ($c1 - $c0) / $TICK" | bc)" >> "$WORK/times"
  done
done
python3 - "$WORK/times" "$KEYS" "$RUNS" <<'PY'
import statistics, sys
t = {}
for line in open(sys.argv[1]):
    k, w, c = line.split()
    t.setdefault(k, []).append((float(w), float(c)))
print(f"{sys.argv[2]} keys; medians of {sys.argv[3]} alternating rounds")
m = {k: (statistics.median(x[0] for x in v), statistics.median(x[1] for x in v)) for k, v in t.items()}
for k, (w, c) in m.items():
    print(f"  {k:11} wall {w:5.2f} s ({w / m['standalone'][0]:.2f}x standalone)  servers' CPU {c:5.2f} s")
PY
