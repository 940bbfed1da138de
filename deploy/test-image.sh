#!/usr/bin/env bash
# Builds the image (deploy/build-image.sh), then runs the binary inside it: --version, and a
# load of testdata/redis-8.6.rdb into a real redis-server started here on a free loopback
# port (stopped at the end), checked with redis-cli. Needs root (buildah) and the servers
# of scripts/install-servers.sh. Not part of scripts/test.sh: the musl target comes from
# rustup's download server, which is not a package registry.
set -euo pipefail
cd "$(dirname "$0")/.."
tag=$(bash deploy/build-image.sh)
bin=/opt/rdb-servers/bin
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
dir=$(mktemp -d)
"$bin/redis-8.6-server" --port "$port" --bind 127.0.0.1 --save '' --dir "$dir" --daemonize yes \
  --pidfile "$dir/pid" >/dev/null
ctr=$(buildah from "$tag")
cleanup() {
  buildah rm "$ctr" >/dev/null 2>&1 || true
  kill "$(cat "$dir/pid" 2>/dev/null)" 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT
for _ in $(seq 50); do "$bin/redis-8.6-cli" -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
run() { timeout 60 buildah run --isolation chroot -v "$PWD/testdata:/data:ro" "$ctr" -- "$@"; }
run /rdbshift --version
run /rdbshift load /data/redis-8.6.rdb --target "redis://127.0.0.1:$port" 2>&1 | tail -2
keys=$("$bin/redis-8.6-cli" -p "$port" eval 'local n=0 for _,db in ipairs({0,3}) do redis.call("select",db) n=n+redis.call("dbsize") end return n' 0)
echo "keys on the server: $keys"
[ "$keys" = 17 ] || { echo "test-image.sh: expected the fixture's 17 keys" >&2; exit 1; }
echo "test-image.sh: the image's binary loaded the fixture"
