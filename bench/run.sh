#!/usr/bin/env bash
# The HTTP benchmark: in one run on this machine, with wrk posting distinct
# signed 352-byte events (copies of bench/event.json with their own
# webhookId, published now: the server stores a body it already holds only
# once, answering the repeat as a replay), it measures
#   - nginx answering `return 200` with one worker: the ceiling for "an HTTP
#     server that does nothing";
#   - paradym-webhooksd verifying, normalizing, storing and fanning out every
#     event to one live gRPC subscriber (bench_subscriber, which checks that
#     it misses nothing), once per store configuration:
#       sqlite-full    --store=sqlite --sync=full    (fsync per group commit)
#       sqlite-normal  --store=sqlite --sync=normal  (written, not fsynced)
#       memory         --store=memory                (nothing on disk)
#       jetstream-r1   --store=jetstream, one nats-server, the stream R1
#       jetstream-r3   --store=jetstream, three nats-servers, the stream R3
#                      (the outbox of both with --sync=full, as by default)
# in alternating rounds, and prints the medians: requests/s, p50/p99
# latency, server CPU per request (for jetstream: paradym-webhooksd plus its
# nats-servers), the ratios to nginx and the cost of durability (sqlite-full
# against memory).
#
#   bench/run.sh                       # 3 rounds of 10 s at 50 connections
#   ROUNDS=5 DURATION=20 CONNECTIONS=100 bench/run.sh
#
# The distinct bodies are made and signed before each wrk run
# (bench/signed_bodies.py, into memory under /dev/shm), sized from the best
# rate seen so far; wrk reads one a request. Should a run outlast them, they
# come round again and the server answers those as replays: the report
# gives each server's paradym_webhooks_duplicates_total (0 when every
# request was stored).
#
# Everything talks to 127.0.0.1 only. Needs root (or sudo) once, to install
# wrk and nginx. The sqlite numbers depend on the disk under $TMPDIR (where
# the data dirs live): fsync on tmpfs is free, on a real disk it is not.
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
# The signed bodies, in memory: writing them to the disk under test would
# load it while the sqlite variants fsync.
pool="$(mktemp -d -p /dev/shm 2>/dev/null || mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work" "$pool"
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

# The signed requests. The secret lives only in this run's environment.
export PARADYM_WEBHOOK_SECRET="bench-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
template="$PWD/bench/event.json"
PYTHON="$(command -v /usr/bin/python3 || command -v python3)"
next_id=0
declare -A rate_guess
# bodies NAME SECONDS: $pool/NAME holds enough distinct signed bodies for
# SECONDS of NAME at 1.5 times the best rate it reached so far.
bodies() {
  # nginx stores nothing: one pool, going round, does.
  if [[ "$1" == nginx ]]; then
    [[ -s "$pool/nginx" ]] || "$PYTHON" bench/signed_bodies.py "$template" 0 100000 >"$pool/nginx"
    return 0
  fi
  local count=$(( ${rate_guess[$1]:-80000} * 3 / 2 * ($2 + 1) ))
  "$PYTHON" bench/signed_bodies.py "$template" "$next_id" "$count" >"$pool/$1"
  next_id=$((next_id + count))
}
# One POST a request, the next line of the file given after `--`.
cat >"$work/post.lua" <<'EOF'
local file
local headers = {["Content-Type"] = "application/json"}
function init(args)
  file = assert(io.open(args[1], "rb"))
end
function request()
  local line = file:read("*l")
  if line == nil then  -- out of distinct bodies: they come round again
    file:seek("set", 0)
    line = file:read("*l")
  end
  local tab = line:find("\t", 1, true)
  headers["X-Paradym-HMAC-SHA-256"] = line:sub(1, tab - 1)
  return wrk.format("POST", "/webhook", headers, line:sub(tab + 1))
end
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

# The servers: one paradym-webhooksd per store configuration, each its own
# process with its own fresh data dir, ready file and live subscriber. All
# are started once and kept for the whole run, so the sqlite variants keep
# appending to the same events.db across rounds, as a long-running service
# does, instead of each round starting from an empty file. Between their
# turns they sit idle (their subscribers wait on an idle stream), so they
# cost the one being measured next to nothing.
servers=(sqlite-full sqlite-normal memory jetstream-r1 jetstream-r3)
declare -A label server_pid http_port grpc_port_of subscriber_pid

