#!/usr/bin/env python3
"""Measures `deja serve --mode replay` start-up, for bench/replay/run.sh. Standard library only.

    python3 startup.py --deja BIN --cwd DIR --runs 7 --out OUT.json \
        --arm big:CASSETTE:REQUEST.json --arm ref:CASSETTE:REQUEST.json[:EXTRA DEJA ARGS]

For each run and each arm (the arms alternate, and their order flips every run, so a drift of the
machine's speed hits both alike): time from just before exec to the "deja listening on" line on
stdout, and to the end of the first replayed answer (REQUEST.json: {"path", "headers", "body"},
sent on a new connection as soon as the line is read; it must come back 200 with X-Deja-Cache: hit);
then deja's CPU time so far (user + system, all threads: unlike the wall times it does not grow when
other processes take the CPUs) and VmRSS/VmHWM; then SIGTERM and a bounded wait.
"""

import argparse
import http.client
import json
import os
import signal
import statistics
import subprocess
import time


def rss_kib(pid):
    out = {}
    with open(f"/proc/{pid}/status", encoding="utf-8") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                out[k] = int(v.split()[0])
    return out


def cpu_ms(pid):
    """CPU time of all of pid's threads so far, from schedstat (ns; /proc/PID/stat counts ticks of
    10 ms). Threads that already exited are left out: deja's start-up threads all still run."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat", encoding="utf-8") as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return total / 1e6


def one_run(deja, cwd, cassette, request, extra, timeout_s=30):
    body = json.dumps(request["body"], separators=(",", ":")).encode()
    t0 = time.perf_counter_ns()
    proc = subprocess.Popen(
        [deja, "serve", "--mode", "replay", "--cassette", cassette, "--listen", "127.0.0.1:0",
         *extra],
        cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = proc.stdout.readline()  # blocks until the line (or EOF if deja failed)
        t_listen = time.perf_counter_ns()
        if "listening on" not in line:
            raise RuntimeError(f"deja printed {line!r} instead of 'listening on' (exit {proc.poll()})")
        port = int(line.strip().rsplit(":", 1)[1])
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout_s)
        conn.request("POST", request["path"], body=body, headers=request["headers"])
        resp = conn.getresponse()
        data = resp.read()
        t_first = time.perf_counter_ns()
        cache = resp.getheader("X-Deja-Cache", "")
        conn.close()
        if resp.status != 200 or cache != "hit":
            raise RuntimeError(f"first request: {resp.status} X-Deja-Cache {cache!r}: {data[:300]!r}")
        mem = rss_kib(proc.pid)
        mem["cpu_ms"] = cpu_ms(proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return {"listen_ms": (t_listen - t0) / 1e6, "first_answer_ms": (t_first - t0) / 1e6,
            "answer_bytes": len(data), **mem}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--deja", required=True)
    p.add_argument("--cwd", required=True)
    p.add_argument("--runs", type=int, default=7)
    p.add_argument("--out", required=True)
    p.add_argument("--arm", action="append", required=True, help="NAME:CASSETTE:REQUEST.json")
    a = p.parse_args()
    arms = []
    for spec in a.arm:
        name, cassette, req, *extra = spec.split(":", 3)
        with open(req, encoding="utf-8") as f:
            arms.append((name, cassette, json.load(f), extra[0].split() if extra else []))
    # One untimed run per arm first: the page cache then holds the binary, its libraries and the
    # cassettes for every timed run alike.
    for name, cassette, req, extra in arms:
        one_run(a.deja, a.cwd, cassette, req, extra)
    runs = {arm[0]: [] for arm in arms}
    for r in range(a.runs):
        order = arms if r % 2 == 0 else list(reversed(arms))
        for name, cassette, req, extra in order:
            res = one_run(a.deja, a.cwd, cassette, req, extra)
            runs[name].append(res)
            print(f"run {r + 1} {name}: listening {res['listen_ms']:.1f} ms, first answer "
                  f"{res['first_answer_ms']:.1f} ms, CPU {res['cpu_ms']:.0f} ms, VmHWM {res['VmHWM'] / 1024:.1f} MiB", flush=True)
    out = {"runs": runs, "median": {}}
    for name, rs in runs.items():
        out["median"][name] = {k: statistics.median(x[k] for x in rs)
                               for k in ("listen_ms", "first_answer_ms", "cpu_ms", "VmRSS", "VmHWM")}
    with open(a.out, "w", encoding="utf-8") as f:
        json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
