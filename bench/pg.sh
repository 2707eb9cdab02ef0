#!/usr/bin/env bash
# Benchmark: the PostgreSQL ledger at `1000/1s`. Not a test.
#
# 1. Throughput: RUNS runs (default 3) of N messages (default 5,000) at 1000/1s to the sandbox
#    answering after DELAY (default 0ms), each with a fresh database on the server of
#    SESSIONCAST_TEST_PG (synchronous_commit as the server has it: on by default; printed).
#    Per run: messages/s (sent / elapsed), the sandbox's 429 and duplicate counts, and commits per
#    message: the database's `pg_stat_database.xact_commit` before and after the run (every
#    committed transaction of the runner, its reads included) divided by the messages sent.
# 2. Failover: FAILOVERS times (default 3), a runner sends a campaign at 1000/1s while a second
#    one waits with `--standby`; after 1.5 s the holder is SIGKILLed, and the failover time is
#    from the kill to the next request the sandbox receives (from its delivery log, ignoring the
#    killed runner's last requests, which arrive within milliseconds).
# Medians at the end. Release build.
#
#   source scripts/pg-test-setup.sh && bash bench/pg.sh
#   N=20000 RUNS=5 bash bench/pg.sh
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-5000}
RUNS=${RUNS:-3}
FAILOVERS=${FAILOVERS:-3}
DELAY=${DELAY:-0ms}
PORT=${PORT:-18767}
OUT=bench/out/pg
mkdir -p "$OUT"
if [ -z "${SESSIONCAST_TEST_PG:-}" ]; then
  echo "SESSIONCAST_TEST_PG is not set: source scripts/pg-test-setup.sh first" >&2
  exit 2
fi
cargo build --release --quiet
BIN=${CARGO_TARGET_DIR:-target}/release/sessioncast

# psql gets the server from PG* variables: the password stays out of argv (and `ps`).
eval "$(python3 - <<'PY'
import os, shlex, urllib.parse
u = urllib.parse.urlsplit(os.environ["SESSIONCAST_TEST_PG"])
for k, v in [("PGHOST", u.hostname or "127.0.0.1"), ("PGPORT", str(u.port or 5432)),
             ("PGUSER", urllib.parse.unquote(u.username or "")),
             ("PGPASSWORD", urllib.parse.unquote(u.password or "")),
             ("PGDATABASE", u.path.lstrip("/") or "postgres")]:
    print(f"export {k}={shlex.quote(v)}")
PY
)"
# bench_url DB: the server's URL with the database DB.
bench_url() {
  python3 - "$1" <<'PY'
import os, sys, urllib.parse
u = urllib.parse.urlsplit(os.environ["SESSIONCAST_TEST_PG"])
print(urllib.parse.urlunsplit(u._replace(path="/" + sys.argv[1])))
PY
}
sql() { psql -X -Atq -v ON_ERROR_STOP=1 -c "$1"; }
commits() { sql "SELECT xact_commit FROM pg_stat_database WHERE datname = '$1'"; }

source bench/lib.sh
export BENCH_TOKEN=bench-token-not-secret
SANDBOX=
KIDS=()
DB=
cleanup() {
  [ -n "$SANDBOX" ] && kill "$SANDBOX" 2>/dev/null || true
  for k in "${KIDS[@]}"; do kill -9 "$k" 2>/dev/null || true; done
  [ -n "$DB" ] && sql "DROP DATABASE IF EXISTS $DB WITH (FORCE)" || true
}
trap cleanup EXIT

start_sandbox() {
  rm -f "$OUT/delivered.jsonl"
  $BIN sandbox --port "$PORT" --rate 1000/1s --headers note --delay "$DELAY" \
    --token-env BENCH_TOKEN --log "$OUT/delivered.jsonl" >/dev/null 2>&1 &
  SANDBOX=$!
  wait_for_sandbox "$PORT"
}
stop_sandbox() {
  kill "$SANDBOX" 2>/dev/null || true
  wait "$SANDBOX" 2>/dev/null || true
  SANDBOX=
}
fresh_db() {
  DB="bench_pg_$$_$1"
  sql "DROP DATABASE IF EXISTS $DB WITH (FORCE)"
  sql "CREATE DATABASE $DB"
  SESSIONCAST_STATE=$(bench_url "$DB")
  export SESSIONCAST_STATE
}
drop_db() {
  sql "DROP DATABASE IF EXISTS $DB WITH (FORCE)"
  DB=
}