# metric PORT NAME: the value of one unlabeled metric of a server, or "".
metric() {
  curl -sf "http://127.0.0.1:$1/metrics" 2>/dev/null | awk -v m="$2" '$1 == m {print $2}' || true
}

# start_server NAME LABEL FLAG...: starts paradym-webhooksd with FLAGs and its
# subscriber, in $work/NAME. Ports are 0 so that the kernel picks free ones;
# the server writes them to --ready_fd once it listens on both.
start_server() {
  local name="$1" dir="$work/$1"
  label[$name]="$2"
  shift 2
  mkdir -p "$dir"
  build/server/paradym-webhooksd --grpc_address=127.0.0.1:0 --http_address=127.0.0.1:0 \
    --http_threads="$HTTP_THREADS" --data_dir="$dir/data" "$@" --ready_fd=3 \
    --log_level=warning 3>"$dir/ready" 2>"$dir/server.log" &
  server_pid[$name]=$!
  pids+=("$!")
  for _ in $(seq 300); do [[ -s "$dir/ready" ]] && break; sleep 0.1; done
  if [[ ! -s "$dir/ready" ]]; then
    echo "bench: $name did not start; its log:" >&2
    cat "$dir/server.log" >&2
    exit 1
  fi
  local ready grpc_port
  ready="$(cat "$dir/ready")"
  grpc_port="$(sed -E 's/.*"grpc_port":([0-9]+).*/\1/' <<<"$ready")"
  http_port[$name]="$(sed -E 's/.*"http_port":([0-9]+).*/\1/' <<<"$ready")"
  grpc_port_of[$name]="$grpc_port"
  build/bench/bench_subscriber --address="127.0.0.1:$grpc_port" >"$dir/subscriber.json" &
  subscriber_pid[$name]=$!
  pids+=("$!")
  # The subscriber must be streaming before the first request, or it would
  # miss events without noticing: it only sees gaps after its first event.
  local connected=""
  for _ in $(seq 100); do
    if [[ "$(metric "${http_port[$name]}" paradym_webhooks_subscribers)" == 1 ]]; then
      connected=1; break
    fi
    sleep 0.1
  done
  if [[ -z "$connected" ]]; then
    echo "bench: the subscriber of $name did not connect" >&2
    exit 1
  fi
  # A replica measures only once its stream answers (a new cluster elects its
  # leaders first): one webhook must come back with a sequence.
  [[ "$name" == jetstream-* ]] || return 0
  local probe
  for _ in $(seq 60); do
    probe="$("$PYTHON" bench/signed_bodies.py "$template" "$next_id" 1)"
    next_id=$((next_id + 1))
    curl -sf -X POST -H 'Content-Type: application/json' \
      -H "X-Paradym-HMAC-SHA-256: ${probe%%$'\t'*}" --data-binary "${probe#*$'\t'}" \
      "http://127.0.0.1:${http_port[$name]}/webhook" | grep -q '"sequence":[1-9]' && return
    sleep 0.5
  done
  echo "bench: the stream of $name did not answer; its log:" >&2
  cat "$dir/server.log" >&2
  exit 1
}

# start_nats NAME NODES: a JetStream cluster of NODES nats-servers on
# 127.0.0.1 in $work/NAME-nats (one without a cluster block for 1); sets
# nats_urls[NAME] and nats_pids[NAME].
declare -A nats_urls nats_pids
start_nats() {
  local name="$1" nodes="$2" dir="$work/$1-nats" i j
  local client_ports=() cluster_ports=() urls=()
  for i in $(seq "$nodes"); do
    client_ports+=("$(free_port)")
    cluster_ports+=("$(free_port)")
  done
  for i in $(seq 0 $((nodes - 1))); do
    mkdir -p "$dir/n$i"
    {
      echo "server_name: n$i"
      echo "listen: 127.0.0.1:${client_ports[$i]}"
      echo "jetstream { store_dir: \"$dir/n$i\" }"
      if ((nodes > 1)); then
        echo "cluster { name: bench, listen: 127.0.0.1:${cluster_ports[$i]}, routes: ["
        for j in $(seq 0 $((nodes - 1))); do
          ((j != i)) && echo "  nats-route://127.0.0.1:${cluster_ports[$j]}"
        done
        echo "] }"
      fi
    } >"$dir/n$i.conf"
    "$NATS_SERVER" -c "$dir/n$i.conf" >"$dir/n$i.log" 2>&1 &
    nats_pids[$name]+="$! "
    pids+=("$!")
    urls+=("nats://127.0.0.1:${client_ports[$i]}")
  done
  nats_urls[$name]="$(IFS=,; echo "${urls[*]}")"
}

