#!/usr/bin/env bash
# The HTTP benchmark: in one run on this machine, with wrk and one fixed
# signed 352-byte event (bench/event.json), it measures
#   - nginx answering `return 200` with one worker: the ceiling for "an HTTP
#     server that does nothing";
#   - paradym-webhooksd verifying, normalizing, logging and fanning out every
#     event to one live gRPC subscriber (bench_subscriber, which checks that
#     it misses nothing);
# in alternating rounds, and prints the medians: requests/s, p50/p99
# latency, server CPU per request, and the ratios to nginx.
#
#   bench/run.sh                       # 3 rounds of 10 s at 50 connections
#   ROUNDS=5 DURATION=20 CONNECTIONS=100 bench/run.sh
#
# Everything talks to 127.0.0.1 only. Needs root (or sudo) once, to install
# wrk and nginx.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS="${ROUNDS:-3}"
DURATION="${DURATION:-10}"
WARMUP="${WARMUP:-2}"
CONNECTIONS="${CONNECTIONS:-50}"
HTTP_THREADS="${HTTP_THREADS:-0}"

need=()
command -v wrk >/dev/null || need+=(wrk)
command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || need+=(nginx-light)
if ((${#need[@]})); then
  sudo=""; [[ $(id -u) -ne 0 ]] && sudo="sudo"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
NGINX="$(command -v nginx || echo /usr/sbin/nginx)"
scripts/setup.sh >/dev/null

work="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() {
  local port
  for _ in $(seq 100); do
    port=$((20000 + RANDOM % 40000))
    if ! (exec 9<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then echo "$port"; return; fi
  done
  echo "bench: no free port" >&2; exit 1
}

# The signed request. The secret lives only in this run's environment.
export PARADYM_WEBHOOK_SECRET="bench-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
body="$PWD/bench/event.json"
signature="$(build/client/paradym-webhooks sign "$body")"
cat >"$work/post.lua" <<EOF
wrk.method = "POST"
local f = io.open("$body", "rb")
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-Paradym-HMAC-SHA-256"] = "$signature"
EOF

# nginx, one worker, return 200.
nginx_port="$(free_port)"
mkdir -p "$work/nginx"
cat >"$work/nginx/nginx.conf" <<EOF
worker_processes 1;
daemon off;
error_log $work/nginx/error.log;
pid $work/nginx/nginx.pid;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $work/nginx/body;
  proxy_temp_path $work/nginx/proxy;
  fastcgi_temp_path $work/nginx/fastcgi;
  uwsgi_temp_path $work/nginx/uwsgi;
  scgi_temp_path $work/nginx/scgi;
  server {
    listen 127.0.0.1:$nginx_port;
    location / { return 200; }
  }
}
EOF
"$NGINX" -c "$work/nginx/nginx.conf" -p "$work/nginx" &
pids+=($!)

# paradym-webhooksd with the in-memory log, and one live subscriber.
exec 3>"$work/ready"
build/server/paradym-webhooksd --grpc_address=127.0.0.1:0 --http_address=127.0.0.1:0 \
  --http_threads="$HTTP_THREADS" --data_dir="$work/data" --ready_fd=3 \
  --log_level=warning 2>"$work/server.log" &
server_pid=$!
pids+=("$server_pid")
exec 3>&-
for _ in $(seq 300); do [[ -s "$work/ready" ]] && break; sleep 0.1; done
ready="$(cat "$work/ready")"
grpc_port="$(sed -E 's/.*"grpc_port":([0-9]+).*/\1/' <<<"$ready")"
http_port="$(sed -E 's/.*"http_port":([0-9]+).*/\1/' <<<"$ready")"
build/bench/bench_subscriber --address="127.0.0.1:$grpc_port" >"$work/subscriber.json" &
subscriber_pid=$!
pids+=("$subscriber_pid")
for _ in $(seq 100); do [[ -s "$work/nginx/nginx.pid" ]] && break; sleep 0.1; done
nginx_worker="$(pgrep -P "$(cat "$work/nginx/nginx.pid")" | head -1)"
sleep 1

ticks_per_second="$(getconf CLK_TCK)"
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
to_ms() {  # wrk latency like 812.00us, 1.23ms, 1.01s
  awk -v v="$1" 'BEGIN {
    if (v ~ /us$/) { sub(/us$/, "", v); print v / 1000 }
    else if (v ~ /ms$/) { sub(/ms$/, "", v); print v + 0 }
    else if (v ~ /s$/) { sub(/s$/, "", v); print v * 1000 }
    else print v }'
}
# run NAME PID PORT: one warm-up and one measured wrk run; appends
# "rps p50_ms p99_ms cpu_us_per_request" to $work/results-NAME.
run() {
  local name="$1" pid="$2" port="$3"
  wrk -t1 -c"$CONNECTIONS" -d"${WARMUP}s" -s "$work/post.lua" "http://127.0.0.1:$port/webhook" >/dev/null
  local before after
  before="$(cpu_ticks "$pid")"
  wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency -s "$work/post.lua" \
    "http://127.0.0.1:$port/webhook" >"$work/wrk.out"
  after="$(cpu_ticks "$pid")"
  local requests rps p50 p99 non2xx
  requests="$(awk '/requests in/ {print $1}' "$work/wrk.out")"
  rps="$(awk '/Requests\/sec/ {print $2}' "$work/wrk.out")"
  p50="$(to_ms "$(awk '$1 == "50%" {print $2}' "$work/wrk.out")")"
  p99="$(to_ms "$(awk '$1 == "99%" {print $2}' "$work/wrk.out")")"
  non2xx="$(awk '/Non-2xx/ {print $NF}' "$work/wrk.out")"
  if [[ -n "$non2xx" ]]; then
    echo "bench: $name answered $non2xx non-2xx responses" >&2; exit 1
  fi
  local cpu_us
  cpu_us="$(awk -v t="$((after - before))" -v hz="$ticks_per_second" -v n="$requests" \
    'BEGIN { printf "%.2f", t / hz * 1e6 / n }')"
  echo "$rps $p50 $p99 $cpu_us" >>"$work/results-$name"
  printf '  round %s %-18s %10.0f req/s  p50 %6.3f ms  p99 %6.3f ms  %6.2f us CPU/req\n' \
    "$round" "$name" "$rps" "$p50" "$p99" "$cpu_us" >&2
}

echo "bench: $ROUNDS rounds of ${DURATION}s, $CONNECTIONS connections, 352-byte event" >&2
for round in $(seq "$ROUNDS"); do
  run nginx "$nginx_worker" "$nginx_port"
  run paradym-webhooksd "$server_pid" "$http_port"
done

server_rss_mb="$(awk '/VmRSS/ {printf "%.0f", $2 / 1024}' "/proc/$server_pid/status")"
log_events="$(curl -s "http://127.0.0.1:$http_port/metrics" 2>/dev/null | awk '$1 == "paradym_webhooks_log_events" {print $2}')"
kill -TERM "$subscriber_pid"
wait "$subscriber_pid" || true
subscriber="$(cat "$work/subscriber.json")"

median() {  # column N of file
  awk -v c="$2" '{print $c}' "$1" | sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'
}
n_rps="$(median "$work/results-nginx" 1)"; p_rps="$(median "$work/results-paradym-webhooksd" 1)"
n_p50="$(median "$work/results-nginx" 2)"; p_p50="$(median "$work/results-paradym-webhooksd" 2)"
n_p99="$(median "$work/results-nginx" 3)"; p_p99="$(median "$work/results-paradym-webhooksd" 3)"
n_cpu="$(median "$work/results-nginx" 4)"; p_cpu="$(median "$work/results-paradym-webhooksd" 4)"
ratio="$(awk -v a="$p_rps" -v b="$n_rps" 'BEGIN { printf "%.2f", a / b }')"

cat <<EOF

Medians of $ROUNDS rounds, ${DURATION}s each, $CONNECTIONS connections, $(nproc) cores, $(date -u +%Y-%m-%d):

| server | requests/s | p50 latency | p99 latency | server CPU per request | throughput vs nginx |
| --- | ---: | ---: | ---: | ---: | ---: |
| nginx \`return 200\`, 1 worker | $(printf '%.0f' "$n_rps") | $n_p50 ms | $n_p99 ms | $n_cpu µs | 1.00 |
| paradym-webhooksd, in-memory log, 1 live subscriber | $(printf '%.0f' "$p_rps") | $p_p50 ms | $p_p99 ms | $p_cpu µs | $ratio |

Subscriber: $subscriber
Server resident memory at the end: ${server_rss_mb} MB, with ${log_events:-?} events in the in-memory log.
EOF
if [[ "$subscriber" != *'"gaps":0'*'"stream":"open"'* ]]; then
  echo "bench: the subscriber missed events or lost its stream" >&2
  exit 1
fi