echo "{\"synchronous_commit\": \"$(sql 'SHOW synchronous_commit')\", \"server\": \"$(sql 'SHOW server_version')\"}"
send_campaign "$N" "$OUT" pg "$PORT"
results=()
for run in $(seq "$RUNS"); do
  start_sandbox
  fresh_db "$run"
  # Statistics reach pg_stat_database within a second of a transaction's end.
  sleep 1.5
  before=$(commits "$DB")
  $BIN run "$OUT/pg.yaml" --format json --quiet > "$OUT/summary.json" || true
  sleep 1.5
  after=$(commits "$DB")
  line=$(python3 - "$OUT/summary.json" "$PORT" "$run" "$before" "$after" <<'PY'
import json, sys, urllib.request
summary = json.load(open(sys.argv[1]))
stats = json.load(urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[2]}/_sandbox/stats"))
before, after = int(sys.argv[4]), int(sys.argv[5])
sent = summary["sent"]
print(json.dumps({
    "run": int(sys.argv[3]),
    "messages": sent,
    "elapsed_s": summary["elapsed_s"],
    "messages_per_s": round(sent / summary["elapsed_s"], 1),
    "throttled_429": stats["rejected_rate"],
    "duplicates": stats["duplicates"],
    # The `before` reading is itself a committed transaction; the `after` one is not yet counted.
    "commits": after - before - 1,
    "commits_per_message": round((after - before - 1) / max(sent, 1), 3),
    "ledger": summary.get("ledger"),
}))
PY
)
  echo "$line"
  results+=("$line")
  drop_db
  stop_sandbox
done

# Failover: holder and standby on one campaign; the holder killed mid-run.
FN=3000
send_campaign "$FN" "$OUT" failover "$PORT"
failovers=()
for run in $(seq "$FAILOVERS"); do
  start_sandbox
  fresh_db "f$run"
  $BIN run "$OUT/failover.yaml" --quiet >"$OUT/holder.out" 2>"$OUT/holder.err" &
  holder=$!
  KIDS=("$holder")
  sleep 0.5
  $BIN run "$OUT/failover.yaml" --standby --quiet >"$OUT/standby.out" 2>"$OUT/standby.err" &
  standby=$!
  KIDS+=("$standby")
  sleep 1.5
  killed_at=$(date +%s.%N)
  kill -9 "$holder"
  wait "$standby" || true
  wait "$holder" 2>/dev/null || true
  KIDS=()
  line=$(python3 - "$OUT/delivered.jsonl" "$killed_at" "$run" "$OUT/standby.err" <<'PY'
import datetime, json, re, sys
killed = float(sys.argv[2])
def ts(s):
    # RFC 3339 with up to nanoseconds; Python keeps microseconds.
    s = re.sub(r"(\.\d{6})\d*", r"\1", s).replace("Z", "+00:00")
    return datetime.datetime.fromisoformat(s).timestamp()
times = sorted(ts(json.loads(l)["time"]) for l in open(sys.argv[1]) if l.strip())
before = [t for t in times if t <= killed]
after = [t for t in times if t > killed + 0.03]
took = re.search(r"took over sender \S+ after ([0-9.]+) ?s", open(sys.argv[4]).read())
print(json.dumps({
    "failover": int(sys.argv[3]),
    "sent_before_kill": len(before),
    "failover_ms": round(1000 * (after[0] - killed), 1) if after else None,
    "standby_logged_s": float(took.group(1)) if took else None,
    "received_total": len(times),
}))
PY
)
  echo "$line"
  failovers+=("$line")
  drop_db
  stop_sandbox
done

{ printf '%s\n' "${results[@]}"; printf '%s\n' "${failovers[@]}"; } | python3 -c '
import json, statistics, sys
rows = [json.loads(l) for l in sys.stdin if l.strip()]
runs = [r for r in rows if "run" in r]
fo = [r["failover_ms"] for r in rows if r.get("failover_ms") is not None]
rate = [r["messages_per_s"] for r in runs]
cpm = [r["commits_per_message"] for r in runs]
print(json.dumps({
    "label": "pg-1000/1s",
    "runs": len(runs),
    "messages_per_s_median": statistics.median(rate),
    "messages_per_s_range": [min(rate), max(rate)],
    "commits_per_message_median": statistics.median(cpm),
    "throttled_429_total": sum(r["throttled_429"] for r in runs),
    "duplicates_total": sum(r["duplicates"] for r in runs),
    "failover_ms_median": statistics.median(fo) if fo else None,
    "failover_ms_range": [min(fo), max(fo)] if fo else None,
}))'