NATS_SERVER="$(command -v nats-server || echo /usr/sbin/nats-server)"
start_nats jetstream-r1 1
start_nats jetstream-r3 3

start_server sqlite-full "SQLite, \`--sync=full\` (fsync per group commit)" --store=sqlite --sync=full
start_server sqlite-normal "SQLite, \`--sync=normal\` (no fsync)" --store=sqlite --sync=normal
start_server memory "in-memory window, \`--store=memory\`" --store=memory
start_server jetstream-r1 "JetStream, 1 nats-server, R1 (CPU: with nats-server)" \
  --store=jetstream --nats_url="${nats_urls[jetstream-r1]}" --nats_replicas=1
start_server jetstream-r3 "JetStream, 3 nats-servers, R3 (CPU: with nats-servers)" \
  --store=jetstream --nats_url="${nats_urls[jetstream-r3]}" --nats_replicas=3
for _ in $(seq 100); do [[ -s "$work/nginx/nginx.pid" ]] && break; sleep 0.1; done
nginx_worker="$(pgrep -P "$(cat "$work/nginx/nginx.pid")" | head -1)"
sleep 1

ticks_per_second="$(getconf CLK_TCK)"
cpu_ticks() {  # PID...: their user + system ticks, summed
  local pid total=0
  for pid in "$@"; do total=$((total + $(awk '{print $14 + $15}' "/proc/$pid/stat"))); done
  echo "$total"
}
to_ms() {  # wrk latency like 812.00us, 1.23ms, 1.01s
  awk -v v="$1" 'BEGIN {
    if (v ~ /us$/) { sub(/us$/, "", v); print v / 1000 }
    else if (v ~ /ms$/) { sub(/ms$/, "", v); print v + 0 }
    else if (v ~ /s$/) { sub(/s$/, "", v); print v * 1000 }
    else print v }'
}
# run NAME "PID..." PORT: one warm-up and one measured wrk run; appends
# "rps p50_ms p99_ms cpu_us_per_request" to $work/results-NAME. The CPU is
# that of the processes PID... (all their threads, user and system): the
# server and, for jetstream, its nats-servers; not wrk's, not the
# subscriber's, not the kernel's journal threads flushing the disk.
run() {
  local name="$1" pid="$2" port="$3"
  bodies "$name" "$WARMUP"
  wrk -t1 -c"$CONNECTIONS" -d"${WARMUP}s" -s "$work/post.lua" "http://127.0.0.1:$port/webhook" \
    -- "$pool/$name" >/dev/null
  bodies "$name" "$DURATION"
  local before after
  local first="${pid%% *}" first_before first_after
  first_before="$(cpu_ticks "$first")"
  # shellcheck disable=SC2086  # PIDs, one word each
  before="$(cpu_ticks $pid)"
  wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency -s "$work/post.lua" \
    "http://127.0.0.1:$port/webhook" -- "$pool/$name" >"$work/wrk.out"
  # shellcheck disable=SC2086
  after="$(cpu_ticks $pid)"
  first_after="$(cpu_ticks "$first")"
  local requests rps p50 p99 non2xx
  requests="$(awk '/requests in/ {print $1}' "$work/wrk.out")"
  rps="$(awk '/Requests\/sec/ {print $2}' "$work/wrk.out")"
  p50="$(to_ms "$(awk '$1 == "50%" {print $2}' "$work/wrk.out")")"
  p99="$(to_ms "$(awk '$1 == "99%" {print $2}' "$work/wrk.out")")"
  non2xx="$(awk '/Non-2xx/ {print $NF}' "$work/wrk.out")"
  if [[ -n "$non2xx" ]]; then
    echo "bench: $name answered $non2xx non-2xx responses" >&2; exit 1
  fi
  local cpu_us first_us
  cpu_us="$(awk -v t="$((after - before))" -v hz="$ticks_per_second" -v n="$requests" \
    'BEGIN { printf "%.2f", t / hz * 1e6 / n }')"
  first_us="$(awk -v t="$((first_after - first_before))" -v hz="$ticks_per_second" -v n="$requests" \
    'BEGIN { printf "%.2f", t / hz * 1e6 / n }')"
  echo "$rps $p50 $p99 $cpu_us $first_us" >>"$work/results-$name"
  local whole="${rps%.*}"
  if ((whole > ${rate_guess[$name]:-0})); then rate_guess[$name]="$whole"; fi
  printf '  round %s %-18s %10.0f req/s  p50 %6.3f ms  p99 %6.3f ms  %6.2f us CPU/req\n' \
    "$round" "$name" "$rps" "$p50" "$p99" "$cpu_us" >&2
}

