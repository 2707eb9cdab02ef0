#!/usr/bin/env bash
# Benchmark: check, plan, dry run and a sandbox run's start-up on a generated 1,000,000-recipient
# CSV. Prints wall time, peak memory and the dry run's requests per second. Not a test: figures
# depend on the machine; the README records what was measured.
#
#   bash bench/million.sh            # 1,000,000 recipients
#   N=100000 bash bench/million.sh   # smaller
#   BIN=/tmp/old/sessioncast bash bench/million.sh   # another build, not rebuilt
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-1000000}
OUT=bench/out
mkdir -p "$OUT"
# BIN=path compares another build (e.g. before and after a change, run alternately).
if [ -z "${BIN:-}" ]; then
  cargo build --release --quiet
  BIN=target/release/sessioncast
fi

python3 - "$N" "$OUT/recipients.csv" <<'PY'
import sys
n, path = int(sys.argv[1]), sys.argv[2]
langs = ("en", "es")
with open(path, "w") as f:
    f.write("to,last_inbound_at,first_name,lang,order_id\n")
    for i in range(n):
        # Valid, distinct US numbers: +1 415 2xx xxxx.
        f.write(f"+1415{2000000 + i:07d},{1 + i % 20}h ago,Name{i % 997},{langs[i % 2]},A-{i}\n")
PY

cat > "$OUT/million.yaml" <<'YAML'
version: 1
name: bench-million
provider: { kind: messangi, base_url: "https://messangi.example.com", token_env: MESSANGI_API_KEY, from: "14155550100" }
rate: 1000/1s
recipients: { file: recipients.csv }
vars: { store: Acme }
messages:
  - { type: text, when: 'lang == "es"', body: "Hola {{ first_name }}, tu pedido {{ order_id }} ya salió de {{ store }}." }
  - { type: text, when: 'lang != "es"', body: "Hi {{ first_name }}, your order {{ order_id }} has shipped from {{ store }}." }
  - { type: image, url: "https://cdn.example.com/orders/{{ order_id }}.jpg", caption: "Order {{ order_id }}" }
YAML

NOW=2026-11-23T12:00:00Z
echo "recipients: $N (2 requests each), machine: $(nproc) cores"
python3 bench/measure.py check - -- $BIN check "$OUT/million.yaml" --now $NOW
python3 bench/measure.py plan-json - -- $BIN plan "$OUT/million.yaml" --format json --now $NOW
# Output to /dev/null as the target states; the request count comes from the run's own summary.
python3 bench/measure.py dry-run-json - -- $BIN run "$OUT/million.yaml" --dry-run --format json --now $NOW
# A real run's start-up: load, render once, freeze every request into a new ledger (the
# rendering is freed once it is committed); then one second of sends to the in-process sandbox,
# each body read back from the ledger a block of 1,024 recipients at a time (exit 5: stopped with
# work left). The rehearsal's ledger is a temporary file, new each run.
OK_EXITS=5 python3 bench/measure.py run-sandbox-1s - -- $BIN run "$OUT/million.yaml" --sandbox --max-duration 1s --quiet
