#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs what the tests need, then runs them.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-servers.sh
cargo build --release --locked
cargo test --release --locked
if [ -d ../shared/corpus ] && [ -f ../shared/tools/selfcheck.py ]; then
  python3 ../shared/tools/selfcheck.py target/release/rdbshift --mutations 60 --seed 7
fi
