#!/usr/bin/env bash
# Test-mode (cassette) benchmarks, end to end over loopback. Writes bench/results/replay.json (every
# figure and the run's context) and bench/results/replay.md (the short table). See bench/README.md,
# section "Replay benchmarks".
#
# Usage: bash bench/replay/run.sh [BUILD_DIR]     (BUILD_DIR holds the `deja` binary; default build)
#
#   1. A 2,000-record cassette, recorded by `deja serve --mode record` from 2,000 generated requests
#      (gen_requests.py: chat completions and Anthropic messages, prompts of 50-500 words, about a
#      third streamed) answered by the fake upstream (tests/fake_upstream): the file is exactly what
#      deja writes. The recording's wall time is reported too.
#   2. Replay of all 2,000 requests by `deja serve --mode replay` (client.mjs: keep-alive, a few
#      concurrent connections), against nginx serving the same 2,000 answers as static files to the
#      same client with the same request bodies, alternating, in the same run: total wall time,
#      client-side latency and (deja) latency_us of the access log, median / p90 / p99; ratios
#      deja / nginx. Target: median server-side latency <= 200 µs.
#   3. Start-up with a 10,000-record cassette of the same mix, and with one of 10,000 records none
#      of which is streamed (both recorded in live mode into a data directory and converted by
#      `deja cassette import`, which is faster for 10k records than recording them): time from exec to
#      the "listening" line and to the end of the first replayed answer, and deja's CPU time,
#      median of several runs, against a 1-record cassette in the same run (startup.py). Target:
#      <= 300 ms to listening.
#
# Environment (defaults in brackets):
#   RP_N [2000]  RP_STARTUP_N [10000]  RP_ROUNDS [5] (replay rounds per server)
#   RP_CONCURRENCY [4] (client connections)  RP_STARTUP_RUNS [7]
#   RP_DIR [/dev/shm if writable]  where cassettes and the data directory live (record mode
#                                  fdatasyncs its journal per record: on a disk that dominates)
#   RP_KEEP_TMP=1  keep the temporary directory    RP_ALLOW_STALE=1  BENCH_ALLOW_DEBUG=1 (as gateway)
# Every process it starts is stopped by PID on exit. Loopback only.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
here="$root/bench/replay"
# shellcheck source=bench/lib.sh
source "$root/bench/lib.sh"  # process start/stop by PID, wait_port, nginx, build checks
resolve_build "${1:-}"
results="$root/bench/results"

n="${RP_N:-2000}"
startup_n="${RP_STARTUP_N:-10000}"
rounds="${RP_ROUNDS:-5}"
conc="${RP_CONCURRENCY:-4}"
startup_runs="${RP_STARTUP_RUNS:-7}"

require_tools nginx node python3 curl
check_build RP_ALLOW_STALE -DCMAKE_BUILD_TYPE=Release
unset_deja_env

tmp="$(mktemp -d /tmp/rpbench.XXXXXX)"
chmod 0755 "$tmp"  # nginx workers (user nobody when started as root) read the static files here
data_base="$(data_base_dir "${RP_DIR:-}" "$tmp")"
cas="$(mktemp -d "$data_base/rpbench-data.XXXXXX")"
link_server rpbench-server
wait_port_tries=400  # 20 s to see a "listening" line (gateway: 10 s)

cleanup() {
  stop_all
  if [[ "${RP_KEEP_TMP:-0}" == 1 ]]; then
    echo "run.sh: kept $tmp and $cas" >&2
  else
    rm -rf "$tmp" "$cas"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

client() {  # client PORT REQUESTS OUT.json [client.mjs flags...]
  local port="$1" reqs="$2" out="$3"
  shift 3
  timeout 600 node "$here/client.mjs" --port "$port" --requests "$reqs" --out "$out" \
    --concurrency "$conc" "$@"
}

count_records() {
  python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["records"]))' "$1"
}