echo "bench: $ROUNDS rounds of ${DURATION}s, $CONNECTIONS connections, 352-byte event" >&2
for round in $(seq "$ROUNDS"); do
  run nginx "$nginx_worker" "$nginx_port"
  for name in "${servers[@]}"; do
    run "$name" "${server_pid[$name]} ${nats_pids[$name]:-}" "${http_port[$name]}"
  done
done

# The unary gRPC benchmark, on the memory server while nothing else runs:
# VerifyAndParse against the same server's Health/Check (bench/grpc_bench).
"$PYTHON" bench/signed_bodies.py "$template" "$next_id" 1 >"$work/grpc-request"
next_id=$((next_id + 1))
build/bench/grpc_bench --address="127.0.0.1:${grpc_port_of[memory]}" \
  --request="$work/grpc-request" --duration="$(( DURATION < 3 ? DURATION : 3 ))" \
  --rounds="$(( ROUNDS * 2 + 1 ))" >"$work/grpc.json"
grpc_result="$(cat "$work/grpc.json")"
grpc_json_field() { sed -E "s/.*\"$1\":([0-9.]+).*/\1/" <<<"$grpc_result"; }

median() {  # column N of file
  awk -v c="$2" '{print $c}' "$1" | sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
declare -A rps p50 p99 cpu own_cpu
for name in nginx "${servers[@]}"; do
  rps[$name]="$(median "$work/results-$name" 1)"
  p50[$name]="$(median "$work/results-$name" 2)"
  p99[$name]="$(median "$work/results-$name" 3)"
  cpu[$name]="$(median "$work/results-$name" 4)"
  own_cpu[$name]="$(median "$work/results-$name" 5)"
done
target_row() {  # target_row NAME LABEL CPU_TARGET THROUGHPUT_TARGET P99_TARGET
  printf '| %s | %s µs | %s | %s | %s | %s | %s ms | %s |\n' "$2" "${cpu[$1]}" \
    "$(ratio "${cpu[$1]}" "${cpu[nginx]}")" "$3" "$(ratio "${rps[$1]}" "${rps[nginx]}")" "$4" \
    "${p99[$1]}" "${5:-}"
}
row() {  # row NAME LABEL
  printf '| %s | %.0f | %s ms | %s ms | %s µs | %s |\n' "$2" "${rps[$1]}" "${p50[$1]}" \
    "${p99[$1]}" "${cpu[$1]}" "$(ratio "${rps[$1]}" "${rps[nginx]}")"
}

# The state of each server at the end, read while it still runs: the WAL
# is on disk as the service would leave it, not checkpointed by a shutdown.
declare -A report bytes_per_event
failed=()
for name in "${servers[@]}"; do
  port="${http_port[$name]}"
  rss_mb="$(awk '/VmRSS/ {printf "%.0f", $2 / 1024}' "/proc/${server_pid[$name]}/status")"
  events="$(metric "$port" paradym_webhooks_log_events)"
  duplicates="$(metric "$port" paradym_webhooks_duplicates_total)"
  report[$name]="resident memory ${rss_mb} MB, ${events:-?} events in the log, ${duplicates:-?} requests answered as replays (0: every request was a distinct webhook)"
  if [[ "$name" == jetstream-* ]]; then
    pending="$(metric "$port" paradym_webhooks_replication_pending_answers_total)"
    report[$name]+=", ${pending:-?} answers pending replication, paradym-webhooksd alone ${own_cpu[$name]} µs CPU per request"
  fi
  if [[ "$name" == sqlite-* ]]; then
    commits="$(metric "$port" paradym_webhooks_store_commits_total)"
    committed="$(metric "$port" paradym_webhooks_store_committed_events_total)"
    # du: the blocks allocated, what the disk actually holds; per file too,
    # since the WAL can be a large part of it.
    bytes_per_event[$name]="$(du -sk "$work/$name/data" | awk -v n="${events:-0}" '{
      if (n > 0) printf "%.0f", $1 * 1024 / n; else print "?" }')"
    disk="$(du -sk "$work/$name/data" | awk -v n="${events:-0}" '{
      printf "%.1f MB", $1 / 1024; if (n > 0) printf ", %.0f bytes per event", $1 * 1024 / n }')"
    files="$(cd "$work/$name/data" && du -k -- * | awk '{printf "%s%s %.1f MB", sep, $2, $1 / 1024; sep = ", "}')"
    report[$name]+=" (${committed:-?} committed in ${commits:-?} group commits), data dir on disk $disk ($files)"
  fi
  kill -TERM "${subscriber_pid[$name]}"
  wait "${subscriber_pid[$name]}" || true
  subscriber="$(cat "$work/$name/subscriber.json")"
  report[$name]+=$'\n  subscriber: '"$subscriber"
  if [[ "$subscriber" != *'"gaps":0'*'"stream":"open"'* ]]; then failed+=("$name"); fi
