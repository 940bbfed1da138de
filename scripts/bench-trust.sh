#!/usr/bin/env bash
# What the trust work costs, side by side in one run, as ratios against a baseline binary
# (BASE, e.g. the previous release built into another target dir) and `redis-cli --pipe`:
#   - `load` of the seed's workload (scripts/bench.sh builds it: 2M string keys, ~1 GB) into a
#     fresh standalone Redis 7.0: the new load includes the pre-pass (structure + CRC-64) and
#     per-key validation before RESTORE;
#   - `convert` and `convert --restore` to a file (validation cost, duplicate-key check);
#   - `info` (the skim alone, close to the pre-pass).
# Runs alternate between the binaries; wall time is the best of BENCH_RUNS, memory the
# largest (scripts/measure.py). Usage: BASE=/path/to/old/rdbshift scripts/bench-trust.sh
set -euo pipefail
cd "$(dirname "$0")/.."
R=${RDB_SERVERS:-/opt/rdb-servers}
DIR=${BENCH_DIR:-/tmp/rdbshift-bench}
RUNS=${BENCH_RUNS:-3}
NEW=$PWD/target/release/rdbshift
BASE=${BASE:?set BASE to the baseline rdbshift binary}
F=$DIR/strings.rdb
[ -s "$F" ] || { echo "run scripts/bench.sh first (it builds $F)" >&2; exit 1; }
WORK=$(mktemp -d)
PORT=$((22000 + RANDOM % 20000))
cleanup() { redis-cli -p $PORT shutdown nosave >/dev/null 2>&1 || true; rm -rf "$WORK"; }
trap cleanup EXIT
"$R/bin/redis-7.0-server" --port $PORT --bind 127.0.0.1 --save '' --appendonly no --dir "$WORK" \
  --daemonize yes --logfile "$WORK/log" --protected-mode no
for _ in $(seq 100); do redis-cli -p $PORT ping >/dev/null 2>&1 && break; sleep 0.1; done
"$NEW" convert "$F" -o "$WORK/data.resp" 2>/dev/null

one() { # LABEL CMD... -> a JSON line
  local label=$1; shift
  redis-cli -p $PORT flushall sync >/dev/null
  # no output of an earlier run left to write back during this one
  rm -f "$WORK/o1" "$WORK/o2"; sync
  python3 scripts/measure.py -- "$@" | python3 -c 'import json,sys; r=json.loads(sys.stdin.read()); r["label"]=sys.argv[1]; print(json.dumps(r))' "$label"
}
{
  for _ in $(seq "$RUNS"); do
    one "load (base)" "$BASE" load "$F" --target "redis://127.0.0.1:$PORT"
    one "load (new)" "$NEW" load "$F" --target "redis://127.0.0.1:$PORT"
    one "redis-cli --pipe" sh -c "redis-cli -p $PORT --pipe < $WORK/data.resp"
    one "convert (base)" "$BASE" convert "$F" -o "$WORK/o1"
    one "convert (new)" "$NEW" convert "$F" -o "$WORK/o2"
    one "convert --restore (base)" "$BASE" convert --restore "$F" -o "$WORK/o1"
    one "convert --restore (new)" "$NEW" convert --restore "$F" -o "$WORK/o2"
    one "info (base)" "$BASE" info "$F"
    one "info (new)" "$NEW" info "$F"
  done
} > "$WORK/runs"
python3 - "$WORK/runs" <<'PY'
import json, sys
rs = [json.loads(l) for l in open(sys.argv[1])]
best = {}
for r in rs:
    b = best.setdefault(r["label"], {"wall_s": 1e9, "peak_anon_mib": 0, "peak_rss_mib": 0, "bad": False})
    b["wall_s"] = min(b["wall_s"], r["wall_s"]); b["bad"] |= r["exit"] != 0
    b["peak_anon_mib"] = max(b["peak_anon_mib"], r["peak_anon_mib"]); b["peak_rss_mib"] = max(b["peak_rss_mib"], r["peak_rss_mib"])
print(f"| run | wall s (best of {len(rs)//len(best)}) | vs base | peak anon MiB | peak RSS MiB |")
print("|---|---|---|---|---|")
for label, b in best.items():
    base = best.get(label.replace("(new)", "(base)"), b)
    ratio = b["wall_s"] / base["wall_s"] if "(new)" in label else 1.0
    flag = " FAILED" if b["bad"] else ""
    print(f"| {label}{flag} | {b['wall_s']:.2f} | {ratio:.2f} | {b['peak_anon_mib']:.0f} | {b['peak_rss_mib']:.0f} |")
pipe = best.get("redis-cli --pipe"); new = best.get("load (new)")
if pipe and new:
    print(f"\nload (new) / redis-cli --pipe: {new['wall_s'] / pipe['wall_s']:.2f}")
PY