echo "== replay benchmarks: $deja ($build_type), temp $tmp, cassettes in $cas"
mark_started

python3 "$here/gen_requests.py" --n "$n" --seed 1 --out "$tmp/requests.jsonl"
python3 "$here/gen_requests.py" --n "$startup_n" --seed 2 --out "$tmp/requests-startup.jsonl"
head -n 1 "$tmp/requests-startup.jsonl" >"$tmp/first-startup.jsonl"
cp "$tmp/first-startup.jsonl" "$tmp/first-startup.json"  # one JSON object: startup.py's request

start_upstream

# ---------------------------------------------------------------- 1. record the cassette
cassette="$cas/replay-$n.json"
echo "-- recording $n requests (record mode, $conc connections)"
start_deja record --mode record --cassette "$cassette" --set server.access_log=false
t0="$(date +%s%N)"
client "$deja_port" "$tmp/requests.jsonl" "$tmp/record.json"
record_ms="$(( ($(date +%s%N) - t0) / 1000000 ))"
stop "$deja_pid"
recorded="$(count_records "$cassette")"
cassette_bytes="$(stat -c %s "$cassette")"
echo "recorded $recorded records in $record_ms ms, $cassette_bytes bytes"
((recorded == n)) || { echo "run.sh: the cassette has $recorded records, not $n" >&2; exit 1; }

# ---------------------------------------------------------------- 2. replay vs nginx
echo "-- replay: deja --mode replay vs nginx static files, $rounds rounds each, $conc connections"
start_deja replay --mode replay --cassette "$cassette"
replay_pid="$deja_pid"
replay_port="$deja_port"
# Warm-up: every request must be a replayed hit; the answers become nginx's files.
client "$replay_port" "$tmp/requests.jsonl" "$tmp/replay-warm.json" --expect-cache hit \
  --save-dir "$tmp/www/r"
chmod -R a+rX "$tmp/www"

# shellcheck disable=SC2016  # $uri is nginx's, literal
start_nginx "Generated by bench/replay/run.sh: the reference static server (same answers as files)." \
  4096 'location /r/ { error_page 405 =200 $uri; }'
for _ in $(seq 100); do
  curl -sS --max-time 2 -o /dev/null -X POST -d x "http://127.0.0.1:$nginx_port/r/0" 2>/dev/null && break
  kill -0 "$nginx_pid" 2>/dev/null || { cat "$tmp/nginx/error.log" >&2; exit 1; }
  sleep 0.05
done
# nginx warm-up, which also checks that it answers every request with deja's bytes.
client "$nginx_port" "$tmp/requests.jsonl" "$tmp/nginx-warm.json" --nginx --expect-bodies "$tmp/www/r"
nginx_pids=("$nginx_pid" $(pgrep -P "$nginx_pid" || true))
clk_tck="$(getconf CLK_TCK)"

for r in $(seq "$rounds"); do
  if ((r % 2 == 1)); then order=(deja nginx); else order=(nginx deja); fi
  for target in "${order[@]}"; do
    if [[ $target == deja ]]; then
      p=("$replay_pid")
      lines_before="$(wc -l <"$tmp/replay.err")"
      t0="$(cpu_ticks "${p[@]}")"
      client "$replay_port" "$tmp/requests.jsonl" "$tmp/round-deja-$r.json" --expect-cache hit
      echo "$(($(cpu_ticks "${p[@]}") - t0)) $clk_tck" >"$tmp/cpu-deja-$r.txt"
      kill -0 "$replay_pid" 2>/dev/null || { tail "$tmp/replay.err" >&2; exit 1; }
      # The access-log lines of this round (stderr is written with one write(2) per line).
      tail -n +"$((lines_before + 1))" "$tmp/replay.err" | head -n "$n" >"$tmp/access-deja-$r.jsonl"
    else
      p=("${nginx_pids[@]}")
      t0="$(cpu_ticks "${p[@]}")"
      client "$nginx_port" "$tmp/requests.jsonl" "$tmp/round-nginx-$r.json" --nginx
      echo "$(($(cpu_ticks "${p[@]}") - t0)) $clk_tck" >"$tmp/cpu-nginx-$r.txt"
    fi
    echo "round $r $target: $(python3 -c 'import json,sys; print("%.0f ms" % json.load(open(sys.argv[1]))["wall_ms"])' "$tmp/round-$target-$r.json")"
  done
