# Shared by the send benchmarks (source it): a campaign of N text messages at 1000/1s to a local
# sandbox, and a wait for that sandbox to answer.

# send_campaign N DIR NAME PORT: writes DIR/NAME.yaml and DIR/NAME-recipients.csv (N recipients,
# one templated text message each, sent to http://127.0.0.1:PORT with the token in BENCH_TOKEN).
send_campaign() {
  local n=$1 dir=$2 name=$3 port=$4
  python3 - "$n" "$dir/$name-recipients.csv" <<'PY'
import sys
n, path = int(sys.argv[1]), sys.argv[2]
with open(path, "w") as f:
    f.write("to,last_inbound_at,name\n")
    for i in range(n):
        f.write(f"+1415{3000000 + i:07d},1h ago,Name{i}\n")
PY
  cat > "$dir/$name.yaml" <<YAML
version: 1
name: bench-$name
provider: { kind: cloud_api, base_url: "http://127.0.0.1:$port", token_env: BENCH_TOKEN, phone_number_id: "42" }
rate: 1000/1s
recipients: { file: $name-recipients.csv }
messages:
  - { type: text, body: "Hi {{ name }}, your order has shipped." }
YAML
}

# rate_case DIR NAME PORT RATE LIMIT WINDOW SECS FIRST: writes DIR/r.csv with enough recipients
# for about SECS seconds at the slower of RATE and the server's LIMIT per WINDOW seconds (numbers
# from +1415FIRST), and DIR/c.yaml sending one text each to http://127.0.0.1:PORT at RATE.
rate_case() {
  local dir=$1 name=$2 port=$3 rate=$4 limit=$5 window=$6 secs=$7 first=$8 n
  n=$(python3 -c "
d, w = '$rate'.split('/'); d, w = int(d), float(w.rstrip('s'))
print(int(min(d / w, $limit / $window) * $secs) + 1)")
  python3 - "$n" "$dir/r.csv" "$first" <<'PY'
import sys
n, path, first = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
with open(path, "w") as f:
    f.write("to,last_inbound_at\n")
    for i in range(n):
        f.write(f"+1415{first + i:07d},1h ago\n")
PY
  cat > "$dir/c.yaml" <<YAML
version: 1
name: $name
provider: { kind: cloud_api, base_url: "http://127.0.0.1:$port", token_env: BENCH_TOKEN, phone_number_id: "42" }
rate: $rate
recipients: { file: r.csv }
messages:
  - { type: text, body: "Hello" }
YAML
}

# case_secs RATE DECLARED SECS: a case's length, from SECS (one number, or one per declared rate
# in DECLARED); a RATE not in DECLARED takes the first.
case_secs() {
  local rate=$1 i=0 d
  local -a declared secs
  read -ra declared <<<"$2"
  read -ra secs <<<"$3"
  for d in "${declared[@]}"; do
    if [ "$d" = "$rate" ]; then break; fi
    i=$((i + 1))
  done
  [ "$i" -lt "${#declared[@]}" ] || i=0
  echo "${secs[$i]:-${secs[0]}}"
}

# wait_for_sandbox PORT: until its stats answer (at most 5 s).
wait_for_sandbox() {
  for _ in $(seq 50); do
    python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$1/_sandbox/stats')" 2>/dev/null && return 0
    sleep 0.1
  done
}
