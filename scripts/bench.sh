#!/usr/bin/env bash
# Side-by-side benchmark of `rdbshift convert`, in one run, reported as ratios:
#   - `cat FILE > OUT` (the I/O floor), librdb's `rdb-cli FILE resp -o OUT` where installed
#     (scripts/build-rdb-cli.sh), `rdbshift convert` with --threads 1 and with the default;
#   - workloads built by a real redis-server 7.0 (scripts/gen-workload.py): "strings" (2M
#     keys, 11-byte names, ~470-byte random values, ~1 GB) and "bigkeys" (a 5M-field hash,
#     a 2M-member zset, a 1M-entry stream with groups and a PEL);
#   - wall time (best of BENCH_RUNS), peak anonymous memory and peak RSS (scripts/measure.py).
# Env: BENCH_DIR (default /tmp/rdbshift-bench; dumps are kept there and reused),
#      BENCH_SCALE (default 1; e.g. 0.1 for a quick run), BENCH_RUNS (default 3), RDB_CLI.
set -euo pipefail
cd "$(dirname "$0")/.."
R=${RDB_SERVERS:-/opt/rdb-servers}
DIR=${BENCH_DIR:-/tmp/rdbshift-bench}
SCALE=${BENCH_SCALE:-1}
RUNS=${BENCH_RUNS:-3}
RDBCLI=${RDB_CLI:-/opt/rdb-tools/bin/rdb-cli}
cargo build --release -q
B=$PWD/target/release/rdbshift
mkdir -p "$DIR"

make_dump() { # NAME GENERATOR-ARGS...
  local name=$1; shift
  [ -s "$DIR/$name.rdb" ] && return
  local d port
  d=$(mktemp -d); port=$((21000 + RANDOM % 20000))
  "$R/bin/redis-7.0-server" --port $port --bind 127.0.0.1 --save '' --appendonly no --dir "$d" \
    --daemonize yes --logfile "$d/log" --pidfile "$d/pid" --protected-mode no
  for _ in $(seq 100); do redis-cli -p $port ping >/dev/null 2>&1 && break; sleep 0.1; done
  echo "building $name ($*) ..." >&2
  python3 scripts/gen-workload.py "$@" | redis-cli -p $port --pipe >/dev/null
  redis-cli -p $port SAVE >/dev/null
  redis-cli -p $port SHUTDOWN NOSAVE >/dev/null 2>&1 || true
  mv "$d/dump.rdb" "$DIR/$name.rdb"
  rm -rf "$d"
}
make_dump strings strings "$(python3 -c "print(int(2000000 * $SCALE))")"
make_dump bigkeys bigkeys "$SCALE"

# best wall time and largest memory over the runs of one command line
measure() { # LABEL STDOUT-FILE CMD...
  local label=$1 out=$2; shift 2
  for _ in $(seq "$RUNS"); do
    rm -f "$DIR/out"; sync
    if [ "$out" = - ]; then python3 scripts/measure.py -- "$@"; else python3 scripts/measure.py --stdout "$out" -- "$@"; fi
  done | python3 -c '
import json, sys
rs = [json.loads(l) for l in sys.stdin]
bad = [r for r in rs if r["exit"] != 0]
best = min(r["wall_s"] for r in rs)
print(json.dumps({"label": sys.argv[1], "wall_s": best, "peak_anon_mib": max(r["peak_anon_mib"] for r in rs),
                  "peak_rss_mib": max(r["peak_rss_mib"] for r in rs), "failed": bool(bad),
                  "stderr": bad[0]["stderr"] if bad else ""}))' "$label"
  rm -f "$DIR/out"
}

RES="$DIR/results.jsonl"
: > "$RES"
for w in strings bigkeys; do
  f="$DIR/$w.rdb"
  cat "$f" > /dev/null   # the input in the page cache for every contender
  measure "$w|cat FILE > OUT" "$DIR/out" cat "$f" >> "$RES"
  if [ -x "$RDBCLI" ]; then
    measure "$w|rdb-cli FILE resp -o OUT" - "$RDBCLI" "$f" -l /dev/null resp -o "$DIR/out" >> "$RES"
  fi
  measure "$w|rdbshift convert --threads 1" - "$B" convert "$f" -o "$DIR/out" --threads 1 >> "$RES"
  measure "$w|rdbshift convert" - "$B" convert "$f" -o "$DIR/out" >> "$RES"
  measure "$w|rdbshift convert --restore" - "$B" convert "$f" -o "$DIR/out" --restore >> "$RES"
done

python3 - "$RES" "$DIR" <<'PY'
import json, os, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
by = {}
for r in rows:
    w, tool = r["label"].split("|")
    by.setdefault(w, {})[tool] = r
print(f"machine: {os.cpu_count()} cores, {os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') >> 30} GiB; runs: best of {os.environ.get('BENCH_RUNS', '3')}")
for w, tools in by.items():
    size = os.path.getsize(os.path.join(sys.argv[2], w + ".rdb"))
    cat = tools["cat FILE > OUT"]["wall_s"]
    lib = tools.get("rdb-cli FILE resp -o OUT", {}).get("wall_s")
    print(f"\n{w}: {size / 1e6:.0f} MB dump\n")
    print("| command | wall s | MB/s | x cat | rdb-cli / this | peak anon MiB | peak RSS MiB |")
    print("|---|---|---|---|---|---|---|")
    for tool, r in tools.items():
        t = r["wall_s"]
        vs_lib = f"{lib / t:.2f}" if lib and not tool.startswith("rdb-cli") else "-"
        fail = " FAILED: " + r["stderr"][-120:].replace("\n", " ") if r["failed"] else ""
        print(f"| `{tool}` | {t:.2f} | {size / 1e6 / t:.0f} | {t / cat:.2f} | {vs_lib} | {r['peak_anon_mib']:.0f} | {r['peak_rss_mib']:.0f} |{fail}")
PY
