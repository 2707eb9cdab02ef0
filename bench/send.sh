#!/usr/bin/env bash
# Benchmark: real sends at 1000/1s against the sandbox with a 50 ms answer delay.
# Prints messages per second achieved (sent / elapsed) and the sandbox's 429 count. Not a test.
#
#   bash bench/send.sh              # 5,000 messages
#   N=20000 bash bench/send.sh
#   BIN=path/to/sessioncast bash bench/send.sh   # a given binary
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-5000}
PORT=${PORT:-18765}
OUT=bench/out
mkdir -p "$OUT"
if [ -z "${BIN:-}" ]; then
  cargo build --release --quiet
  BIN=${CARGO_TARGET_DIR:-target}/release/sessioncast
fi

source bench/lib.sh
send_campaign "$N" "$OUT" send "$PORT"

export BENCH_TOKEN=bench-token-not-secret
$BIN sandbox --port "$PORT" --rate 1000/1s --delay 50ms --headers note --token-env BENCH_TOKEN >/dev/null 2>&1 &
SANDBOX=$!
trap 'kill $SANDBOX 2>/dev/null || true' EXIT
wait_for_sandbox "$PORT"

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
