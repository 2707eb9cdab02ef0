#!/usr/bin/env bash
# Benchmark: real sends at 1000/1s against the sandbox with a 50 ms answer delay.
# Prints messages per second achieved (sent / elapsed) and the sandbox's 429 count. Not a test.
#
#   bash bench/send.sh              # 5,000 messages
#   N=20000 bash bench/send.sh
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-5000}
PORT=${PORT:-18765}
OUT=bench/out
mkdir -p "$OUT"
cargo build --release --quiet
BIN=${CARGO_TARGET_DIR:-target}/release/sessioncast

python3 - "$N" "$OUT/send-recipients.csv" <<'PY'
import sys
n, path = int(sys.argv[1]), sys.argv[2]
with open(path, "w") as f:
    f.write("to,last_inbound_at,name\n")
    for i in range(n):
        f.write(f"+1415{3000000 + i:07d},1h ago,Name{i}\n")
PY
cat > "$OUT/send.yaml" <<YAML
version: 1
name: bench-send
provider: { kind: cloud_api, base_url: "http://127.0.0.1:$PORT", token_env: BENCH_TOKEN, phone_number_id: "42" }
rate: 1000/1s
recipients: { file: send-recipients.csv }
messages:
  - { type: text, body: "Hi {{ name }}, your order has shipped." }
YAML

export BENCH_TOKEN=bench-token-not-secret
$BIN sandbox --port "$PORT" --rate 1000/1s --delay 50ms --headers note --token-env BENCH_TOKEN >/dev/null 2>&1 &
SANDBOX=$!
trap 'kill $SANDBOX 2>/dev/null || true' EXIT
for _ in $(seq 50); do
  python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$PORT/_sandbox/stats')" 2>/dev/null && break
  sleep 0.1
done

# A fresh ledger each time: the previous run's ledger would mark everyone as already sent.
rm -rf "$OUT/.sessioncast"
$BIN run "$OUT/send.yaml" --format json --quiet > "$OUT/send-summary.json"
python3 - "$OUT/send-summary.json" "$PORT" <<'PY'
import json, sys, urllib.request
summary = json.load(open(sys.argv[1]))
stats = json.load(urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[2]}/_sandbox/stats"))
print(json.dumps({
    "label": "send-1000/1s-50ms",
    "messages": summary["sent"],
    "elapsed_s": summary["elapsed_s"],
    "messages_per_s": round(summary["sent"] / summary["elapsed_s"], 1),
    "throttled_429": stats["rejected_rate"],
    "duplicates": stats["duplicates"],
    "failed": summary["failed"], "unknown": summary["unknown"],
}))
PY
