#!/usr/bin/env bash
# Benchmark: closed-loop pacing against every sandbox limiter kind, with a declared rate equal
# to, above and below the server's. Prints one JSON line per case:
#   pace_ratio   — the server's own optimum time for the messages delivered ÷ the time taken
#                  (1.0 = as fast as the server admits; with a declared rate below the server's,
#                  the optimum is the declared rate's)
#   steady_ratio — the same over the second half of the deliveries (after learning)
#   after_429    — from the client's first 429 on (its answer time in the `-v` log): the m
#                  messages delivered after it at the server's sustained rate, m·W/L, ÷ the
#                  time from that 429 to the last delivery; null when nothing was refused
#   throttled_429, duplicates — as counted by the sandbox
# Scaled-down windows (1-5 s). A case with headers runs about 12 s. A case that learns its pace
# by probing (no headers, or headers that overstate the limit) runs about 60 s, and the rate
# estimate under a declared rate 2.5 times its own 300 s (150 of its windows; a day under the
# provider's 2/300s is 288): the search takes the first ~10-20 s of any run, and the figure
# after the first 429 is meant to measure the pace it converges on (even a client that knew the
# server's state would reach only 0.95 of that estimate's pace over 12 s; see
# `report_rate_estimate_ceiling`). 22 cases: about 17 minutes. Not a test.
#
#   bash bench/pacing.sh                 # release build
#   PROFILE=debug bash bench/pacing.sh   # the debug build (pacing does not depend on CPU speed)
#   ONLY=leaky bash bench/pacing.sh      # one kind
#   SECS=60 ONLY=estimate bash bench/pacing.sh   # every case this long (default: per case)
#   SECS=300 ONLY=estimate RATES=10/1s bash bench/pacing.sh   # one declared rate (any rate)
#   BIN=path/to/sessioncast PORT=18776 bash bench/pacing.sh   # a given binary, another port
set -euo pipefail
cd "$(dirname "$0")/.."
PROFILE=${PROFILE:-release}
PORT=${PORT:-18775}
OUT=bench/out/pacing
mkdir -p "$OUT"
if [ -z "${BIN:-}" ]; then
  if [ "$PROFILE" = release ]; then cargo build --release --quiet; else cargo build --quiet; fi
  BIN=${CARGO_TARGET_DIR:-target}/$PROFILE/sessioncast
fi
export BENCH_TOKEN=bench-token-not-secret
# shellcheck source=bench/lib.sh
source bench/lib.sh

# HAProxy's rate estimate (prev·(W−elapsed)/W + cur ≤ L) admits a first burst of L, then one
# per W/L: the same (n−1)·W/L as a smooth stream, so its optimum shape is `smooth`.
# kind | sandbox options | server's real rate (limit/window s) | optimum shape | seconds (one, or
# one per declared rate) | declared: equal above below
CASES=(
  "anchored-5s|--window-mode anchored --headers note --rate 4/5s|4 5|window|12|4/5s"
  "anchored|--window-mode anchored --headers note --rate 4/2s|4 2|window|12|4/2s 10/1s 2/2s"
  "aligned|--window-mode aligned --headers draft7 --rate 4/2s|4 2|window|12|4/2s 10/1s 2/2s"
  "sliding|--window-mode sliding --headers draft10 --rate 4/2s|4 2|window|12|4/2s 10/1s 2/2s"
  "bucket|--window-mode bucket --headers x-ratelimit --rate 4/2s|4 2|bucket|12|4/2s 10/1s 2/2s"
  "leaky|--window-mode leaky --rate 4/1s|4 1|smooth|60|4/1s 10/1s 2/1s"
  "estimate|--window-mode estimate --rate 4/2s|4 2|smooth|60 300 60|4/2s 10/1s 2/2s"
  "lying-headers|--window-mode anchored --headers note --rate 4/2s --real-rate 3/2s|3 2|window|60|4/2s 10/1s 2/2s"
)

for case in "${CASES[@]}"; do
  IFS='|' read -r kind opts real shape secs_list declared <<<"$case"
  if [ -n "${ONLY:-}" ] && [ "$ONLY" != "$kind" ]; then continue; fi
  read -r limit window <<<"$real"
  for rate in ${RATES:-$declared}; do
    dir="$OUT/$kind-${rate//\//-}"
    rm -rf "$dir" && mkdir -p "$dir"
    # Enough messages for about that many seconds at the slower of the two rates.
    rate_case "$dir" "pacing-$kind" "$PORT" "$rate" "$limit" "$window" "${SECS:-$(case_secs "$rate" "$declared" "$secs_list")}" 4000000
    # shellcheck disable=SC2086
    $BIN sandbox --port "$PORT" $opts --token-env BENCH_TOKEN --log "$dir/delivered.jsonl" >/dev/null 2>&1 &
    sandbox=$!
    wait_for_sandbox "$PORT"
    $BIN -v run "$dir/c.yaml" --format json --quiet >"$dir/summary.json" 2>"$dir/stderr.log" || true
    python3 bench/pace_report.py "$dir" "http://127.0.0.1:$PORT/_sandbox/stats" "$kind" "$rate" "$limit" "$window" "$shape"
    kill "$sandbox" 2>/dev/null || true
    wait "$sandbox" 2>/dev/null || true
  done
done
