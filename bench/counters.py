#!/usr/bin/env python3
"""Prints a markdown table of the user counters of a Google Benchmark JSON result (report.py shows
times and targets only), e.g. the memory-per-entry figures of semantic_bench.

Usage: counters.py RESULT.json [NAME_REGEX] [>> OUT.md]
Rows: benchmarks whose run name matches NAME_REGEX (default: all with counters); one value per
benchmark (the median aggregate when repetitions were aggregated, else the first run). Standard
library only.
"""

import json
import re
import sys

SKIP = {"target_ns", "target_ratio"}
STANDARD = {"name", "family_index", "per_family_instance_index", "run_name", "run_type",
            "repetitions", "repetition_index", "threads", "iterations", "real_time", "cpu_time",
            "time_unit", "aggregate_name", "aggregate_unit", "label", "error_occurred",
            "error_message", "bytes_per_second", "items_per_second", "skipped", "skip_message"}


def fmt(v):
    if abs(v) >= 100 or v == int(v):
        return f"{v:,.0f}"
    return f"{v:.3g}"


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    pattern = re.compile(argv[2]) if len(argv) > 2 else None
    with open(argv[1], encoding="utf-8") as f:
        doc = json.load(f)
    rows = {}
    for b in doc.get("benchmarks", []):
        name = b.get("run_name", b["name"])
        if pattern and not pattern.search(name):
            continue
        if b.get("run_type") == "aggregate" and b.get("aggregate_name") != "median":
            continue
        if name in rows and b.get("run_type") != "aggregate":
            continue
        counters = {k: v for k, v in b.items()
                    if k not in STANDARD and k not in SKIP and isinstance(v, (int, float))}
        if counters:
            rows[name] = counters
    keys = []
    for c in rows.values():
        keys.extend(k for k in c if k not in keys)
    print("| Benchmark | " + " | ".join(keys) + " |")
    print("|---|" + "---:|" * len(keys))
    for name, c in rows.items():
        print(f"| `{name}` | " + " | ".join(fmt(c[k]) if k in c else "" for k in keys) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
