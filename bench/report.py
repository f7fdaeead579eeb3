#!/usr/bin/env python3
"""Turns one Google Benchmark JSON result into a short markdown report.

Usage: report.py RESULT.json OUT.md [--strict]

The report gives, per benchmark, the median CPU time over the repetitions, its spread, the
throughput, and the ratio of its median to the median of its reference benchmark measured in the
same run (these machines are noisy, so only ratios within one run are comparable across runs).
Conventions (see bench/README.md):
  * A benchmark whose name (before any "/args") ends in "_Ref" is a reference. Each other benchmark
    is compared with the reference that has the same "/args" suffix, or else with the only
    reference of the binary if there is exactly one.
  * User counter "target_ns": the median CPU time must be at most this many nanoseconds.
  * User counter "target_ratio": the time ratio against the reference must be at most this.
With --strict the exit status is 1 when a target is missed. Standard library only.
"""

import json
import os
import statistics
import sys
from collections import OrderedDict

# Keys Google Benchmark itself writes; every other numeric key is a user counter.
STANDARD_KEYS = {
    "name", "family_index", "per_family_instance_index", "run_name", "run_type", "repetitions",
    "repetition_index", "threads", "iterations", "real_time", "cpu_time", "time_unit",
    "aggregate_name", "aggregate_unit", "label", "error_occurred", "error_message",
    "bytes_per_second", "items_per_second", "skipped", "skip_message",
}
TARGET_COUNTERS = ("target_ns", "target_ratio")
NS_PER_UNIT = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}


def fmt_time(ns):
    if ns < 1e3:
        return f"{ns:.1f} ns" if ns < 100 else f"{ns:.0f} ns"
    if ns < 1e6:
        return f"{ns / 1e3:.2f} µs"
    if ns < 1e9:
        return f"{ns / 1e6:.2f} ms"
    return f"{ns / 1e9:.2f} s"


def fmt_rate(per_second, unit):
    for scale, prefix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if per_second >= scale:
            return f"{per_second / scale:.2f} {prefix}{unit}/s"
    return f"{per_second:.0f} {unit}/s"


def fmt_ratio(x):
    return f"{x:.3g}×"


def split_name(run_name):
    """'BM_Sha256_Ref/1024' -> ('BM_Sha256_Ref', '1024'); no args -> (name, '')."""
    base, _, args = run_name.partition("/")
    return base, args


class Result:
    def __init__(self, name):
        self.name = name
        self.time_ns = None       # median CPU time per iteration
        self.real_ns = None       # median wall time per iteration
        self.cv = None            # coefficient of variation of the CPU time, as a fraction
        self.bytes_per_second = None
        self.items_per_second = None
        self.counters = {}
        self.error = None
        self.repetitions = 0


def load(path):
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    results = OrderedDict()
    samples = OrderedDict()  # run_name -> iteration entries, when no aggregates were written.
    for b in doc.get("benchmarks", []):
        run_name = b.get("run_name", b["name"])
        r = results.setdefault(run_name, Result(run_name))
        if b.get("error_occurred") or b.get("skipped"):
            r.error = b.get("error_message") or b.get("skip_message") or "skipped"
            continue
        scale = NS_PER_UNIT.get(b.get("time_unit", "ns"), 1.0)
        if b.get("run_type") == "aggregate":
            agg = b.get("aggregate_name")
            if agg == "median":
                r.time_ns = b["cpu_time"] * scale
                r.real_ns = b["real_time"] * scale
                r.bytes_per_second = b.get("bytes_per_second")
                r.items_per_second = b.get("items_per_second")
                r.counters = {k: v for k, v in b.items()
                              if k not in STANDARD_KEYS and isinstance(v, (int, float))}
                r.repetitions = b.get("repetitions", 0)
            elif agg == "cv" and b.get("aggregate_unit", "percentage") == "percentage":
                r.cv = b["cpu_time"]
        else:
            samples.setdefault(run_name, []).append((b, scale))
    # Runs reported without aggregates (one repetition, or aggregates switched off).
    for run_name, entries in samples.items():
        r = results[run_name]
        if r.time_ns is not None:
            continue
        cpu = [b["cpu_time"] * s for b, s in entries]
        r.time_ns = statistics.median(cpu)
        r.real_ns = statistics.median(b["real_time"] * s for b, s in entries)
        r.repetitions = len(entries)
        if len(cpu) > 1 and statistics.mean(cpu) > 0:
            r.cv = statistics.stdev(cpu) / statistics.mean(cpu)
        for key in ("bytes_per_second", "items_per_second"):
            vals = [b[key] for b, _ in entries if key in b]
            if vals:
                setattr(r, key, statistics.median(vals))
        r.counters = {k: v for k, v in entries[0][0].items()
                      if k not in STANDARD_KEYS and isinstance(v, (int, float))}
    return doc.get("context", {}), results