done
stop "$nginx_pid"
stop "$replay_pid"

# ---------------------------------------------------------------- 3. start-up, 10k records
# The 10k cassettes are made by live mode into a data directory, then `deja cassette import` (no
# per-record fsync; record mode itself now appends to a journal, linear but synced per record).
make_big() {  # make_big NAME REQUESTS.jsonl: writes $cas/NAME.json, sets made_bytes to its size
  local name="$1" reqs="$2" records
  start_deja "live-$name" --data-dir "$cas/data-$name" --set server.access_log=false \
    --set cache.tenant_isolation=shared
  client "$deja_port" "$reqs" "$tmp/fill-$name.json"
  stop "$deja_pid"
  "$server" cassette import "$cas/$name.json" --data-dir "$cas/data-$name" --shared \
    >"$tmp/import-$name.out" 2>&1 || { cat "$tmp/import-$name.out" >&2; exit 1; }
  rm -rf "$cas/data-$name"
  records="$(count_records "$cas/$name.json")"
  ((records == startup_n)) || { echo "run.sh: $name.json has $records records" >&2; exit 1; }
  made_bytes="$(stat -c %s "$cas/$name.json")"
}
echo "-- start-up: $startup_n-record cassettes (live mode + deja cassette import) vs 1 record"
python3 "$here/gen_requests.py" --n "$startup_n" --seed 2 --no-stream --out "$tmp/requests-startup-json.jsonl"
head -n 1 "$tmp/requests-startup-json.jsonl" >"$tmp/first-startup-json.json"
make_big "startup-$startup_n" "$tmp/requests-startup.jsonl"
big_bytes="$made_bytes"
make_big "startup-$startup_n-json" "$tmp/requests-startup-json.jsonl"
json_bytes="$made_bytes"
echo "cassettes: $big_bytes bytes (mixed), $json_bytes bytes (no streams)"
small="$cas/startup-1.json"
start_deja record-1 --mode record --cassette "$small" --set server.access_log=false
client "$deja_port" "$tmp/first-startup.jsonl" "$tmp/record-1.json"
stop "$deja_pid"
stop "$up_pid"
# Arms: the mixed and the stream-free 10k cassettes, the 1-record reference, and the reference
# with 4 upstream threads instead of the default 256 (what the pool's start costs).
timeout 1200 python3 "$here/startup.py" --deja "$server" --cwd "$tmp" --runs "$startup_runs" \
  --out "$tmp/startup.json" --arm "big:$cas/startup-$startup_n.json:$tmp/first-startup.json" \
  --arm "json:$cas/startup-$startup_n-json.json:$tmp/first-startup-json.json" \
  --arm "ref:$small:$tmp/first-startup.json" \
  --arm "ref4:$small:$tmp/first-startup.json:--set server.upstream_threads=4"

# ---------------------------------------------------------------- report
python3 "$here/report.py" --tmp "$tmp" --out-json "$results/replay.json" --out-md "$results/replay.md" \
  --started "$started_at" --load-before "$load_before" --build "$build" --build-type "$build_type" \
  --n "$n" --rounds "$rounds" --concurrency "$conc" --record-ms "$record_ms" \
  --cassette-bytes "$cassette_bytes" --startup-n "$startup_n" --startup-bytes "$big_bytes" \
  --startup-json-bytes "$json_bytes" \
  --startup-runs "$startup_runs" --data-dir "$data_base"
echo "-- wrote bench/results/replay.json and bench/results/replay.md"
cat "$results/replay.md"