done

cat <<EOF

Medians of $ROUNDS rounds, ${DURATION}s each, $CONNECTIONS connections, $(nproc) cores, $(date -u +%Y-%m-%d):

| server | requests/s | p50 latency | p99 latency | server CPU per request | throughput vs nginx |
| --- | ---: | ---: | ---: | ---: | ---: |
$(row nginx "nginx \`return 200\`, 1 worker")
$(for name in "${servers[@]}"; do row "$name" "paradym-webhooksd, ${label[$name]}, 1 live subscriber"; done)

Throughput of sqlite-full against memory (the cost of durability): $(ratio "${rps[sqlite-full]}" "${rps[memory]}")

Against the targets of issue #12 (ratios to nginx in this run):

| config | server CPU per request | x nginx | target | throughput x nginx | target | p99 | target |
| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |
$(target_row nginx "nginx \`return 200\`" "1.0" "1.0" "")
$(target_row memory "\`--store=memory\`" "≤ 1.5" "≥ 0.7" "")
$(target_row sqlite-normal "\`--store=sqlite --sync=normal\`" "between" "between" "")
$(target_row sqlite-full "\`--store=sqlite --sync=full\`" "≤ 2.2" "≥ 0.5" "≤ 5 ms")
$(target_row jetstream-r1 "\`--store=jetstream\`, R1" "none yet" "none yet" "")
$(target_row jetstream-r3 "\`--store=jetstream\`, R3" "none yet" "none yet" "")

Bytes on disk per event (sqlite-full, events.db + WAL): ${bytes_per_event[sqlite-full]:-?} (target ≤ 450)

gRPC, $(( ROUNDS * 2 + 1 )) rounds: VerifyAndParse $(grpc_json_field verify_and_parse_per_second) calls/s, Health/Check $(grpc_json_field health_check_per_second) calls/s (medians); median of the rounds' ratios $(grpc_json_field ratio)x (target ≥ 0.9)

