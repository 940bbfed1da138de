#!/usr/bin/env bash
# Side-by-side benchmark of `rdbshift load` on the seed's workload (scripts/bench.sh builds
# it: 2M string keys, ~1 GB), in one run, reported as ratios:
#   - into a fresh standalone Redis 7.0: `rdbshift load` (default: RESTORE payloads, and
#     --mode commands), `redis-cli --pipe` of the same data as RESP (from `rdbshift
#     convert`), librdb's `rdb-cli FILE redis` where installed;
#   - into a 3-master Redis 7.0 cluster on the same machine: `rdbshift load`.
# The target is emptied (FLUSHALL SYNC) before every run; wall time is the best of
# BENCH_RUNS; memory as in scripts/measure.py. All keys must arrive (checked).
set -euo pipefail
cd "$(dirname "$0")/.."
R=${RDB_SERVERS:-/opt/rdb-servers}
DIR=${BENCH_DIR:-/tmp/rdbshift-bench}
RUNS=${BENCH_RUNS:-3}
RDBCLI=${RDB_CLI:-/opt/rdb-tools/bin/rdb-cli}
B=$PWD/target/release/rdbshift
F=$DIR/strings.rdb
[ -s "$F" ] || { echo "run scripts/bench.sh first (it builds $F)" >&2; exit 1; }
cargo build --release -q
WORK=$(mktemp -d)
PORTS=()
cleanup() { for p in "${PORTS[@]}"; do redis-cli -p "$p" shutdown nosave >/dev/null 2>&1 || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

start() { # PORT EXTRA...
  local p=$1; shift
  mkdir -p "$WORK/$p"
  "$R/bin/redis-7.0-server" --port "$p" --bind 127.0.0.1 --save '' --appendonly no --dir "$WORK/$p" \
    --daemonize yes --logfile "$WORK/$p/log" --protected-mode no "$@"
  for _ in $(seq 100); do redis-cli -p "$p" ping >/dev/null 2>&1 && break; sleep 0.1; done
  PORTS+=("$p")
}
base=$((22000 + RANDOM % 20000))
S=$base; start $S
C1=$((base + 1)); C2=$((base + 2)); C3=$((base + 3))
for p in $C1 $C2 $C3; do start $p --cluster-enabled yes --cluster-config-file nodes.conf --cluster-port $((p + 100)); done
redis-cli --cluster create 127.0.0.1:$C1 127.0.0.1:$C2 127.0.0.1:$C3 --cluster-replicas 0 --cluster-yes >/dev/null
until redis-cli -p $C1 cluster info | grep -q cluster_state:ok; do sleep 0.2; done
"$B" convert "$F" -o "$WORK/data.resp" 2>/dev/null

keys() { # total keys on the given ports
  local n=0; for p in "$@"; do n=$((n + $(redis-cli -p "$p" dbsize))); done; echo $n
}
measure() { # LABEL PORTS CMD...
  local label=$1 ports=$2; shift 2
  for _ in $(seq "$RUNS"); do
    for p in $ports; do redis-cli -p "$p" flushall sync >/dev/null; done
    python3 scripts/measure.py -- "$@" | python3 -c 'import json,sys; r=json.loads(sys.stdin.read()); r["keys"]=int(sys.argv[1]); print(json.dumps(r))' "$(keys $ports)" 2>/dev/null || true
  done > "$WORK/runs"
  # the key count is read after the run finished
  python3 - "$label" "$WORK/runs" <<'PY'
import json, sys
rs = [json.loads(l) for l in open(sys.argv[2])]
print(json.dumps({"label": sys.argv[1], "wall_s": min(r["wall_s"] for r in rs), "peak_anon_mib": max(r["peak_anon_mib"] for r in rs),
                  "peak_rss_mib": max(r["peak_rss_mib"] for r in rs), "failed": any(r["exit"] != 0 for r in rs), "stderr": rs[0]["stderr"][-200:]}))
PY
}
run_keys() { # LABEL PORTS CMD... ; then count keys
  measure "$@" > "$WORK/m"
  local ports=$2
  python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); r["keys"]=int(sys.argv[2]); print(json.dumps(r))' "$WORK/m" "$(keys $ports)"
}
{
  run_keys "standalone|rdbshift load" "$S" "$B" load "$F" --target redis://127.0.0.1:$S
  run_keys "standalone|rdbshift load --mode commands" "$S" "$B" load "$F" --target redis://127.0.0.1:$S --mode commands
  run_keys "standalone|redis-cli --pipe < RESP" "$S" sh -c "redis-cli -p $S --pipe < $WORK/data.resp"
  if [ -x "$RDBCLI" ]; then
    run_keys "standalone|rdb-cli FILE redis" "$S" "$RDBCLI" "$F" -l /dev/null redis -h 127.0.0.1 -p $S
  fi
  run_keys "cluster|rdbshift load" "$C1 $C2 $C3" "$B" load "$F" --target redis://127.0.0.1:$C1
} > "$WORK/results.jsonl"
cp "$WORK/results.jsonl" "$DIR/load-results.jsonl"
python3 - "$WORK/results.jsonl" <<'PY'
import json, os, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
base = {r["label"].split("|")[1]: r["wall_s"] for r in rows if r["label"].startswith("standalone|")}
ref = base.get("rdb-cli FILE redis") or base.get("redis-cli --pipe < RESP")
print(f"machine: {os.cpu_count()} cores; 2M keys; best of {os.environ.get('BENCH_RUNS', '3')}\n")
print("| target | command | wall s | keys/s | vs redis-cli --pipe | vs rdb-cli | keys arrived | peak anon MiB | peak RSS MiB |")
print("|---|---|---|---|---|---|---|---|---|")
for r in rows:
    t, cmd = r["label"].split("|")
    w = r["wall_s"]
    pipe = base.get("redis-cli --pipe < RESP"); lib = base.get("rdb-cli FILE redis")
    f = lambda b: f"{b / w:.2f}x" if b else "-"
    print(f"| {t} | `{cmd}` | {w:.2f} | {r['keys'] / w:,.0f} | {f(pipe)} | {f(lib)} | {r['keys']} | {r['peak_anon_mib']:.0f} | {r['peak_rss_mib']:.0f} |" + (" FAILED" if r["failed"] else ""))
PY
