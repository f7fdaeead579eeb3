# shellcheck shell=bash disable=SC2034,SC2154  # globals shared with the sourcing run.sh (see below)
# Shell helpers shared by the end-to-end benchmarks bench/gateway/run.sh and bench/replay/run.sh:
# checking the deja binary, starting and stopping processes by PID, waiting for a port, the nginx
# reference server, the run's context. Sourced (not run) after the caller has set `root` (the
# repository) and `set -euo pipefail`. The functions share these globals with the caller:
#   build, deja, build_type   set by resolve_build / check_build
#   tmp                       the caller's temporary directory (logs, nginx prefix)
#   server                    the deja binary under its own name (a symlink in $tmp/bin)
#   pids                      every process still running that cleanup must stop
#   up_port                   the fake upstream's port (start_deja's upstream)
#   wait_port_tries           how many 50 ms waits wait_port allows (default 200, i.e. 10 s)

# resolve_build [BUILD_DIR]: sets build (absolute) and deja; BUILD_DIR is absolute, relative to the
# current directory, or relative to $root (default: build).
resolve_build() {
  build="${1:-build}"
  [[ "$build" = /* ]] || { [[ -d "$build" ]] || build="$root/$build"; }
  build="$(cd "$build" 2>/dev/null && pwd)" || { echo "run.sh: no build directory $1" >&2; exit 1; }
  deja="$build/deja"
}

require_tools() {  # require_tools TOOL...: exit if one is not installed
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null || { echo "run.sh: $tool is not installed" >&2; exit 1; }
  done
}

# check_build ALLOW_STALE_VAR [CMAKE_FLAGS]: exits unless $deja exists, is an optimised build and is
# not older than its sources (each refusal can be overridden: BENCH_ALLOW_DEBUG=1, or
# ALLOW_STALE_VAR=1); sets build_type. CMAKE_FLAGS go in the "build it first" hint.
check_build() {
  local allow_stale_var="$1" cmake_flags="${2:-}" optimised src_root newer
  if [[ ! -x "$deja" ]]; then
    echo "run.sh: $deja not found; build it first:" >&2
    echo "  cmake -S . -B $build -G Ninja${cmake_flags:+ $cmake_flags} && cmake --build $build -j2 --target deja" >&2
    exit 1
  fi
  # Timings of an unoptimised build say nothing about the code, so refuse one unless asked. As in
  # bench/run.sh, the compile commands show the flags deja was really built with (an empty
  # CMAKE_BUILD_TYPE in the cache still means the project's default, RelWithDebInfo).
  build_type="$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$build/CMakeCache.txt" 2>/dev/null || true)"
  build_type="${build_type:-RelWithDebInfo}"
  optimised="$(python3 - "$build/compile_commands.json" <<'PY' 2>/dev/null || echo unknown
import json, re, sys
cmds = [e.get("command", " ".join(e.get("arguments", []))) for e in json.load(open(sys.argv[1]))
        if "/src/server/" in e["file"] and e["file"].endswith(".cc")]
flags = [re.findall(r"(?:^|\s)-O([0-9sgz]*)", c) for c in cmds]
print("yes" if cmds and all(f and f[-1] not in ("0", "g") for f in flags) else "no")
PY
)"
  if [[ "$optimised" != yes && "${BENCH_ALLOW_DEBUG:-0}" != 1 ]]; then
    echo "run.sh: cannot confirm that $deja is an optimised build (-O2/-O3 in" \
      "$build/compile_commands.json); use Release/RelWithDebInfo or set BENCH_ALLOW_DEBUG=1" >&2
    exit 1
  fi
  # A binary older than its sources was not rebuilt (e.g. the build failed): its numbers would be
  # attributed to code it does not contain.
  src_root="$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$build/CMakeCache.txt" 2>/dev/null || true)"
  if [[ -n "$src_root" && -d "$src_root/src" && "${!allow_stale_var:-0}" != 1 ]]; then
    newer="$(find "$src_root/src" "$src_root/include" -newer "$deja" \( -name '*.cc' -o -name '*.h' \) \
      ! -name '*_test*' 2>/dev/null | head -n 3 | tr '\n' ' ')"
    if [[ -n "$newer" ]]; then
      echo "run.sh: $deja is older than some of its sources ($newer); rebuild it" \
        "(or set $allow_stale_var=1)" >&2
      exit 1
    fi
  fi
}

# DEJA_* variables from the caller's shell would change deja's configuration; the benchmarks set
# what they need by flag. deja also reads ./deja.toml, so every deja is started from $tmp.
unset_deja_env() {
  local v
  for v in $(compgen -e | grep '^DEJA_' || true); do unset "$v"; done
}

# data_base_dir CHOSEN FALLBACK: prints CHOSEN if set, else /dev/shm if writable, else FALLBACK.
data_base_dir() {
  if [[ -n "$1" ]]; then
    echo "$1"
  elif [[ -d /dev/shm && -w /dev/shm ]]; then
    echo /dev/shm
  else
    echo "$2"
  fi
}

# link_server NAME: sets server to $tmp/bin/NAME, a symlink to $deja. deja runs under another name,
# so that someone's `pkill deja` or `killall deja` on this shared machine does not stop the
# benchmark half-way.
link_server() {
  mkdir -p "$tmp/bin"
  ln -s "$deja" "$tmp/bin/$1"
  server="$tmp/bin/$1"
}

pids=()
stop_all() {  # SIGTERM to every PID in pids, bounded wait, then SIGKILL (for the EXIT trap)
  local pid
  for pid in "${pids[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
}

# Stops one process we started (SIGTERM, bounded wait, then SIGKILL) and forgets its PID, so that
# the cleanup never signals a later process that happens to get the same PID.
stop() {
  local pid="$1" p kept=()
  for p in "${pids[@]}"; do [[ "$p" == "$pid" ]] || kept+=("$p"); done
  pids=("${kept[@]}")
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
}

# wait_port FILE PID: waits (bounded: wait_port_tries x 50 ms) until FILE has a line
# "... listening on 127.0.0.1:PORT" and prints PORT.
wait_port_tries=200
wait_port() {
  local file="$1" pid="$2" port=""
  for _ in $(seq "$wait_port_tries"); do
    port="$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' "$file" | head -n1)"
    [[ -n "$port" ]] && { echo "$port"; return 0; }
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  echo "run.sh: no 'listening on' line in $file" >&2
  cat "$file" "${file%.out}.err" >&2 2>/dev/null || true
  return 1
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

start_upstream() {  # starts tests/fake_upstream; sets up_pid, up_port
  node "$root/tests/fake_upstream/server.mjs" >"$tmp/upstream.out" 2>"$tmp/upstream.err" &
  up_pid=$!
  pids+=("$up_pid")
  up_port="$(wait_port "$tmp/upstream.out" "$up_pid")"
}

# start_deja NAME ARGS...: `$server serve` on a free loopback port with the fake upstream (up_port)
# for both providers, plus ARGS, from $tmp; output in $tmp/NAME.out|err. Sets deja_pid, deja_port.
start_deja() {
  local name="$1"
  shift
  (cd "$tmp" && exec "$server" serve --listen 127.0.0.1:0 --upstream "http://127.0.0.1:$up_port" \
    --anthropic-upstream "http://127.0.0.1:$up_port" "$@") >"$tmp/$name.out" 2>"$tmp/$name.err" &
  deja_pid=$!
  pids+=("$deja_pid")
  deja_port="$(wait_port "$tmp/$name.out" "$deja_pid")"
}

# start_nginx HEADER CACHE_MAX LOCATION: nginx on a free port, serving $tmp/www (prefix $tmp/nginx),
# with open_file_cache max=CACHE_MAX and the server block's LOCATION line; HEADER is the config's
# first comment. Sets nginx_port, nginx_pid; the caller waits until it answers.
start_nginx() {
  local header="$1" cache_max="$2" location="$3" user_line=""
  nginx_port="$(free_port)"
  mkdir -p "$tmp/nginx"
  [[ "$(id -u)" == 0 ]] && user_line="user nobody nogroup;"
  cat >"$tmp/nginx/nginx.conf" <<EOF
# $header
daemon off;
master_process on;
$user_line
worker_processes 2;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  default_type application/json;
  client_body_temp_path $tmp/nginx/body;
  keepalive_requests 10000000;
  keepalive_timeout 60s;
  # What a production static server would do: no open()/fstat() per request, sendfile.
  open_file_cache max=$cache_max inactive=60s;
  open_file_cache_valid 60s;
  sendfile on;
  tcp_nopush on;
  server {
    listen 127.0.0.1:$nginx_port;
    root $tmp/www;
    # The static module refuses POST with 405; answer it with the file instead (method -> GET).
    $location
  }
}
EOF
  nginx -e "$tmp/nginx/error.log" -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" >"$tmp/nginx/stdout" 2>&1 &
  nginx_pid=$!
  pids+=("$nginx_pid")
}

cpu_ticks() {  # cpu_ticks PID...: CPU time (utime + stime, all threads) of the PIDs, in clock ticks
  local p t=0 v
  for p in "$@"; do
    v="$(sed 's/^.*) //' "/proc/$p/stat" | awk '{print $12 + $13}')" || v=0
    t=$((t + v))
  done
  echo "$t"
}

mark_started() {  # sets started_at (UTC) and load_before (load averages), for the report's context
  started_at="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
}