$(for name in "${servers[@]}"; do printf '%s: %s\n' "$name" "${report[$name]}"; done)
EOF
if ((${#failed[@]})); then
  echo "bench: the subscriber of ${failed[*]} missed events or lost its stream" >&2
  exit 1
fi

# --- Replay from disk (issue #12) ------------------------------------------
# How fast stored events come back: against sqlite-full, still running with
# everything the rounds stored (mostly in the page cache, as a recent backlog
# is), one Subscribe from the oldest event, then ListEvents in pages of
# 1000, each until every stored event came back in order. The subscriber's
# decoding shares this machine's cores with the server.
replay_events="$(metric "${http_port[sqlite-full]}" paradym_webhooks_log_events)"
replay_port="$(sed -E 's/.*"grpc_port":([0-9]+).*/\1/' "$work/sqlite-full/ready")"
replay_rate() {  # replay_rate [--list]: prints events/s
  local out
  if ! out="$(build/bench/bench_replay --address="127.0.0.1:$replay_port" \
    --replay_events="$replay_events" --timeout_seconds=300 "$@")"; then
    echo "bench: replaying sqlite-full's events failed: $out" >&2
    return 1
  fi
  sed -E 's/.*"events_per_second":([0-9]+).*/\1/' <<<"$out"
}
subscribe_rate="$(replay_rate)"
list_rate="$(replay_rate --list)"
echo "replay from disk: $subscribe_rate events/s (Subscribe), $list_rate events/s (ListEvents), $replay_events events of sqlite-full"
# --- Fan-out (issue #12) -----------------------------------------------------
# One more paradym-webhooksd, --store=memory, measured with many Subscribe
# streams (bench_subscriber --streams=N: one connection per stream, each
# checking order and gaps and timing every event from its receive_time to
# its receipt, on this machine's clock):
#   (a) at full wrk load, 1 unfiltered subscriber alone against the same plus
#       99 whose filter matches nothing (project_ids other-0..other-98), in
#       alternating rounds: the throughput ratio and the server CPU/request;
#   (b) 100 unfiltered subscribers while wrk posts a steady FANOUT_RATE
#       events/s (paced in its Lua script on CLOCK_MONOTONIC): streams cut
#       off, p99 receipt latency, and the server CPU per delivery, that is
#       (server CPU of the run - its requests x the CPU/request of the same
#       paced run with no subscriber) / events the subscribers received.
#   FANOUT=0 bench/run.sh     # skips this section
FANOUT="${FANOUT:-1}"
FANOUT_RATE="${FANOUT_RATE:-5000}"
FANOUT_STREAMS="${FANOUT_STREAMS:-100}"
if [[ "$FANOUT" == 1 ]]; then
  # The POST script, sending at most FANOUT_RATE requests a second across
  # all connections: each request is due 1/rate after the one before.
  cat >"$work/paced.lua" <<'LUA'
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clock_id, bench_timespec *tp);
]]
local ts = ffi.new("bench_timespec")
local function now_ms()
  ffi.C.clock_gettime(1, ts)  -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end
local file, interval, due
local headers = {["Content-Type"] = "application/json"}
function init(args)
  file = assert(io.open(args[1], "rb"))
  interval = 1000 / tonumber(args[2])
end
function delay()
  local now = now_ms()
  -- Behind by more than a second: do not try to catch all of it up.
  if due == nil or due < now - 1000 then due = now end
  due = due + interval
  return math.max(0, math.floor(due - now + 0.5))
