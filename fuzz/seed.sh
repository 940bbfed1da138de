#!/usr/bin/env bash
# Seeds the fuzz corpus with every RDB file of ../shared/corpus (run from fuzz/).
set -euo pipefail
mkdir -p corpus/read
find ../../shared/corpus -name '*.rdb' -exec cp {} corpus/read/ \;
