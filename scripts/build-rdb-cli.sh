#!/usr/bin/env bash
# Builds librdb's rdb-cli (github.com/redis/librdb) for side-by-side benchmarks only;
# none of its code is committed here. Result: $RDB_TOOLS/bin/rdb-cli (default /opt/rdb-tools),
# linked statically against librdb (needs only libc). Needs git, make and a C compiler.
set -euo pipefail
ROOT=${RDB_TOOLS:-/opt/rdb-tools}
REF=${LIBRDB_REF:-35f0f1a38c4de2e6eb47b388413bed070a0b0ad0}  # librdb v2.1.0+, 2026-02-25
SRC=$ROOT/src/librdb

if [ ! -d "$SRC/.git" ]; then
  mkdir -p "$ROOT/src"
  git clone --recursive https://github.com/redis/librdb "$SRC"
fi
git -C "$SRC" checkout -q "$REF"
git -C "$SRC" submodule update --init deps/hiredis   # hiredis at the commit librdb pins

# OPTIMIZATION=-O3 on the command line matters: src/ext/Makefile says "OPTIMIZATION? = -O3"
# (a typo), so by default the RESP/redis writers in librdb-ext are built at -O0.
# -j1 and nice: leave the CPUs to whatever else is running.
nice -n 19 make -C "$SRC" -j1 OPTIMIZATION=-O3

install -D -m 755 "$SRC/bin/rdb-cli" "$ROOT/bin/rdb-cli"
"$ROOT/bin/rdb-cli" 2>&1 | head -1 || true   # prints "[vX.Y.Z] Usage: ..."
