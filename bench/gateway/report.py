#!/usr/bin/env python3
"""Collects the raw outputs of bench/gateway/run.sh into bench/results/gateway.json and gateway.md.

Called by run.sh (see its arguments there); standard library only. The figures:
  * hit throughput: median over the rounds of wrk's requests/s, p50 and p99 for deja and nginx, and
    the median of the per-round ratios deja/nginx (each round measures both, back to back);
  * miss latency: medians of the per-arm latencies and their differences (client.mjs);
  * memory: /proc/PID/status of the filled deja (KiB in the JSON, MiB in the table).
"""

import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchlib import (cmd, git_revision, load, load_avg_now, machine_context,  # noqa: E402
                      parser, verdict, write_json)

TARGET_RATIO = 0.5          # deja requests/s at least half of nginx's
TARGET_ADDED_US = 300.0     # median added latency of a miss
TARGET_ANON_MIB = 64.0      # RssAnon with 100k entries


def med(values):
    return statistics.median(values) if values else None


def main():
    p = parser(str_args=("fill-dir",),
               int_args=("response-bytes", "rounds", "wrk-seconds", "wrk-threads", "wrk-connections",
                         "hits-before", "hits-after", "entries", "fill-n", "fill-connections"))
    p.add_argument("--fill-seconds", type=float, required=True)
    a = p.parse_args()
    t = a.tmp

    # ------------------------------------------------------------ 1. hit throughput
    rounds = []
    for r in range(1, a.rounds + 1):
        d = load(os.path.join(t, f"wrk-deja-{r}.json"))
        n = load(os.path.join(t, f"wrk-nginx-{r}.json"))
        for name, w in (("deja", d), ("nginx", n)):
            with open(os.path.join(t, f"cpu-{name}-{r}.txt"), encoding="utf-8") as f:
                ticks, hz = (int(x) for x in f.read().split())
            w["server_cpu_s"] = ticks / hz
            w["server_cpu_us_per_request"] = ticks / hz * 1e6 / max(w["requests"], 1)
        rounds.append({"round": r, "deja": d, "nginx": n,
                       "ratio_rps": d["requests_per_s"] / n["requests_per_s"],
                       "ratio_cpu_per_request": d["server_cpu_us_per_request"] /
                       n["server_cpu_us_per_request"]})

    def side(name):
        return {
            "requests_per_s": med([x[name]["requests_per_s"] for x in rounds]),
            "p50_us": med([x[name]["latency_us"]["p50"] for x in rounds]),
            "p99_us": med([x[name]["latency_us"]["p99"] for x in rounds]),
            "server_cpu_us_per_request": med([x[name]["server_cpu_us_per_request"]
                                              for x in rounds]),
            "errors": sum(sum(x[name]["errors"].values()) for x in rounds),
        }

    deja_side, nginx_side = side("deja"), side("nginx")
    ratio = med([x["ratio_rps"] for x in rounds])
    wrk_requests = sum(x["deja"]["requests"] for x in rounds)
    hits_counted = a.hits_after - a.hits_before
    throughput = {
        "setup": {
            "tool": "wrk", "threads": a.wrk_threads, "connections": a.wrk_connections,
            "seconds_per_round": a.wrk_seconds, "rounds": a.rounds,
            "request": "POST /v1/chat/completions, bench/gateway/request.json (1.1 KB), "
                       "Authorization: Bearer, keep-alive",
            "response_bytes": a.response_bytes,
            "deja": "one cached entry, server.access_log=false, default io_threads (one per core)",
            "nginx": "worker_processes 2, access_log off, same bytes as a static file, POST answered "
                     "via error_page 405 =200 $uri, keepalive_requests 1e7, open_file_cache, "
                     "sendfile on, tcp_nopush on",
        },
        "rounds": rounds,
        "deja": deja_side,
        "nginx": nginx_side,
        "ratio_rps": ratio,
        "ratio_p50": deja_side["p50_us"] / nginx_side["p50_us"],
        "ratio_p99": deja_side["p99_us"] / nginx_side["p99_us"],
        "ratio_cpu_per_request": med([x["ratio_cpu_per_request"] for x in rounds]),
        "deja_hits_counted": hits_counted,
        "wrk_requests_to_deja": wrk_requests,
        "target_ratio_rps": TARGET_RATIO,
        "met": ratio >= TARGET_RATIO,
    }

    # ------------------------------------------------------------ 2. miss latency
    miss = load(os.path.join(t, "miss.json"))
    added = miss["arms"]["deja_miss"]["added_p50_us"]
    miss_out = {
        "setup": "sequential requests, one keep-alive connection per arm (Node http.Agent), unique "
                 "bodies (the request of part 1 with a distinct suffix), arms interleaved with a "
                 "rotating order; time from sending to the last byte",
        **miss,
        "target_added_p50_us": TARGET_ADDED_US,
        "met": added <= TARGET_ADDED_US,
    }

    # ------------------------------------------------------------ 3. memory
    start = load(os.path.join(t, "mem-start.json"))
    filled = load(os.path.join(t, "mem-filled.json"))
    try:
        fill = load(os.path.join(t, "fill.json"))
    except (OSError, ValueError):
        fill = {}  # wrk did not write its summary
    stats_fill = load(os.path.join(t, "stats-fill.json"))
    anon_mib = filled["RssAnon"] / 1024
    fill_rate = a.entries / a.fill_seconds if a.fill_seconds > 0 else None
    memory = {
        "setup": f"a fresh deja (access log off) filled through HTTP by wrk -t{a.wrk_threads} "
                 f"-c{a.fill_connections} with distinct chat completions (bench/gateway/fill.lua): "
                 f"each a miss forwarded to the nginx of part 1 (which answers with the stored "
                 f"answer) and stored; store in {a.fill_dir}",
        "entries": a.entries,
        "requested": a.fill_n,
        "fill_seconds": a.fill_seconds,
        "fill_entries_per_s": fill_rate,
        "store": stats_fill.get("store"),
        "fill": fill,
        "status_kib_at_start": start,
        "status_kib_filled": filled,
        "rss_anon_mib": anon_mib,
        "target_rss_anon_mib": TARGET_ANON_MIB,
        "met": anon_mib <= TARGET_ANON_MIB and a.entries >= a.fill_n,
    }

    # The sources the binary was built from: the build's CMAKE_HOME_DIRECTORY, described by its git
    # revision, or by $GW_SOURCE_LABEL (e.g. for a build of a `git archive` export).
    source_dir = None
    try:
        with open(os.path.join(a.build, "CMakeCache.txt"), encoding="utf-8") as f:
            for line in f:
                if line.startswith("CMAKE_HOME_DIRECTORY:INTERNAL="):
                    source_dir = line.split("=", 1)[1].strip()
    except OSError:
        pass
    source_label = os.environ.get("GW_SOURCE_LABEL") or (
        git_revision(source_dir) if source_dir and os.path.isdir(os.path.join(source_dir, ".git"))
        else None) or "unknown"
    load_after = load_avg_now()
    doc = {
        "context": {
            **machine_context(a, load_after),
            "source_dir": source_dir,
            "source_revision": source_label,
            "deja_binary_built": time.strftime(
                "%Y-%m-%dT%H:%M:%SZ", time.gmtime(os.path.getmtime(os.path.join(a.build, "deja")))),
            "wrk": cmd(["wrk", "--version"]),
            "nginx": cmd(["nginx", "-v"]),
            "node": cmd(["node", "--version"]),
            "note": "deja, nginx, wrk, the client and the fake upstream share the same CPUs",
        },
        "hit_throughput": throughput,
        "miss_latency": miss_out,
        "memory_100k": memory,
    }
    write_json(a.out_json, doc)

    # ------------------------------------------------------------ markdown
    def us(x):
        return f"{x:.0f} µs" if x >= 100 else f"{x:.1f} µs"

    c = doc["context"]
    arms = miss["arms"]
    L = []
    L.append("# gateway")
    L.append("")
    L.append(f"Context: run {a.started}; {c['cpus']} CPUs ({c['cpu_model']}); load average "
             f"{a.load_before} before, {load_after} after; deja {c['build_type']} built "
             f"{c['deja_binary_built']} from {c['source_revision']}; {c['nginx']}; {c['wrk']}; node {c['node']}. Everything (deja, "
             f"nginx, wrk, the Node client and fake upstream) shares these CPUs, over loopback. "
             f"Produced by `bash bench/gateway/run.sh`; raw figures in `gateway.json`.")
    L.append("")
    L.append("| Benchmark | deja | reference | deja / reference | Target |")
    L.append("|---|---:|---:|---:|---|")
    L.append(f"| Exact hit, requests/s (wrk -t{a.wrk_threads} -c{a.wrk_connections}) | "
             f"{deja_side['requests_per_s']:,.0f} | nginx static: {nginx_side['requests_per_s']:,.0f} | "
             f"{ratio:.2f}× | {verdict(throughput['met'], f'≥ {TARGET_RATIO}×')} |")
    L.append(f"| Exact hit, p50 latency | {us(deja_side['p50_us'])} | {us(nginx_side['p50_us'])} | "
             f"{throughput['ratio_p50']:.2f}× | |")
    L.append(f"| Exact hit, p99 latency | {us(deja_side['p99_us'])} | {us(nginx_side['p99_us'])} | "
             f"{throughput['ratio_p99']:.2f}× | |")
    L.append(f"| Exact hit, server CPU time per request | "
             f"{us(deja_side['server_cpu_us_per_request'])} | "
             f"{us(nginx_side['server_cpu_us_per_request'])} | "
             f"{throughput['ratio_cpu_per_request']:.2f}× | |")
    L.append(f"| Miss, median latency (stored) | {us(arms['deja_miss']['p50'])} | "
             f"upstream direct: {us(arms['direct']['p50'])} | "
             f"+{us(added)} | {verdict(miss_out['met'], f'≤ +{TARGET_ADDED_US:.0f} µs')} |")
    L.append(f"| Miss, median latency (`Cache-Control: no-store`) | "
             f"{us(arms['deja_miss_no_store']['p50'])} | {us(arms['direct']['p50'])} | "
             f"+{us(arms['deja_miss_no_store']['added_p50_us'])} | |")
    L.append(f"| RssAnon with {a.entries:,} entries | {anon_mib:.1f} MiB | | | "
             f"{verdict(memory['met'], f'≤ {TARGET_ANON_MIB:.0f} MiB')} |")
    L.append("")
    L.append("Details:")
    per_round = ", ".join(f"{x['ratio_rps']:.2f}" for x in rounds)
    L.append(f"- Exact hit: {a.rounds} rounds of {a.wrk_seconds} s per server, alternating; medians "
             f"over rounds, ratio = median of the per-round ratios "
             f"({per_round}). Same {a.response_bytes}-byte "
             f"answer from both; deja with `server.access_log=false`. Server CPU time per "
             f"request = CPU time (user + system, all threads) of deja, or of nginx's master and "
             f"workers, during a round divided by the requests wrk completed: it leaves out the "
             f"time the server waited for a CPU, so it moves less with the machine's load than "
             f"requests/s do. deja counted "
             f"{hits_counted:,} hits for {wrk_requests:,} completed wrk requests; wrk errors: deja "
             f"{deja_side['errors']}, nginx {nginx_side['errors']}.")
    L.append(f"- Miss: {miss['rounds']} rounds (after {miss['warmup']} warm-up), each a request "
             f"with a unique body to the upstream directly, through deja (stored), and through deja "
             f"with `no-store`, sequential on one keep-alive connection per arm. Median of the "
             f"per-round differences: +{us(arms['deja_miss']['added_paired_p50_us'])} (stored), "
             f"+{us(arms['deja_miss_no_store']['added_paired_p50_us'])} (no-store). p90: deja "
             f"{us(arms['deja_miss']['p90'])}, direct {us(arms['direct']['p90'])}."
             + (f" **{miss['problem_count']} requests failed or were not misses** (see the JSON)."
                if miss.get("problem_count") else ""))
    L.append(f"- Memory: {a.entries:,} entries stored by distinct misses sent by wrk "
             f"(-t{a.wrk_threads} -c{a.fill_connections}, upstream: the nginx above, "
             f"{a.fill_seconds:.0f} s, {fill_rate:,.0f} entries/s, {fill.get('non200', 0)} non-200 "
             f"answers), store in `{a.fill_dir}`. /proc status after the fill: VmRSS {filled['VmRSS'] / 1024:.1f} MiB = "
             f"RssAnon {anon_mib:.1f} + RssFile {filled['RssFile'] / 1024:.1f} + RssShmem "
             f"{filled['RssShmem'] / 1024:.1f} MiB (the LMDB map is file-backed: RssFile on a disk, "
             f"RssShmem on tmpfs); VmHWM {filled['VmHWM'] / 1024:.1f} MiB; {filled['Threads']} "
             f"threads. At start: RssAnon {start['RssAnon'] / 1024:.1f} MiB, VmRSS "
             f"{start['VmRSS'] / 1024:.1f} MiB.")
    L.append("")
    missed = [n for n, ok in (("exact-hit throughput", throughput["met"]),
                              ("miss latency", miss_out["met"]),
                              ("memory", memory["met"])) if not ok]
    L.append("All targets met." if not missed else "Targets missed: " + ", ".join(missed) + ".")
    L.append("")
    with open(a.out_md, "w", encoding="utf-8") as f:
        f.write("\n".join(L))


if __name__ == "__main__":
    main()
