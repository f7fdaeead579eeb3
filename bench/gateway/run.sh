#!/usr/bin/env bash
# deja's gateway benchmarks, end to end over loopback. Writes bench/results/gateway.json (every
# figure and the run's context) and bench/results/gateway.md (the short table). See bench/README.md,
# section "Gateway benchmarks".
#
# Usage: bash bench/gateway/run.sh [BUILD_DIR]     (BUILD_DIR holds the `deja` binary; default build)
#
#   1. Exact-hit throughput and latency: wrk (POST of one cached chat completion, Authorization
#      header) against deja, and against nginx serving the same response bytes as a static file,
#      alternating, in the same run. Ratio deja/nginx of requests per second (target >= 0.5).
#   2. Added latency of a miss: sequential requests with unique bodies through deja and directly to
#      the fake upstream, interleaved; difference of the medians (target <= 300 µs).
#   3. Resident memory with 100k stored entries: RssAnon of deja after 100k distinct misses sent by
#      wrk (upstream: the nginx of part 1). The LMDB map is a file mapping, counted in
#      RssFile/RssShmem, not RssAnon; target <= 64 MiB.
#
# Environment (defaults in brackets):
#   GW_WRK_SECONDS [6]   GW_WRK_ROUNDS [5]  GW_WRK_THREADS [2]  GW_WRK_CONNECTIONS [64]
#   GW_MISS_N [500]      sequential requests per arm for the miss latency
#   GW_FILL_N [100000]   GW_FILL_CONCURRENCY [64] (wrk connections)   GW_FILL_TIMEOUT_S [150]
#   GW_FILL_DIR [/dev/shm if writable]  where the 100k-entry store lives (see README: fsync cost)
#   GW_KEEP_TMP=1        keep the temporary directory (logs, configs, raw outputs)
#   GW_ALLOW_STALE=1     run even if the binary is older than its sources
#   BENCH_ALLOW_DEBUG=1  run even if the binary is not an optimised build
#   GW_SOURCE_LABEL      what the binary was built from, for the report when its source directory
#                        is not a git checkout (default: that checkout's revision)
# Every process it starts is stopped by PID on exit. Loopback only.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
here="$root/bench/gateway"
# shellcheck source=bench/lib.sh
source "$root/bench/lib.sh"  # process start/stop by PID, wait_port, nginx, build checks
resolve_build "${1:-}"
results="$root/bench/results"

wrk_seconds="${GW_WRK_SECONDS:-6}"
wrk_rounds="${GW_WRK_ROUNDS:-5}"
wrk_threads="${GW_WRK_THREADS:-2}"
wrk_conns="${GW_WRK_CONNECTIONS:-64}"
miss_n="${GW_MISS_N:-500}"
fill_n="${GW_FILL_N:-100000}"
fill_conc="${GW_FILL_CONCURRENCY:-64}"
fill_timeout="${GW_FILL_TIMEOUT_S:-150}"

require_tools wrk nginx node python3 curl
check_build GW_ALLOW_STALE
unset_deja_env

tmp="$(mktemp -d /tmp/gwbench.XXXXXX)"
chmod 0755 "$tmp"  # nginx workers (user nobody when started as root) read the static file here
fill_base="$(data_base_dir "${GW_FILL_DIR:-}" "$tmp")"
fill_dir="$(mktemp -d "$fill_base/gwbench-fill.XXXXXX")"
link_server gwbench-server

