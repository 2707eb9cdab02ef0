#!/usr/bin/env bash
# Benchmark: closed-loop pacing against real, independent rate limiters on 127.0.0.1, each in
# front of an unlimited sandbox (which logs what it received, so duplicates are counted at the
# backend):
#   nginx        limit_req 2r/s, no burst, no headers, 429
#   haproxy      stick-table http_req_rate(5s), deny 429 when > 4, no headers
#   express-7    express-rate-limit, 4 per 2 s, standardHeaders 'draft-7'
#   express-6    the same with standardHeaders 'draft-6'
# Each with a declared rate equal to and above the limiter's. Prints one JSON line per case with
# the same fields as bench/pacing.sh (429s as the client saw them). Installs what is missing
# (apt-get nginx haproxy; npm express express-rate-limit into a temporary folder). Needs root
# for apt-get and network to the package registries; not part of `cargo test` or CI. express
# runs about 12 s a case; the header-less limiters, whose pace is found by probing, 60 s, and
# HAProxy under a declared rate 2.5 times its own 300 s (see bench/pacing.sh). About 11 minutes.
#
#   bash bench/limiters.sh                  # release build
#   PROFILE=debug bash bench/limiters.sh
#   ONLY=nginx bash bench/limiters.sh       # one limiter
#   SECS=60 ONLY=haproxy bash bench/limiters.sh   # every case this long (default: per case)
#   SECS=300 ONLY=haproxy RATES=10/1s bash bench/limiters.sh   # one declared rate (any rate)
#   BIN=path/to/sessioncast bash bench/limiters.sh   # a given binary, not built here
set -euo pipefail
cd "$(dirname "$0")/.."
PROFILE=${PROFILE:-release}
BACKEND=${BACKEND:-18790}
FRONT=${FRONT:-18791}
OUT=bench/out/limiters
mkdir -p "$OUT"
if [ -z "${BIN:-}" ]; then
  if [ "$PROFILE" = release ]; then cargo build --release --quiet; else cargo build --quiet; fi
  BIN=$(pwd)/${CARGO_TARGET_DIR:-target}/$PROFILE/sessioncast
fi
export BENCH_TOKEN=bench-token-not-secret
source bench/lib.sh

# Installs, only when missing.
if ! command -v nginx >/dev/null || ! command -v haproxy >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx haproxy >/dev/null
fi
NODE_DIR=${NODE_DIR:-/tmp/sessioncast-limiters-npm}
if [ ! -d "$NODE_DIR/node_modules/express-rate-limit" ]; then
  mkdir -p "$NODE_DIR"
  (cd "$NODE_DIR" && npm init -y >/dev/null && npm install --no-audit --no-fund express express-rate-limit >/dev/null)
fi

# start_limiter KIND DIR: starts the limiter on $FRONT forwarding to the sandbox on $BACKEND;
# sets $limiter to its pid.
start_limiter() {
  local kind=$1 dir=$2
  case $kind in
    nginx)
      mkdir -p "$dir/nginx/logs"
      cat >"$dir/nginx/nginx.conf" <<CONF
worker_processes 1;
pid $dir/nginx/nginx.pid;
error_log $dir/nginx/logs/error.log warn;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path $dir/nginx/body;
  proxy_temp_path $dir/nginx/proxy;
  fastcgi_temp_path $dir/nginx/fastcgi;
  uwsgi_temp_path $dir/nginx/uwsgi;
  scgi_temp_path $dir/nginx/scgi;
  limit_req_zone \$binary_remote_addr zone=api:1m rate=2r/s;
  server {
    listen 127.0.0.1:$FRONT;
    location / {
      limit_req zone=api;
      limit_req_status 429;
      proxy_pass http://127.0.0.1:$BACKEND;
    }
  }
}
CONF
      nginx -p "$dir/nginx" -c "$dir/nginx/nginx.conf" -g 'daemon off;' 2>"$dir/limiter.log" &
      ;;
    haproxy)
      cat >"$dir/haproxy.cfg" <<CONF
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
frontend api
  bind 127.0.0.1:$FRONT
  stick-table type ip size 100k expire 30s store http_req_rate(5s)
  http-request track-sc0 src
  http-request deny deny_status 429 if { sc_http_req_rate(0) gt 4 }
  default_backend sandbox
backend sandbox
  server s1 127.0.0.1:$BACKEND
CONF
      haproxy -db -f "$dir/haproxy.cfg" 2>"$dir/limiter.log" &
      ;;
    express-7 | express-6)
      cat >"$dir/limiter.js" <<JS
const express = require("express");
const { rateLimit } = require("express-rate-limit");
const app = express();
app.use(rateLimit({ windowMs: 2000, limit: 4, standardHeaders: "draft-${kind#express-}", legacyHeaders: false }));
app.use(express.text({ type: "*/*" }));
app.use(async (req, res) => {
  const r = await fetch("http://127.0.0.1:$BACKEND" + req.originalUrl, {
    method: req.method,
    headers: { "content-type": "application/json", authorization: req.get("authorization") || "" },
    body: req.body,
  });
  res.status(r.status).type("application/json").send(await r.text());
});
app.listen($FRONT, "127.0.0.1");
JS
      NODE_PATH="$NODE_DIR/node_modules" node "$dir/limiter.js" 2>"$dir/limiter.log" &
      ;;
  esac
  limiter=$!
  for _ in $(seq 50); do
    python3 -c "import socket; socket.create_connection(('127.0.0.1', $FRONT), 0.2)" 2>/dev/null && return 0
    sleep 0.1
  done
}

# HAProxy's rate estimate (prev·(W−elapsed)/W + cur ≤ L) admits a first burst of L, then one
# per W/L: the same (n−1)·W/L as a smooth stream, so its optimum shape is `smooth`.
# kind | server's real rate (limit window_s) | optimum shape | seconds (one, or one per declared
# rate) | declared: equal above
CASES=(
  "nginx|2 1|smooth|60|2/1s 10/1s"
  "haproxy|4 5|smooth|60 300|4/5s 10/1s"
  "express-7|4 2|window|12|4/2s 10/1s"
  "express-6|4 2|window|12|4/2s 10/1s"
)

for case in "${CASES[@]}"; do
  IFS='|' read -r kind real shape secs_list declared <<<"$case"
  if [ -n "${ONLY:-}" ] && [ "$ONLY" != "$kind" ]; then continue; fi
  read -r limit window <<<"$real"
  for rate in ${RATES:-$declared}; do
    dir="$(pwd)/$OUT/$kind-${rate//\//-}"
    rm -rf "$dir" && mkdir -p "$dir"
    rate_case "$dir" "limiters-$kind" "$FRONT" "$rate" "$limit" "$window" "${SECS:-$(case_secs "$rate" "$declared" "$secs_list")}" 5000000
    $BIN sandbox --port "$BACKEND" --token-env BENCH_TOKEN --log "$dir/delivered.jsonl" >/dev/null 2>&1 &
    sandbox=$!
    wait_for_sandbox "$BACKEND"
    start_limiter "$kind" "$dir"
    $BIN -v run "$dir/c.yaml" --format json --quiet >"$dir/summary.json" 2>"$dir/stderr.log" || true
    python3 bench/pace_report.py "$dir" "http://127.0.0.1:$BACKEND/_sandbox/stats" "$kind" "$rate" "$limit" "$window" "$shape"
    kill "$limiter" "$sandbox" 2>/dev/null || true
    wait "$limiter" "$sandbox" 2>/dev/null || true
  done
done
