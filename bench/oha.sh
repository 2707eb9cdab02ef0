#!/usr/bin/env bash
# Benchmark: sessioncast's raw send rate against the sandbox, compared with oha
# (https://github.com/hatoo/oha, `cargo install oha`) posting the same body to the same endpoint.
#
# Both sides send N requests to a local `sessioncast sandbox` with no quota (no --rate), no
# answer delay and a required bearer token:
#   - sessioncast: `run --format json --quiet` on a campaign of N recipients, one text message
#     each, declared rate 100000/1s so pacing is never the limit; at that rate the tool keeps its
#     maximum of 256 requests in flight (execute::in_flight). Figure: sent / elapsed_s.
#   - oha: the body, URL and headers of the tool's first request (from `run --dry-run --format
#     json`, token filled in), N times with 256 connections. Figure: oha's requestsPerSec.
#     The sandbox counts oha's repeats of one body to one recipient as duplicates: expected.
# The sandbox is restarted before every measurement, so its counters are per run; the sides
# alternate (tool, oha, tool, oha, ...) so machine noise falls on both. Each run must get N
# 2xx answers (the tool's summary and the sandbox's `accepted`; oha's status codes) or the
# script stops. Prints one JSON line per side (median and range over RUNS, plus CPU seconds of
# the client and of the sandbox, median) and a last line with the ratio tool / oha. The client
# and the sandbox share the machine, so both figures are bounded by its cores: by default
# (PIN=1, when `taskset` is there) the clients run on the first half of the CPUs this script
# may use and the sandbox on the other half (on 2 cores: client on one, sandbox on the other),
# so each side's CPU seconds show which process was the limit. PIN=0 lets them share. Not a test.
#
# Each side opens 256 connections at once. The sandbox listens with a backlog of 1024 for that
# reason: with the default (128) the accept queue overflows, the kernel drops connection attempts
# and the client retries them after 1 s, so the run would measure that timer rather than sending.
# As a guard the kernel's ListenOverflows counter (/proc/net/netstat) is read around every run; a
# run during which it moved is discarded and run again, up to ATTEMPTS (default 5) times in all.
# Per-run lines on stderr show every attempt; each side's line counts the discarded runs and the
# kept runs that still had overflows. The counter covers the whole network namespace, so other
# traffic on the machine can cause extra attempts.
#
#   bash bench/oha.sh                   # 20,000 requests per run, 3 runs per side
#   N=5000 RUNS=5 bash bench/oha.sh
#   PIN=0 bash bench/oha.sh             # no CPU pinning
#   OHA=/path/to/oha PORT=18800 ATTEMPTS=1 bash bench/oha.sh   # keep every run as it came
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-20000}
RUNS=${RUNS:-3}
ATTEMPTS=${ATTEMPTS:-5}
PIN=${PIN:-1}
PORT=${PORT:-18766}
OHA=${OHA:-oha}
CONCURRENCY=256 # the tool's in-flight cap at any rate of 512/s or more
OUT=bench/out
BIN=${CARGO_TARGET_DIR:-target}/release/sessioncast

if ! command -v "$OHA" >/dev/null; then
  echo "bench/oha.sh: \`$OHA\` not found; install it with \`cargo install oha\` or set OHA=/path/to/oha" >&2
  exit 2
