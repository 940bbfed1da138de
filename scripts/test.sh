#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs what the tests need, checks formatting,
# lints, docs and the reader crate's package, then runs every test.
#
#   scripts/test.sh              everything
#   scripts/test.sh FILTER...    only `cargo test` of the tests matching a filter (no install,
#                                no gates), e.g. scripts/test.sh convert_roundtrip::valkey_8_0
#
# A test whose server (or tool) is missing fails, unless RDBSHIFT_ALLOW_MISSING_SERVERS=1:
# then it skips what needs it and records the skip in $RDBSHIFT_SKIP_LOG. This script counts
# the skips and fails when there are any, unless RDBSHIFT_ALLOW_MISSING_SERVERS=1 was set.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -eq 0 ]; then
  bash scripts/install-servers.sh
  # gates: one style, no lint, docs that build
  cargo fmt --all --check
  cargo clippy --release --locked --workspace --all-targets -- -D warnings
  RUSTDOCFLAGS="-D warnings" cargo doc --release --locked --workspace --no-deps
  # the reader crate as it would be published: packaged and built from the package alone.
  # No semver check: the crate is not published, so there is no release to compare with
  # (cargo-semver-checks needs a baseline; building it also costs more than this suite's
  # whole budget on two cores). Its API is 0.x and documented as changing.
  cargo package -p rdbshift-format --locked --allow-dirty
  cargo build --release --locked
fi
log=$(mktemp)
skips=$(mktemp)
export RDBSHIFT_SKIP_LOG=$skips
status=0
if [ $# -eq 0 ]; then
  cargo test --release --locked --workspace 2>&1 | tee "$log" || status=1
else
  cargo test --release --locked --test it -- "$@" 2>&1 | tee "$log" || status=1
fi
# the outside floor check, when this checkout sits beside ../shared
if [ $# -eq 0 ] && [ -d ../shared/corpus ] && [ -f ../shared/tools/selfcheck.py ]; then
  python3 ../shared/tools/selfcheck.py target/release/rdbshift --mutations 60 --seed 7 || status=1
fi
# one closing line for the whole suite
awk '/^test result:/ {p += $4; f += $6} END {printf "cargo tests: %d passed, %d failed\n", p, f}' "$log"
if grep -q '^test result: FAILED' "$log"; then status=1; fi
# skipped servers/tools: a line "test<TAB>what<TAB>why" per skip
n=$(wc -l < "$skips" | tr -d ' ')
what=$(cut -f2 "$skips" | sort | uniq -c | awk '{printf "%s%s x%d", (NR > 1 ? ", " : ""), $2, $1}')
if [ "$n" -gt 0 ]; then echo "skipped: $n ($what)"; else echo "skipped: 0"; fi
if [ "$n" -gt 0 ]; then
  cut -f1,2 "$skips" | sort | sed 's/^/  skipped: /'
  if [ "${RDBSHIFT_ALLOW_MISSING_SERVERS:-}" != 1 ]; then
    echo "skips are failures unless RDBSHIFT_ALLOW_MISSING_SERVERS=1 is set" >&2
    status=1
  fi
fi
rm -f "$log" "$skips"
exit $status
