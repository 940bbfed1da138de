# Sourced by the benchmark scripts (bench-side, bench-cluster, bench-throttle): the release
# binary ($B), a scratch directory ($WORK) removed at exit, Redis 7.0 servers on loopback
# shut down at exit, and a dump's key count. $R: the server matrix; $RUNS: rounds.
cd "$(dirname "${BASH_SOURCE[0]}")/.."
R=${RDB_SERVERS:-/opt/rdb-servers}
RUNS=${BENCH_RUNS:-3}
cargo build --release -q
B=$PWD/target/release/rdbshift
WORK=$(mktemp -d)
STARTED=()
bench_cleanup() {
  for p in "${STARTED[@]}"; do redis-cli -p "$p" shutdown nosave >/dev/null 2>&1 || true; done
  rm -rf "$WORK"
}
trap bench_cleanup EXIT

# start_redis PORT EXTRA...: a Redis 7.0 on 127.0.0.1:PORT with its files (log, pid) in
# $WORK/PORT, answering PING before this returns.
start_redis() {
  local p=$1; shift
  mkdir -p "$WORK/$p"
  STARTED+=("$p")
  "$R/bin/redis-7.0-server" --port "$p" --bind 127.0.0.1 --save '' --appendonly no \
    --dir "$WORK/$p" --daemonize yes --logfile "$WORK/$p/log" --pidfile "$WORK/$p/pid" \
    --protected-mode no "$@"
  for _ in $(seq 100); do redis-cli -p "$p" ping >/dev/null 2>&1 && return; sleep 0.1; done
  echo "server $p did not start" >&2; exit 1
}

# dump_keys FILE: how many keys the dump holds (all dbs).
dump_keys() {
  "$B" info "$1" --json | python3 -c 'import json,sys; print(sum(d["keys"] for d in json.load(sys.stdin)["dbs"].values()))'
}
