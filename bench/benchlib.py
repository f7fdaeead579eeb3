"""Helpers shared by the reports of the end-to-end benchmarks (bench/gateway/report.py and
bench/replay/report.py): the common arguments, reading raw outputs, the machine's context, writing
the JSON, and the verdict cell of the markdown tables. Standard library only; no state.

The reports import it with bench/ on sys.path (as bench/semantic_vcache.py imports semantic_eval).
"""

import argparse
import json
import os
import platform
import subprocess

# Arguments every report takes from its run.sh (strings): where the raw outputs are, where the
# results go, and the run's context captured before it started.
COMMON_ARGS = ("tmp", "out-json", "out-md", "started", "load-before", "build", "build-type")


def parser(str_args=(), int_args=()):
    """An ArgumentParser with COMMON_ARGS and the caller's own required string and int arguments."""
    p = argparse.ArgumentParser()
    for name in COMMON_ARGS + tuple(str_args):
        p.add_argument(f"--{name}", required=True)
    for name in int_args:
        p.add_argument(f"--{name}", type=int, required=True)
    return p


def load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def cmd(args):
    """First line of a command's output (stdout then stderr), or None if it cannot run."""
    try:
        out = subprocess.run(args, capture_output=True, text=True, timeout=10)
        return (out.stdout + out.stderr).strip().splitlines()[0]
    except (OSError, subprocess.SubprocessError, IndexError):
        return None


def cpu_model():
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def git_revision(root):
    """Short revision of the checkout at root, "+ uncommitted changes" if dirty; None if not git."""
    rev = cmd(["git", "-C", root, "rev-parse", "--short", "HEAD"])
    dirty = subprocess.run(["git", "-C", root, "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    return f"{rev}{' + uncommitted changes' if dirty else ''}" if rev else None


def load_avg_now():
    """The 1, 5 and 15 minute load averages, as run.sh records them before the run."""
    with open("/proc/loadavg", encoding="utf-8") as f:
        return " ".join(f.read().split()[:3])


def machine_context(a, load_after):
    """The leading keys of a report's "context": the run (from the common arguments a), the machine
    and the binary. Callers append their own keys (key order is kept in the JSON)."""
    return {
        "started": a.started,
        "host": platform.node(),
        "cpus": os.cpu_count(),
        "cpu_model": cpu_model(),
        "kernel": platform.release(),
        "load_avg_before": a.load_before,
        "load_avg_after": load_after,
        "deja": os.path.join(a.build, "deja"),
        "build_type": a.build_type,
    }


def write_json(path, doc, atomic=True):
    """Writes doc indented, with a final newline; atomic: through PATH.tmp and a rename, so that a
    failed run never leaves a truncated results file."""
    target = path + ".tmp" if atomic else path
    with open(target, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
    if atomic:
        os.replace(target, path)


def verdict(ok, target=None):
    """A table's Target cell: "met" or "**MISSED**", followed by " (TARGET)" if given."""
    word = "met" if ok else "**MISSED**"
    return f"{word} ({target})" if target is not None else word
