#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs what the tests need, checks formatting,
# lints and docs, then runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-servers.sh
# gates: one style, no lint, docs that build
cargo fmt --all --check
cargo clippy --release --locked --workspace --all-targets -- -D warnings
RUSTDOCFLAGS="-D warnings" cargo doc --release --locked --workspace --no-deps
cargo build --release --locked
log=$(mktemp)
cargo test --release --locked --workspace 2>&1 | tee "$log"
# the outside floor check, when this checkout sits beside ../shared
if [ -d ../shared/corpus ] && [ -f ../shared/tools/selfcheck.py ]; then
  python3 ../shared/tools/selfcheck.py target/release/rdbshift --mutations 60 --seed 7
fi
# one closing line for the whole suite
awk '/^test result:/ {p += $4; f += $6} END {printf "cargo tests: %d passed, %d failed\n", p, f}' "$log"
if grep -q '^test result: FAILED' "$log"; then exit 1; fi
rm -f "$log"