end
LUA
  # Each request as post.lua makes it.
  sed -n '/^function request()/,$p' "$work/post.lua" >>"$work/paced.lua"

  fdir="$work/fanout"
  mkdir -p "$fdir"
  build/server/paradym-webhooksd --grpc_address=127.0.0.1:0 --http_address=127.0.0.1:0 \
    --http_threads="$HTTP_THREADS" --data_dir="$fdir/data" --store=memory --ready_fd=3 \
    --log_level=warning 3>"$fdir/ready" 2>"$fdir/server.log" &
  fanout_pid=$!
  pids+=("$fanout_pid")
  for _ in $(seq 300); do [[ -s "$fdir/ready" ]] && break; sleep 0.1; done
  if [[ ! -s "$fdir/ready" ]]; then
    echo "bench: the fan-out server did not start; its log:" >&2
    cat "$fdir/server.log" >&2
    exit 1
  fi
  fanout_grpc="$(sed -E 's/.*"grpc_port":([0-9]+).*/\1/' <"$fdir/ready")"
  fanout_http="$(sed -E 's/.*"http_port":([0-9]+).*/\1/' <"$fdir/ready")"

  # fanout_subscribe FILE COUNT ARG...: bench_subscriber ARGs, its JSON line
  # into FILE, once the server has COUNT streams open; sets fanout_sub_pid.
  fanout_subscribe() {
    local out="$1" count="$2"
    shift 2
    build/bench/bench_subscriber --address="127.0.0.1:$fanout_grpc" "$@" >"$out" &
    fanout_sub_pid=$!
    pids+=("$fanout_sub_pid")
    for _ in $(seq 200); do
      [[ "$(metric "$fanout_http" paradym_webhooks_subscribers)" == "$count" ]] && return 0
      sleep 0.1
    done
    echo "bench: fan-out: $count streams did not open" >&2
    exit 1
  }
  # fanout_unsubscribe PID: ends a bench_subscriber; its JSON is then final.
  fanout_unsubscribe() {
    kill -TERM "$1"
    wait "$1" || true
  }
  # fanout_wrk NAME SECONDS SCRIPT [RATE]: one wrk run against the fan-out
  # server; appends "requests rps p99_ms server_cpu_seconds" to
  # $work/fanout-NAME.
  fanout_wrk() {
    local name="$1" seconds="$2" script="$3" rate="${4:-}"
    bodies "fanout-$name" "$seconds"
    local before after
    before="$(cpu_ticks "$fanout_pid")"
    wrk -t1 -c"$CONNECTIONS" -d"${seconds}s" --latency -s "$script" \
      "http://127.0.0.1:$fanout_http/webhook" -- "$pool/fanout-$name" $rate >"$work/wrk.out"
    after="$(cpu_ticks "$fanout_pid")"
    if grep -q Non-2xx "$work/wrk.out"; then
      echo "bench: fan-out $name: non-2xx responses" >&2; exit 1
    fi
    local requests rps p99
    requests="$(awk '/requests in/ {print $1}' "$work/wrk.out")"
    rps="$(awk '/Requests\/sec/ {print $2}' "$work/wrk.out")"
    p99="$(to_ms "$(awk '$1 == "99%" {print $2}' "$work/wrk.out")")"
    local cpu
    cpu="$(awk -v t="$((after - before))" -v hz="$ticks_per_second" 'BEGIN { printf "%.3f", t / hz }')"
    echo "$requests $rps $p99 $cpu" >>"$work/fanout-$name"
    local whole="${rps%.*}"
    if ((whole > ${rate_guess[fanout-$name]:-0})); then rate_guess[fanout-$name]="$whole"; fi
  }
  json_field() {  # FILE KEY...: a value in a bench_subscriber JSON line
    "$PYTHON" -c 'import json, sys
value = json.load(open(sys.argv[1]))
for key in sys.argv[2:]:
    value = value[key]
print(value)' "$@"
  }

  echo "bench: fan-out, $ROUNDS rounds, --store=memory" >&2
  rate_guess[fanout-paced0]="$FANOUT_RATE"
  rate_guess[fanout-paced]="$FANOUT_RATE"
  : >"$work/fanout-b"
  for round in $(seq "$ROUNDS"); do
    # (a) One unfiltered subscriber, then 99 more that match nothing.
    fanout_subscribe "$fdir/one.json" 1
    one_pid="$fanout_sub_pid"
    fanout_wrk warm "$WARMUP" "$work/post.lua"
    fanout_wrk alone "$DURATION" "$work/post.lua"
    fanout_subscribe "$fdir/filtered.json" 100 --streams=99 --project_id='other-{i}'
    fanout_wrk warm "$WARMUP" "$work/post.lua"
    fanout_wrk filtered "$DURATION" "$work/post.lua"
    fanout_unsubscribe "$fanout_sub_pid"
    fanout_unsubscribe "$one_pid"
    if [[ "$(cat "$fdir/one.json")" != *'"gaps":0,'*'"stream":"open"'* ]]; then
      echo "bench: fan-out (a): the unfiltered subscriber missed events: $(cat "$fdir/one.json")" >&2
      exit 1
    fi
    printf '  round %s fan-out (a) %10.0f req/s alone, %10.0f with 99 filtered\n' "$round" \
      "$(tail -1 "$work/fanout-alone" | cut -d' ' -f2)" \
      "$(tail -1 "$work/fanout-filtered" | cut -d' ' -f2)" >&2

    # (b) The paced load with no subscriber (the baseline CPU/request), then
    # with FANOUT_STREAMS unfiltered ones.
    for _ in $(seq 100); do
      [[ "$(metric "$fanout_http" paradym_webhooks_subscribers)" == 0 ]] && break
      sleep 0.1
    done
    fanout_wrk paced0 "$DURATION" "$work/paced.lua" "$FANOUT_RATE"
    fanout_subscribe "$fdir/many.json" "$FANOUT_STREAMS" --streams="$FANOUT_STREAMS"
    fanout_wrk paced "$DURATION" "$work/paced.lua" "$FANOUT_RATE"
    fanout_unsubscribe "$fanout_sub_pid"
    read -r fan_base_requests _ _ fan_base_cpu < <(tail -1 "$work/fanout-paced0")
    read -r fan_requests fan_rps _ fan_cpu < <(tail -1 "$work/fanout-paced")
    fan_deliveries="$(json_field "$fdir/many.json" events)"
    fan_cut_off="$(json_field "$fdir/many.json" cut_off)"
    fan_gaps="$(json_field "$fdir/many.json" gaps)"
    fan_p99="$(json_field "$fdir/many.json" latency_ms p99)"
    fan_per_delivery="$(awk -v c="$fan_cpu" -v n="$fan_requests" -v bc="$fan_base_cpu" \
      -v bn="$fan_base_requests" -v d="$fan_deliveries" 'BEGIN { if (d == 0) { print "n/a"; exit }
        printf "%.3f", (c - n * bc / bn) * 1e6 / d }')"
    echo "$fan_rps $fan_cut_off $fan_per_delivery $fan_p99 $fan_deliveries $fan_gaps" >>"$work/fanout-b"
    printf '  round %s fan-out (b) %10.0f req/s, %s of %s cut off, %s µs CPU/delivery, p99 %s ms\n' \
      "$round" "$fan_rps" "$fan_cut_off" "$FANOUT_STREAMS" "$fan_per_delivery" "$fan_p99" >&2
  done

  per_request() {  # FILE: the median server CPU per request, µs
    awk '{ printf "%.2f\n", $4 * 1e6 / $1 }' "$1" | sort -g |
      awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'
  }
  fan_alone_rps="$(median "$work/fanout-alone" 2)"
  fan_filtered_rps="$(median "$work/fanout-filtered" 2)"
  cat <<EOF2

