#!/usr/bin/env bash
# Seeds the fuzz corpus with every RDB file of ../testdata (run from fuzz/).
set -euo pipefail
mkdir -p corpus/read
find ../testdata -name '*.rdb' -exec cp {} corpus/read/ \;
