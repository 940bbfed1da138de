#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs what the tests need, then runs them.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-servers.sh
cargo build --release --locked
log=$(mktemp)
cargo test --release --locked 2>&1 | tee "$log"
if [ -d ../shared/corpus ] && [ -f ../shared/tools/selfcheck.py ]; then
  python3 ../shared/tools/selfcheck.py target/release/rdbshift --mutations 60 --seed 7
fi
# one closing line for the whole suite
awk '/^test result:/ {p += $4; f += $6} END {printf "cargo tests: %d passed, %d failed\n", p, f}' "$log"
rm -f "$log"
