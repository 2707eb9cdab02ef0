#!/usr/bin/env bash
# Benchmark: pathological campaign YAML. Times `check` on generated files of nested brackets
# (10,000 to 100,000 levels, up to 200 KB) and on one just under the 2 MiB cap made of many
# small flow sequences (the most nodes per byte). Every case must answer in about linear time with exit 3 (nesting) or
# a YAML/validation error. Not a test: the README records what was measured.
#
#   bash bench/yaml.sh                 # builds the release binary
#   BIN=path/to/sessioncast bash bench/yaml.sh
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=bench/out
mkdir -p "$OUT"
if [ -z "${BIN:-}" ]; then
  cargo build --release --quiet
  BIN=target/release/sessioncast
fi
for depth in 10000 20000 50000 100000; do
  python3 -c "import sys; d=int(sys.argv[1]); print('version: 1\nname: deep\nmessages: ' + '['*d + ']'*d)" "$depth" > "$OUT/deep.yaml"
  python3 bench/measure.py "nested-$depth" - -- sh -c "$BIN check $OUT/deep.yaml; test \$? = 3" 
done
# Wide, not deep: about 2 MB of `[[1,2],[3,4]]` items, all within the nesting limit.
python3 - "$OUT/wide.yaml" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    f.write("version: 1\nname: wide\nvars:\n  big: [")
    item = "[[1, 2], [3, 4]], "
    f.write(item * (2_000_000 // len(item)))
    f.write("0]\n")
PY
ls -l "$OUT/wide.yaml" | awk '{print "wide.yaml bytes:", $5}'
python3 bench/measure.py wide-2MB - -- sh -c "$BIN check $OUT/wide.yaml; test \$? = 3"
