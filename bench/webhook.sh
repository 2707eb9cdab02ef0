#!/usr/bin/env bash
# Benchmark: `sessioncast webhook --listen` storing signed Cloud API status webhooks, each fsynced
# before its 200. Prints stored POSTs per second for THREADS concurrent senders (each on its own
# keep-alive connection) and for one sequential sender. Not a test.
#
#   bash bench/webhook.sh                   # 4,000 POSTs, 16 senders, release build
#   PROFILE=debug N=2000 bash bench/webhook.sh
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-4000}
THREADS=${THREADS:-16}
PORT=${PORT:-18766}
PROFILE=${PROFILE:-release}
OUT=bench/out
mkdir -p "$OUT"
if [ "$PROFILE" = release ]; then cargo build --release --quiet; else cargo build --quiet; fi
BIN=${CARGO_TARGET_DIR:-target}/$PROFILE/sessioncast

rm -f "$OUT/webhook.jsonl"
WHATSAPP_APP_SECRET=bench-secret-not-secret $BIN webhook --listen "127.0.0.1:$PORT" \
    --log "$OUT/webhook.jsonl" >/dev/null 2>&1 &
RECEIVER=$!
trap 'kill $RECEIVER 2>/dev/null || true' EXIT

python3 - "$PORT" "$N" "$THREADS" <<'PY'
import hashlib, hmac, http.client, sys, threading, time

port, n, threads = (int(a) for a in sys.argv[1:])
body = ('{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages",'
        '"value":{"messaging_product":"whatsapp","statuses":[{"id":"wamid.%d","status":"delivered",'
        '"timestamp":"1764300000","recipient_id":"15551234567"}]}}]}]}')

for _ in range(100):  # wait for the receiver to listen
    try:
        http.client.HTTPConnection("127.0.0.1", port, timeout=1).connect()
        break
    except OSError:
        time.sleep(0.05)

def sender(first, count, stored):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    ok = 0
    for i in range(first, first + count):
        b = (body % i).encode()
        sig = "sha256=" + hmac.new(b"bench-secret-not-secret", b, hashlib.sha256).hexdigest()
        c.request("POST", "/webhook", b, {"Content-Type": "application/json", "X-Hub-Signature-256": sig})
        r = c.getresponse()
        r.read()
        ok += r.status == 200
    stored.append(ok)

def run(senders, total, offset):
    stored, per = [], total // senders
    t0 = time.perf_counter()
    ts = [threading.Thread(target=sender, args=(offset + k * per, per, stored)) for k in range(senders)]
    for t in ts: t.start()
    for t in ts: t.join()
    dt = time.perf_counter() - t0
    print(f"{senders:>3} senders: {sum(stored)} of {per * senders} stored in {dt:.2f} s = {sum(stored) / dt:,.0f} POSTs/s")

run(threads, n, 0)
run(1, n // 4, n)
PY
wc -l < "$OUT/webhook.jsonl" | xargs echo "lines in the log:"