fi
mkdir -p "$OUT"
cargo build --release --quiet
TMP=$(mktemp -d)
SANDBOX=
TIME=()
[ -x /usr/bin/time ] && TIME=(/usr/bin/time -f '%e %U %S' -o "$TMP/time")
CLIENT_CPUS=null
SANDBOX_CPUS=null
ON_CLIENT=()
ON_SANDBOX=()
if [ "$PIN" = 1 ] && command -v taskset >/dev/null; then
  read -r CLIENT_CPUS SANDBOX_CPUS < <(python3 -c '
import os
cpus = sorted(os.sched_getaffinity(0))
half = len(cpus) // 2
print(",".join(map(str, cpus[:half])) or "null", ",".join(map(str, cpus[half:])))')
  if [ "$CLIENT_CPUS" != null ]; then
    ON_CLIENT=(taskset -c "$CLIENT_CPUS")
    ON_SANDBOX=(taskset -c "$SANDBOX_CPUS")
  else
    SANDBOX_CPUS=null
  fi
fi

stop_sandbox() {
  if [ -n "$SANDBOX" ]; then
    kill -INT "$SANDBOX" 2>/dev/null || true
    wait "$SANDBOX" 2>/dev/null || true
    SANDBOX=
  fi
}
trap 'stop_sandbox; rm -rf "$TMP"' EXIT

python3 - "$N" "$OUT/oha-recipients.csv" "$OUT/oha-one.csv" <<'PY'
import sys
n, path, one = int(sys.argv[1]), sys.argv[2], sys.argv[3]
rows = [f"+1415{4000000 + i:07d},1h ago,Name{i}\n" for i in range(n)]
with open(path, "w") as f:
    f.write("to,last_inbound_at,name\n")
    f.writelines(rows)
with open(one, "w") as f:
    f.write("to,last_inbound_at,name\n" + rows[0])
PY
campaign() { # campaign FILE RECIPIENTS_CSV
  cat > "$1" <<YAML
version: 1
name: bench-oha
provider: { kind: cloud_api, base_url: "http://127.0.0.1:$PORT", token_env: BENCH_TOKEN, phone_number_id: "42" }
rate: 100000/1s
recipients: { file: $2 }
messages:
  - { type: text, body: "Hi {{ name }}, your order has shipped." }
YAML
}
campaign "$OUT/oha.yaml" oha-recipients.csv
campaign "$OUT/oha-one.yaml" oha-one.csv

export BENCH_TOKEN=bench-token-not-secret
# The tool's first request, byte for byte: serde_json's compact form of the dry run's body.
rm -rf "$OUT/.sessioncast"
"$BIN" run "$OUT/oha-one.yaml" --dry-run --format json > "$TMP/dry.json" 2>/dev/null
python3 - "$TMP/dry.json" "$TMP" "$BENCH_TOKEN" <<'PY'
import json, sys
dry, tmp, token = sys.argv[1], sys.argv[2], sys.argv[3]
[req] = [json.loads(line) for line in open(dry) if line.strip()]
assert req["method"] == "POST", req["method"]
with open(f"{tmp}/body.json", "w") as f:
    f.write(json.dumps(req["body"], separators=(",", ":"), ensure_ascii=False))
with open(f"{tmp}/url", "w") as f:
    f.write(req["url"])
with open(f"{tmp}/headers", "w") as f:
    for name, value in req["headers"].items():
        f.write(f"{name}: {value.replace('***', token)}\n")
PY
URL=$(cat "$TMP/url")
HEADERS=()
while IFS= read -r h; do HEADERS+=(-H "$h"); done < "$TMP/headers"

# The ledger (when `run` has one) would remember a finished campaign and send nothing again.
STATE=false
RUN_HELP=$("$BIN" run --help)
case $RUN_HELP in *--state*) STATE=true ;; esac

start_sandbox() {
  ${ON_SANDBOX[@]+"${ON_SANDBOX[@]}"} "$BIN" sandbox --port "$PORT" --token-env BENCH_TOKEN \
    >/dev/null 2>"$TMP/sandbox.err" &
  SANDBOX=$!
  for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$PORT/_sandbox/stats" >/dev/null && return 0
    kill -0 "$SANDBOX" 2>/dev/null || break
    sleep 0.1
  done
  echo "bench/oha.sh: the sandbox did not start on port $PORT:" >&2
  cat "$TMP/sandbox.err" >&2
  exit 1
}
sandbox_ticks() { # user + system clock ticks of the sandbox so far
  awk '{ print $14 + $15 }' "/proc/$SANDBOX/stat" 2>/dev/null || echo null
}
# Connections the kernel turned away because the sandbox's accept queue was full (backlog 128):
# the client's SYN is retried after 1 s, so a run that hits this takes about a second longer.
# The counter covers the whole network namespace: anything else running shows up in it too.
listen_overflows() {
  awk '/^TcpExt:/ { if (!c) { for (i = 1; i <= NF; i++) if ($i == "ListenOverflows") c = i } else print $c }' \
    /proc/net/netstat 2>/dev/null | grep . || echo null
}

