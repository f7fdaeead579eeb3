#!/usr/bin/env bash
# Runs deja's Google Benchmark binaries and writes bench/results/NAME.json (raw) and NAME.md (the
# report: medians, throughput, ratios against the reference measured in the same run, targets).
#
# Usage: bench/run.sh [BUILD_DIR] [NAME...]
#   BUILD_DIR  CMake build directory (default: build); binaries are BUILD_DIR/bench/*_bench.
#   NAME       run only these benchmarks, e.g. hash_bench (default: all).
# Environment:
#   BENCH_REPETITIONS  repetitions per benchmark (default 5); the report uses their median.
#   BENCH_MIN_TIME     --benchmark_min_time value per repetition (default: the library's).
#   BENCH_FILTER       --benchmark_filter regex (default: all benchmarks of each binary).
#   BENCH_ALLOW_DEBUG  set to 1 to allow an unoptimised build (results are then meaningless).
# See bench/README.md for the naming convention that marks references and targets.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-build}"
if [[ $# -gt 0 ]]; then shift; fi
reps="${BENCH_REPETITIONS:-5}"
results="$root/bench/results"

if [[ ! -d "$build/bench" ]]; then
  echo "run.sh: no $build/bench; configure and build first, e.g." >&2
  echo "  cmake -S . -B $build -G Ninja -DCMAKE_BUILD_TYPE=Release && cmake --build $build" >&2
  exit 1
fi

# Timings of an unoptimised build say nothing about the code, so refuse one unless asked. The
# compile commands show the flags the benchmarks were really built with (an empty
# CMAKE_BUILD_TYPE in the cache still means the project's default, RelWithDebInfo).
optimised="$(python3 - "$build/compile_commands.json" <<'PY' 2>/dev/null || echo unknown
import json, re, sys
cmds = [e.get("command", " ".join(e.get("arguments", []))) for e in json.load(open(sys.argv[1]))
        if e["file"].endswith("_bench.cc")]
flags = [re.findall(r"(?:^|\s)-O([0-9sgz]*)", c) for c in cmds]
print("yes" if cmds and all(f and f[-1] not in ("0", "g") for f in flags) else "no")
PY
)"
if [[ "$optimised" != yes && "${BENCH_ALLOW_DEBUG:-0}" != 1 ]]; then
  if [[ "$optimised" == no ]]; then
    echo "run.sh: the benchmarks in $build are not built with optimisation (-O2/-O3); use a" \
      "Release or RelWithDebInfo build (or set BENCH_ALLOW_DEBUG=1)" >&2
  else
    echo "run.sh: cannot tell how $build was built (no compile_commands.json); set" \
      "BENCH_ALLOW_DEBUG=1 to run anyway" >&2
  fi
  exit 1
fi

bins=()
if [[ $# -gt 0 ]]; then
  for name in "$@"; do
    bin="$build/bench/$name"
    [[ -x "$bin" ]] || { echo "run.sh: $bin not found or not executable" >&2; exit 1; }
    bins+=("$bin")
  done
else
  for bin in "$build"/bench/*_bench; do
    [[ -x "$bin" ]] && bins+=("$bin")
  done
fi
if [[ ${#bins[@]} -eq 0 ]]; then
  echo "run.sh: no *_bench binaries in $build/bench; build them first" >&2
  exit 1
fi

mkdir -p "$results"
args=(--benchmark_repetitions="$reps" --benchmark_report_aggregates_only=true)
[[ -n "${BENCH_MIN_TIME:-}" ]] && args+=(--benchmark_min_time="$BENCH_MIN_TIME")
[[ -n "${BENCH_FILTER:-}" ]] && args+=(--benchmark_filter="$BENCH_FILTER")

for bin in "${bins[@]}"; do
  name="$(basename "$bin")"
  # A binary older than its source was not rebuilt (e.g. the build failed): its numbers would be
  # attributed to code it does not contain.
  if [[ "$root/bench/$name.cc" -nt "$bin" ]]; then
    echo "run.sh: $bin is older than bench/$name.cc; rebuild it first" >&2
    exit 1
  fi
  json="$results/$name.json"
  md="$results/$name.md"
  echo "== $name (${reps} repetitions)"
  # Console output for the person watching; JSON to the file the report reads. Write to a temporary
  # file first so an interrupted run does not leave a truncated result behind.
  "$bin" "${args[@]}" --benchmark_out="$json.tmp" --benchmark_out_format=json
  mv "$json.tmp" "$json"
  python3 "$root/bench/report.py" "$json" "$md"
  echo "-- wrote ${json#"$root"/} and ${md#"$root"/}"
  cat "$md"
done
