#!/usr/bin/env bash
# Benchmark: `sessioncast ingest` of 1,000,000 status events (E, default) against a ledger of
# 500,000 messages (M). The ledger is made by the tool itself (a `--sandbox` run of one recipient
# creates the file with its own schema), then filled with SQL inserts of `unknown` rows in that
# schema: a sandbox run of 500,000 messages would take far longer and measure the sender, not
# ingest. Each message gets `sent` then `delivered` (or `read`), keyed by its send key, one
# Cloud API POST body per line. Prints wall time, events/s and peak RSS (bench/measure.py, RUNS=1:
# a second ingest of the same file is all duplicates, a different workload). Not a test.
#
#   bash bench/ingest.sh
#   M=50000 E=100000 bash bench/ingest.sh
set -euo pipefail
cd "$(dirname "$0")/.."
M=${M:-500000}
E=${E:-1000000}
OUT=bench/out/ingest
mkdir -p "$OUT"
[ -n "${BIN:-}" ] || { cargo build --release --quiet; BIN=${CARGO_TARGET_DIR:-target}/release/sessioncast; }
cat > "$OUT/ingest.yaml" <<YAML
version: 1
name: bench-ingest
provider: { kind: cloud_api, base_url: "http://127.0.0.1:9", token_env: BENCH_TOKEN, phone_number_id: "42" }
rate: 1000/1s
recipients:
  - { to: "+14155550100", last_inbound_at: 1h ago }
messages:
  - { type: text, body: "Hi" }
YAML
rm -f "$OUT/ledger.db"*
$BIN run "$OUT/ingest.yaml" --sandbox --state "$OUT/ledger.db" --quiet >/dev/null 2>&1
python3 - "$M" "$E" "$OUT" <<'PY'
import json, sqlite3, sys, time
m, e, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
h = 0xcbf29ce484222325
for b in b"bench-ingest":
    h = ((h ^ b) * 0x100000001b3) & 0xffffffffffffffff
prefix = "%012x-" % (h >> 16)
db = sqlite3.connect(f"{out}/ledger.db")
db.execute("DELETE FROM deliveries")
now = int(time.time() * 1000)
db.executemany(
    "INSERT INTO deliveries (recipient, message_index, state, payload, deadline, reason, attempts, planned_at, attempted_at, finished_at) VALUES (?, 0, 'unknown', '{}', ?, 'timeout', 1, ?, ?, ?)",
    ((f"+1415{3000000 + i:07d}", now + 86400000, now, now, now) for i in range(m)))
db.commit()
db.close()
with open(f"{out}/events.jsonl", "w") as f:
    for n in range(e):
        i, second = n % m, n // m
        step = "sent" if second == 0 else ("read" if i % 3 == 0 else "delivered")
        to = f"1415{3000000 + i:07d}"
        s = {"id": f"wamid.BENCH{i:07d}", "status": step, "timestamp": str(1764400000 + n),
             "recipient_id": to, "biz_opaque_callback_data": f"{prefix}{to}-0"}
        f.write(json.dumps({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [
            {"field": "messages", "value": {"messaging_product": "whatsapp", "statuses": [s]}}]}]},
            separators=(",", ":")) + "\n")
PY
RUNS=1 python3 bench/measure.py ingest "$OUT/summary.txt" -- \
  "$BIN" ingest "$OUT/ingest.yaml" "$OUT/events.jsonl" --state "$OUT/ledger.db" --format json \
  | python3 -c "
import json, sys
r = json.loads(sys.stdin.read()); s = json.load(open('$OUT/summary.txt'))
r['events'] = s['events']; r['applied'] = s['applied']; r['unknown_to_sent'] = s['transitions'].get('unknown->sent', 0)
r['events_per_s'] = round(s['events'] / r['wall_s'])
print(json.dumps(r))"