# record SIDE RUN ATTEMPT RC FILE TICKS_BEFORE TICKS_AFTER OVERFLOWS_BEFORE OVERFLOWS_AFTER:
# checks that all N were answered 2xx and delivered (or exits 1), prints the run's JSON line on
# stderr and leaves it in $TMP/row.json.
record() {
  curl -sf "http://127.0.0.1:$PORT/_sandbox/stats" > "$TMP/stats.json"
  [ ${#TIME[@]} -gt 0 ] || : > "$TMP/time"
  python3 - "$@" "$N" "$TMP" "$(getconf CLK_TCK)" <<'PY'
import json, sys
side, run, attempt, rc, path, t0, t1, o0, o1, n, tmp, hz = sys.argv[1:]
n, hz = int(n), int(hz)
stats = json.load(open(f"{tmp}/stats.json"))
times = open(f"{tmp}/time").read().split()
client_cpu = round(float(times[-2]) + float(times[-1]), 2) if len(times) >= 3 else None
wall = float(times[-3]) if len(times) >= 3 else None
sandbox_cpu = round((int(t1) - int(t0)) / hz, 2) if "null" not in (t0, t1) else None
row = {"side": side, "run": int(run), "attempt": int(attempt),
       "sandbox_accepted": stats["accepted"], "sandbox_duplicates": stats["duplicates"],
       "client_wall_s": wall, "client_cpu_s": client_cpu, "sandbox_cpu_s": sandbox_cpu,
       "listen_overflows": int(o1) - int(o0) if "null" not in (o0, o1) else None}
problems = []
if rc != "0":
    problems.append(f"exit code {rc}")
if side == "sessioncast":
    s = json.load(open(path))
    row.update(sent=s["sent"], elapsed_s=s["elapsed_s"], per_s=round(s["sent"] / s["elapsed_s"], 1))
    if s["sent"] != n:
        problems.append(f"sent {s['sent']} of {n}: {s}")
else:
    o = json.load(open(path))
    codes = {str(k): v for k, v in o.get("statusCodeDistribution", {}).items()}
    ok = sum(v for k, v in codes.items() if k.startswith("2"))
    row.update(status_codes=codes, errors=o.get("errorDistribution", {}),
               elapsed_s=round(o["summary"]["total"], 3),
               slowest_s=round(o["summary"]["slowest"] or 0, 3),
               per_s=round(o["summary"]["requestsPerSec"], 1))
    if ok != n:
        problems.append(f"{ok} 2xx answers of {n}: codes {codes}, errors {row['errors']}")
if stats["accepted"] != n:
    problems.append(f"the sandbox accepted {stats['accepted']} of {n}: {stats}")
print(json.dumps(row), file=sys.stderr)
if problems:
    print(f"bench/oha.sh: {side} run {run}: " + "; ".join(problems), file=sys.stderr)
    sys.exit(1)
with open(f"{tmp}/row.json", "w") as f:
    f.write(json.dumps(row) + "\n")
PY
}

send_sessioncast() { # a fresh campaign: no delivery state left from an earlier run
  rm -rf "$OUT/.sessioncast"
  local state=()
  $STATE && state=(--state "$TMP/state-$1-$2.db")
  ${TIME[@]+"${TIME[@]}"} ${ON_CLIENT[@]+"${ON_CLIENT[@]}"} "$BIN" run "$OUT/oha.yaml" --format json --quiet ${state[@]+"${state[@]}"} \
    > "$TMP/sessioncast.json" 2> "$TMP/sessioncast.err"
}
send_oha() { # the same request N times, with as many connections as the tool has requests in flight
  ${TIME[@]+"${TIME[@]}"} ${ON_CLIENT[@]+"${ON_CLIENT[@]}"} "$OHA" --no-tui --output-format json -n "$N" -c "$CONCURRENCY" \
    -m POST "${HEADERS[@]}" -D "$TMP/body.json" "$URL" > "$TMP/oha.json" 2> "$TMP/oha.err"
}

# measure SIDE RUN: one run against a fresh sandbox, appended to $TMP/SIDE.jsonl. A run during
# which the accept queue overflowed measured the kernel's 1 s SYN retry, not sending: it is run
# again, up to ATTEMPTS times in all (the last attempt is kept whatever happened).
measure() {
  local side=$1 run=$2 attempt rc t0 t1 o0 o1
  for attempt in $(seq "$ATTEMPTS"); do
    start_sandbox
    t0=$(sandbox_ticks)
    o0=$(listen_overflows)
    rc=0
    "send_$side" "$run" "$attempt" || rc=$?
    t1=$(sandbox_ticks)
    o1=$(listen_overflows)
    [ "$rc" = 0 ] || cat "$TMP/$side.err" >&2
    record "$side" "$run" "$attempt" "$rc" "$TMP/$side.json" "$t0" "$t1" "$o0" "$o1"
    stop_sandbox
    if [ "$o0" = null ] || [ "$o1" = null ] || [ "$o0" = "$o1" ] || [ "$attempt" = "$ATTEMPTS" ]; then
      cat "$TMP/row.json" >> "$TMP/$side.jsonl"
      return
    fi
    echo "$side" >> "$TMP/discarded"
    echo "bench/oha.sh: $side run $run: the sandbox's accept queue overflowed $((o1 - o0)) times; running it again" >&2
  done
}

: > "$TMP/discarded"
for run in $(seq "$RUNS"); do
  measure sessioncast "$run"
  measure oha "$run"
done

python3 - "$TMP" "$N" "$CONCURRENCY" "$("$OHA" --version)" "$CLIENT_CPUS" "$SANDBOX_CPUS" <<'PY'
import json, statistics, sys
tmp, n, conc, oha, client_cpus, sandbox_cpus = sys.argv[1:]
n, conc = int(n), int(conc)
def med(rows, key):
    xs = [r[key] for r in rows if r[key] is not None]
    return round(statistics.median(xs), 2) if xs else None
medians = {}
discarded = open(f"{tmp}/discarded").read().split()
for side, unit in (("sessioncast", "messages/s"), ("oha", "requests/s")):
    rows = [json.loads(line) for line in open(f"{tmp}/{side}.jsonl")]
    per_s = [r["per_s"] for r in rows]
    medians[side] = statistics.median(per_s)
    print(json.dumps({
        "side": side, "unit": unit, "requests": n, "concurrency": conc, "runs": len(rows),
        "median": round(medians[side], 1), "min": min(per_s), "max": max(per_s), "each": per_s,
        "client_cpu_s_median": med(rows, "client_cpu_s"),
        "sandbox_cpu_s_median": med(rows, "sandbox_cpu_s"),
        "runs_with_listen_overflows": sum(1 for r in rows if r["listen_overflows"]),
        "runs_discarded": discarded.count(side),
    }))
print(json.dumps({
    "ratio_tool_over_oha": round(medians["sessioncast"] / medians["oha"], 3),
    "tool_messages_per_s": round(medians["sessioncast"], 1),
    "oha_requests_per_s": round(medians["oha"], 1),
    "oha": oha,
    "cpus": None if client_cpus == "null" else {"client": client_cpus, "sandbox": sandbox_cpus},
}))
PY
