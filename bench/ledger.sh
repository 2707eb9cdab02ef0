#!/usr/bin/env bash
# Benchmark: what the ledger costs at `1000/1s`. Real sends of N messages (default 5,000) to the
# sandbox answering at once, with the ledger at its default place on disk (synchronous=FULL: an
# fsync per commit). Prints, per run, messages/s achieved, the sandbox's 429 and duplicate counts,
# and the ledger writer's own figures: transitions, commits (group commits batch what arrives
# together) and the time it spent in SQLite per message sent. Then the median over RUNS (default 3).
# Not a test.
#
#   bash bench/ledger.sh
#   N=20000 RUNS=5 bash bench/ledger.sh
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-5000}
RUNS=${RUNS:-3}
PORT=${PORT:-18766}
OUT=bench/out/ledger
mkdir -p "$OUT"
cargo build --release --quiet
BIN=${CARGO_TARGET_DIR:-target}/release/sessioncast

source bench/lib.sh
send_campaign "$N" "$OUT" ledger "$PORT"

export BENCH_TOKEN=bench-token-not-secret
SANDBOX=
trap '[ -n "$SANDBOX" ] && kill $SANDBOX 2>/dev/null || true' EXIT
results=()
for run in $(seq "$RUNS"); do
  # A fresh sandbox (its duplicate count is per process) and a fresh ledger for every run.
  $BIN sandbox --port "$PORT" --rate 1000/1s --headers note --token-env BENCH_TOKEN >/dev/null 2>&1 &
  SANDBOX=$!
  wait_for_sandbox "$PORT"
  rm -rf "$OUT/.sessioncast"
  $BIN run "$OUT/ledger.yaml" --format json --quiet > "$OUT/summary.json" || true
  line=$(python3 - "$OUT/summary.json" "$PORT" "$run" <<'PY'
import json, sys, urllib.request
summary = json.load(open(sys.argv[1]))
stats = json.load(urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[2]}/_sandbox/stats"))
ledger = summary["ledger"]
print(json.dumps({
    "run": int(sys.argv[3]),
    "messages": summary["sent"],
    "elapsed_s": summary["elapsed_s"],
    "messages_per_s": round(summary["sent"] / summary["elapsed_s"], 1),
    "throttled_429": stats["rejected_rate"],
    "duplicates": stats["duplicates"],
    "ledger_transitions": ledger["transitions"],
    "ledger_commits": ledger["commits"],
    "ledger_ms_per_message": round(1000 * ledger["busy_s"] / max(summary["sent"], 1), 3),
}))
PY
)
  echo "$line"
  results+=("$line")
  kill $SANDBOX 2>/dev/null || true
  wait $SANDBOX 2>/dev/null || true
  SANDBOX=
done
printf '%s\n' "${results[@]}" | python3 -c '
import json, statistics, sys
rows = [json.loads(l) for l in sys.stdin if l.strip()]
rate = [r["messages_per_s"] for r in rows]
cost = [r["ledger_ms_per_message"] for r in rows]
print(json.dumps({
    "label": "ledger-1000/1s-no-delay",
    "runs": len(rows),
    "messages_per_s_median": statistics.median(rate),
    "messages_per_s_range": [min(rate), max(rate)],
    "ledger_ms_per_message_median": statistics.median(cost),
    "throttled_429_total": sum(r["throttled_429"] for r in rows),
    "duplicates_total": sum(r["duplicates"] for r in rows),
}))'
