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

# Timings of an unoptimised build say nothing about the code, so refuse one unless asked.
build_type="$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$build/CMakeCache.txt" 2>/dev/null || true)"
case "$build_type" in
  Release | RelWithDebInfo | MinSizeRel) ;;
  *)
    if [[ "${BENCH_ALLOW_DEBUG:-0}" != 1 ]]; then
      echo "run.sh: $build is a '${build_type:-unset}' build; benchmark a Release or" \
        "RelWithDebInfo build (or set BENCH_ALLOW_DEBUG=1)" >&2
      exit 1
    fi
    ;;
esac

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