def find_references(results):
    refs = {}
    for name, r in results.items():
        base, args = split_name(name)
        if base.endswith("_Ref") and r.time_ns:
            refs.setdefault(args, r)
    only = next(iter(refs.values())) if len(refs) == 1 else None
    out = {}
    for name, r in results.items():
        base, args = split_name(name)
        if base.endswith("_Ref"):
            continue
        ref = refs.get(args, only)
        if ref is not None:
            out[name] = ref
    return out


def render(context, results, source):
    refs = find_references(results)
    lines = []
    title = os.path.splitext(os.path.basename(source))[0]
    lines.append(f"# {title}")
    lines.append("")
    ctx = []
    if context.get("date"):
        ctx.append(f"run {context['date']}")
    if context.get("num_cpus"):
        ctx.append(f"{context['num_cpus']} CPUs at {context.get('mhz_per_cpu', '?')} MHz")
    if context.get("load_avg"):
        ctx.append("load average " + ", ".join(f"{x:.2f}" for x in context["load_avg"]))
    if context.get("library_build_type"):
        ctx.append(f"benchmark library built as {context['library_build_type']}")
    if ctx:
        lines.append("Context: " + "; ".join(ctx) + ".")
        lines.append("")
    reps = max((r.repetitions for r in results.values()), default=0)
    lines.append(f"Times are the median CPU time per iteration over {reps} "
                 f"repetition{'s' if reps != 1 else ''}; "
                 "CV is their coefficient of variation. "
                 "\"vs ref\" is that median divided by the reference's median from the same run "
                 "(below 1 = faster than the reference); speedup is its inverse.")
    lines.append("")

    targets = []
    for name, r in results.items():
        for key in TARGET_COUNTERS:
            if key in r.counters:
                targets.append((name, key, r.counters[key]))
    if targets:
        lines.append("Targets:")
        for name, key, value in targets:
            if key == "target_ns":
                lines.append(f"- `{name}`: median at most {fmt_time(value)}")
            else:
                ref = refs.get(name)
                ref_name = f"`{ref.name}`" if ref else "its reference"
                lines.append(f"- `{name}`: at most {value:g}× the time of {ref_name}")
        lines.append("")

    lines.append("| Benchmark | Median | CV | Throughput | vs ref | Speedup | Target |")
    lines.append("|---|---:|---:|---:|---:|---:|---|")
    missed = []
    for name, r in results.items():
        if r.error:
            lines.append(f"| `{name}` | skipped: {r.error} | | | | | |")
            continue
        if r.time_ns is None:
            continue
        cv = f"{100 * r.cv:.1f}%" if r.cv is not None else ""
        if r.bytes_per_second:
            tput = fmt_rate(r.bytes_per_second, "B")
        elif r.items_per_second:
            tput = fmt_rate(r.items_per_second, "items")
        else:
            tput = ""
        base, _ = split_name(name)
        ratio = None
        if base.endswith("_Ref"):
            vs, speed = "reference", ""
        elif name in refs and refs[name].time_ns:
            ratio = r.time_ns / refs[name].time_ns
            vs, speed = fmt_ratio(ratio), fmt_ratio(1 / ratio)
        else:
            vs, speed = "", ""
        verdicts = []
        if "target_ns" in r.counters:
            ok = r.time_ns <= r.counters["target_ns"]
            verdicts.append(("met" if ok else "MISSED") + f" (≤ {fmt_time(r.counters['target_ns'])})")
            if not ok:
                missed.append(name)
        if "target_ratio" in r.counters:
            if ratio is None:
                verdicts.append("no reference")
            else:
                ok = ratio <= r.counters["target_ratio"]
                verdicts.append(("met" if ok else "MISSED") + f" (≤ {r.counters['target_ratio']:g}×)")
                if not ok and name not in missed:
                    missed.append(name)
        lines.append(f"| `{name}` | {fmt_time(r.time_ns)} | {cv} | {tput} | {vs} | {speed} | "
                     f"{'; '.join(verdicts)} |")
    lines.append("")
    if targets:
        lines.append("All targets met." if not missed else
                     "Targets missed: " + ", ".join(f"`{m}`" for m in missed) + ".")
        lines.append("")
    return "\n".join(lines), missed


def main(argv):
    args = [a for a in argv[1:] if not a.startswith("--")]
    strict = "--strict" in argv[1:]
    if len(args) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    context, results = load(args[0])
    text, missed = render(context, results, args[0])
    with open(args[1], "w", encoding="utf-8") as f:
        f.write(text)
    return 1 if strict and missed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
