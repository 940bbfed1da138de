#!/usr/bin/env bash
# Regenerates testdata/*.rdb from real servers and their expected `inspect` output
# (testdata/*.jsonl). Each fixture: a fresh server, testdata/common.redis (plus
# testdata/<server>.redis when present) fed through redis-cli, SAVE, copy the dump.
# Review the .jsonl diff before committing: the tests hold rdbshift to it.
set -euo pipefail
cd "$(dirname "$0")/.."
R=${RDB_SERVERS:-/opt/rdb-servers}
cargo build --release -q
for s in redis-7.0 redis-8.6 valkey-9.1; do
  d=$(mktemp -d); port=$((20000 + RANDOM % 20000))
  extra=(); case $s in redis-*) extra=(--enable-debug-command yes);; esac
  "$R/bin/$s-server" --port $port --bind 127.0.0.1 --save '' --appendonly no --dir "$d" --daemonize yes \
    --pidfile "$d/pid" --logfile "$d/log" "${extra[@]}"
  for i in $(seq 50); do redis-cli -p $port ping >/dev/null 2>&1 && break; sleep 0.1; done
  { cat testdata/common.redis; if [ -f "testdata/$s.redis" ]; then echo "SELECT 0"; cat "testdata/$s.redis"; fi; } \
    | redis-cli -p $port >/dev/null
  printf '#!lua name=fixturelib\nredis.register_function("hello", function() return "hi" end)\n' > "$d/lib.lua"
  redis-cli -p $port -x FUNCTION LOAD < "$d/lib.lua" >/dev/null
  redis-cli -p $port SAVE >/dev/null
  redis-cli -p $port SHUTDOWN NOSAVE >/dev/null 2>&1 || true
  cp "$d/dump.rdb" "testdata/$s.rdb"
  ./target/release/rdbshift inspect "testdata/$s.rdb" > "testdata/$s.jsonl"
  rm -rf "$d"
  echo "testdata/$s.rdb: $(wc -l < "testdata/$s.jsonl") keys"
done