Fan-out, --store=memory, medians of $ROUNDS rounds, ${DURATION}s each, $CONNECTIONS connections:

| case | measured | target |
| --- | ---: | ---: |
| (a) throughput, 1 unfiltered + 99 non-matching subscribers vs 1 alone | $(ratio "$fan_filtered_rps" "$fan_alone_rps") (${fan_filtered_rps%.*} vs ${fan_alone_rps%.*} req/s) | at least 0.9 |
| (a) server CPU per request, 1 alone / with 99 non-matching | $(per_request "$work/fanout-alone") / $(per_request "$work/fanout-filtered") µs | |
| (b) $FANOUT_STREAMS unfiltered subscribers at $FANOUT_RATE events/s: rate reached | $(median "$work/fanout-b" 1 | cut -d. -f1) events/s | $FANOUT_RATE |
| (b) streams cut off (RESOURCE_EXHAUSTED), worst round | $(awk '$2 > m {m = $2} END {print m + 0}' "$work/fanout-b") of $FANOUT_STREAMS | 0 |
| (b) server CPU per delivery | $(median "$work/fanout-b" 3) µs | at most 0.4 µs |
| (b) p99 from receive_time to receipt, all streams | $(median "$work/fanout-b" 4) ms | at most 50 ms |
| (b) p99 of the 200s, no subscriber / $FANOUT_STREAMS subscribers | $(median "$work/fanout-paced0" 3) / $(median "$work/fanout-paced" 3) ms | |

(b) per round: rate, cut off, µs CPU per delivery, p99 ms, deliveries, gaps:
$(cat "$work/fanout-b")
EOF2
fi