cleanup() {
  stop_all
  rm -rf "$fill_dir"
  if [[ "${GW_KEEP_TMP:-0}" == 1 ]]; then echo "run.sh: kept $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

proc_status() {  # proc_status PID OUT.json: memory lines of /proc/PID/status, in KiB
  python3 - "$1" "$2" <<'EOF'
import json, sys
pid, out = sys.argv[1], sys.argv[2]
keys = ("VmRSS", "VmHWM", "RssAnon", "RssFile", "RssShmem", "VmSize", "Threads")
vals = {}
with open(f"/proc/{pid}/status") as f:
    for line in f:
        k, _, v = line.partition(":")
        if k in keys:
            vals[k] = int(v.split()[0])
with open(out, "w") as f:
    json.dump(vals, f)
print(" ".join(f"{k}={v}" for k, v in vals.items()))
EOF
}

alive() {  # alive PID NAME: fail loudly if a server we started has died
  kill -0 "$1" 2>/dev/null && return 0
  echo "run.sh: $2 (pid $1) is gone; its stderr ends with:" >&2
  tail -n 20 "$tmp/$2.err" >&2 || true
  exit 1
}

stats() { curl -sS --max-time 10 "http://127.0.0.1:$1/deja/stats"; }

echo "== gateway benchmarks: $deja ($build_type), temp $tmp"
mark_started

# ---------------------------------------------------------------- fake upstream and deja
start_upstream
start_deja deja --data-dir "$tmp/data" --set server.access_log=false
echo "fake upstream on $up_port, deja on $deja_port (access log off)"

# ---------------------------------------------------------------- 1. exact-hit throughput
body="$here/request.json"
hdr=(-H 'Content-Type: application/json' -H "Authorization: Bearer ${GW_API_KEY:-sk-deja-bench}")
url="http://127.0.0.1:$deja_port/v1/chat/completions"
first_cache="$(curl -sS --max-time 10 "${hdr[@]}" --data-binary "@$body" -o "$tmp/first.json" \
  -D - "$url" | tr -d '\r' | sed -n 's/^[Xx]-[Dd]eja-[Cc]ache: //p')"
mkdir -p "$tmp/www/v1/chat"
hit_cache=""
for _ in $(seq 50); do  # the entry is written just after the first answer: wait for a stored hit
  hit_cache="$(curl -sS --max-time 10 "${hdr[@]}" --data-binary "@$body" \
    -o "$tmp/www/v1/chat/completions" -D - "$url" | tr -d '\r' | sed -n 's/^[Xx]-[Dd]eja-[Cc]ache: //p')"
  [[ "$hit_cache" == hit ]] && break
  sleep 0.1
done
if [[ "$first_cache" != miss || "$hit_cache" != hit ]]; then
  echo "run.sh: priming failed (first: '$first_cache', repeat: '$hit_cache')" >&2
  exit 1
fi
chmod -R a+rX "$tmp/www"
response_bytes="$(wc -c <"$tmp/www/v1/chat/completions")"

# shellcheck disable=SC2016  # $uri is nginx's, literal
start_nginx "Generated by bench/gateway/run.sh: the reference static server for the exact-hit benchmark." \
  16 'location = /v1/chat/completions { error_page 405 =200 $uri; }'
nginx_url="http://127.0.0.1:$nginx_port/v1/chat/completions"
ok=""
for _ in $(seq 100); do
  code="$(curl -sS --max-time 2 "${hdr[@]}" --data-binary "@$body" -o "$tmp/nginx-answer.json" \
    -w '%{http_code}' "$nginx_url" 2>/dev/null || true)"
  [[ "$code" == 200 ]] && { ok=1; break; }
  kill -0 "$nginx_pid" 2>/dev/null || break
  sleep 0.05
done
if [[ -z "$ok" ]] || ! cmp -s "$tmp/nginx-answer.json" "$tmp/www/v1/chat/completions"; then
  echo "run.sh: nginx does not answer the POST with the stored bytes" >&2
  cat "$tmp/nginx/error.log" "$tmp/nginx/stdout" >&2 || true
  exit 1
fi
echo "nginx on $nginx_port serves the same $response_bytes response bytes"

run_wrk() {  # run_wrk URL SECONDS OUT.json
  GW_BODY_FILE="$body" GW_WRK_OUT="$3" timeout $(($2 + 30)) \
    wrk -t"$wrk_threads" -c"$wrk_conns" -d"${2}s" --timeout 5s -s "$here/post.lua" "$1" >"$3.txt"
}

hits_of() { stats "$deja_port" | python3 -c 'import json,sys; print(json.load(sys.stdin)["requests"]["/v1/chat/completions"]["hit"])'; }

echo "-- warm-up (2 s each)"
run_wrk "$url" 2 "$tmp/wrk-warm-deja.json"
run_wrk "$nginx_url" 2 "$tmp/wrk-warm-nginx.json"
hits_before="$(hits_of)"
nginx_pids=("$nginx_pid" $(pgrep -P "$nginx_pid" || true))  # master and its workers
clk_tck="$(getconf CLK_TCK)"
for r in $(seq "$wrk_rounds"); do
  # Alternate which server goes first, so a drift of the machine's speed hits both alike.
  if ((r % 2 == 1)); then order=(deja nginx); else order=(nginx deja); fi
  for target in "${order[@]}"; do
    if [[ $target == deja ]]; then u="$url" p=("$deja_pid"); else u="$nginx_url" p=("${nginx_pids[@]}"); fi
    t0="$(cpu_ticks "${p[@]}")"
    run_wrk "$u" "$wrk_seconds" "$tmp/wrk-$target-$r.json"
    alive "$deja_pid" deja
    echo "$(($(cpu_ticks "${p[@]}") - t0)) $clk_tck" >"$tmp/cpu-$target-$r.txt"
    echo "round $r $target: $(cat "$tmp/wrk-$target-$r.json")"
  done
done
hits_after="$(hits_of)"

# ---------------------------------------------------------------- 2. added latency of a miss
echo "-- miss latency ($miss_n sequential requests per arm, interleaved)"
timeout 180 node "$here/client.mjs" miss --deja "$deja_port" --upstream "$up_port" --n "$miss_n" \
  --out "$tmp/miss.json" || echo "run.sh: the miss client reported problems (see gateway.json)" >&2
stats "$deja_port" >"$tmp/stats-main.json"
stop "$deja_pid"

# ---------------------------------------------------------------- 3. memory with 100k entries
# A fresh deja whose upstream is the nginx of part 1 (it answers every chat completion with the
# stored answer of part 1 at a cost of microseconds, so the fill measures deja, not the Node fake),
# filled by wrk with distinct requests: each one a miss that deja forwards, answers and stores.
echo "-- memory: $fill_n distinct entries (store in $fill_dir), wrk -t$wrk_threads -c$fill_conc"
saved_up_port="$up_port"
up_port="$nginx_port"
start_deja deja-fill --data-dir "$fill_dir/data" --set server.access_log=false
up_port="$saved_up_port"
fill_pid="$deja_pid"
fill_port="$deja_port"
python3 -c '
import json, sys
req = json.load(open(sys.argv[1], encoding="utf-8"))
req["messages"][-1]["content"] += " (ref @ID@)"
with open(sys.argv[2], "w", encoding="utf-8") as f:
    f.write(json.dumps(req, ensure_ascii=False, separators=(",", ":")))
' "$body" "$tmp/fill-template.json"
sleep 0.5
proc_status "$fill_pid" "$tmp/mem-start.json" >/dev/null
entries_of() {
  stats "$fill_port" | python3 -c 'import json,sys; print(json.load(sys.stdin)["store"]["entries"])'
}
fill_start="$(date +%s.%N)"
GW_TEMPLATE_FILE="$tmp/fill-template.json" GW_FILL_N="$fill_n" GW_FILL_THREADS="$wrk_threads" \
  GW_NONCE="$$" GW_WRK_OUT="$tmp/fill.json" \
  wrk -t"$wrk_threads" -c"$fill_conc" -d"${fill_timeout}s" --timeout 10s -s "$here/fill.lua" \
  "http://127.0.0.1:$fill_port/v1/chat/completions" >"$tmp/fill.txt" 2>&1 &
wrk_pid=$!
pids+=("$wrk_pid")
entries=0
# wrk runs until -d; stop it (SIGINT: it still writes its summary) once deja holds every entry.
while kill -0 "$wrk_pid" 2>/dev/null; do
  sleep 1
  entries="$(entries_of)"
  ((entries >= fill_n)) && break
done
fill_seconds="$(python3 -c "import time; print(round(time.time() - $fill_start, 1))")"
kill -INT "$wrk_pid" 2>/dev/null || true
for _ in $(seq 100); do kill -0 "$wrk_pid" 2>/dev/null || break; sleep 0.1; done
stop "$wrk_pid"
# Misses are stored just after they are answered: wait (bounded) for the last writes.
for _ in $(seq 50); do
  entries="$(entries_of)"
  ((entries >= fill_n)) && break
  sleep 0.2
done
sleep 1
echo "after fill ($entries entries in ${fill_seconds} s): $(proc_status "$fill_pid" "$tmp/mem-filled.json")"
stats "$fill_port" >"$tmp/stats-fill.json"
stop "$fill_pid"
stop "$nginx_pid"
stop "$up_pid"
((entries >= fill_n)) || echo "run.sh: only $entries of $fill_n entries were stored (see $tmp/fill.txt)" >&2

# ---------------------------------------------------------------- report
python3 "$here/report.py" --tmp "$tmp" --out-json "$results/gateway.json" --out-md "$results/gateway.md" \
  --started "$started_at" --load-before "$load_before" --build "$build" --build-type "$build_type" \
  --response-bytes "$response_bytes" --rounds "$wrk_rounds" --wrk-seconds "$wrk_seconds" \
  --wrk-threads "$wrk_threads" --wrk-connections "$wrk_conns" --hits-before "$hits_before" \
  --hits-after "$hits_after" --fill-dir "$fill_base" --entries "$entries" \
  --fill-n "$fill_n" --fill-connections "$fill_conc" --fill-seconds "$fill_seconds"
echo "-- wrote bench/results/gateway.json and bench/results/gateway.md"
cat "$results/gateway.md"
