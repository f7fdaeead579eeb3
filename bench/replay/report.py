#!/usr/bin/env python3
"""Collects the raw outputs of bench/replay/run.sh into bench/results/replay.json and replay.md.

Called by run.sh (see its arguments there); standard library only. The figures:
  * replay: per round, the client's wall time for all requests; latencies pooled over the rounds
    (client side per request, and deja's access-log latency_us); ratios deja / nginx of the medians
    of wall time (median of the per-round ratios) and of the latency percentiles;
  * start-up: medians over the runs of startup.py, 10,000-record cassette vs a 1-record one.
"""

import json
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchlib import (cmd, git_revision, load, load_avg_now, machine_context,  # noqa: E402
                      parser, verdict, write_json)

TARGET_SERVER_P50_US = 200.0
TARGET_STARTUP_MS = 300.0


def pct(values, p):
    """Nearest-rank percentile."""
    if not values:
        return None
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(round(p / 100 * len(s) + 0.5)) - 1))
    return s[k]


def dist(values):
    return {"n": len(values), "p50": pct(values, 50), "p90": pct(values, 90),
            "p99": pct(values, 99), "mean": statistics.fmean(values) if values else None}


def kind_of(req):
    provider = "anthropic" if req["path"] == "/v1/messages" else "openai"
    return f"{provider} {'stream' if req['body'].get('stream') else 'json'}"


def main():
    p = parser(str_args=("data-dir",),
               int_args=("n", "rounds", "concurrency", "record-ms", "cassette-bytes", "startup-n",
                         "startup-bytes", "startup-json-bytes", "startup-runs"))
    p.add_argument("--load-after", help="default: /proc/loadavg now")
    a = p.parse_args()
    t = a.tmp
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

    with open(os.path.join(t, "requests.jsonl"), encoding="utf-8") as f:
        reqs = [json.loads(line) for line in f if line.strip()]
    kinds = [kind_of(r) for r in reqs]
    prompt_words = [sum(len(str(m["content"]).split()) for m in r["body"]["messages"]) +
                    len(str(r["body"].get("system", "")).split()) for r in reqs]

    # ------------------------------------------------------------ replay rounds
    rounds = []
    client_lat = {"deja": [], "nginx": []}
    client_by_kind = {"deja": {}, "nginx": {}}
    server_lat, server_by_route = [], {}
    bad_lines = 0
    for r in range(1, a.rounds + 1):
        row = {"round": r}
        for name in ("deja", "nginx"):
            d = load(os.path.join(t, f"round-{name}-{r}.json"))
            with open(os.path.join(t, f"cpu-{name}-{r}.txt"), encoding="utf-8") as f:
                ticks, hz = (int(x) for x in f.read().split())
            lat = [x for x in d["latency_us"] if x is not None]
            client_lat[name] += lat
            for i, x in enumerate(d["latency_us"]):
                if x is not None:
                    client_by_kind[name].setdefault(kinds[i], []).append(x)
            row[name] = {"wall_ms": round(d["wall_ms"], 1), "ok": d["ok"], "failures": d["failures"],
                         "response_bytes": d["response_bytes"],
                         "client_latency_us": {k: v for k, v in dist(lat).items() if k != "n"},
                         "server_cpu_s": ticks / hz,
                         "server_cpu_us_per_request": ticks / hz * 1e6 / max(d["ok"], 1)}
        lines = []
        with open(os.path.join(t, f"access-deja-{r}.jsonl"), encoding="utf-8") as f:
            for line in f:
                try:
                    rec = json.loads(line)
                except ValueError:
                    bad_lines += 1
                    continue
                if rec.get("cache") != "hit":
                    bad_lines += 1
                    continue
                lines.append(rec)
        row["deja"]["access_log_lines"] = len(lines)
        lat = [rec["latency_us"] for rec in lines]
        row["deja"]["server_latency_us"] = {k: v for k, v in dist(lat).items() if k != "n"}
        server_lat += lat
        for rec in lines:
            server_by_route.setdefault(rec["route"], []).append(rec["latency_us"])
        row["wall_ratio"] = row["deja"]["wall_ms"] / row["nginx"]["wall_ms"]
        rounds.append(row)

    def med_round(name, field):
        return statistics.median(r[name][field] for r in rounds)

    wall = {"deja": med_round("deja", "wall_ms"), "nginx": med_round("nginx", "wall_ms")}
    wall_ratio = statistics.median(r["wall_ratio"] for r in rounds)
    cdist = {k: dist(v) for k, v in client_lat.items()}
    sdist = dist(server_lat)
    cpu = {"deja": med_round("deja", "server_cpu_us_per_request"),
           "nginx": med_round("nginx", "server_cpu_us_per_request")}
    record = load(os.path.join(t, "record.json"))
    warm = load(os.path.join(t, "replay-warm.json"))

    # ------------------------------------------------------------ start-up
    st = load(os.path.join(t, "startup.json"))
    big, js, ref, ref4 = (st["median"][k] for k in ("big", "json", "ref", "ref4"))
    imports = []
    for name in (f"startup-{a.startup_n}", f"startup-{a.startup_n}-json"):
        with open(os.path.join(t, f"import-{name}.out"), encoding="utf-8") as f:
            imports.append(f.read().strip())

    ctx = {
        **machine_context(a, a.load_after or load_avg_now()),
        "source_revision": git_revision(root),
        "nginx": cmd(["nginx", "-v"]),
        "node": cmd(["node", "--version"]),
        "cassette_dir": a.data_dir,
        "note": "deja, nginx, the Node client and the fake upstream share the same CPUs",
    }
    server_ok = sdist["p50"] is not None and sdist["p50"] <= TARGET_SERVER_P50_US
    startup_ok = big["listen_ms"] <= TARGET_STARTUP_MS
    startup_json_ok = js["listen_ms"] <= TARGET_STARTUP_MS
    out = {
        "context": ctx,
        "cassette": {
            "records": a.n, "bytes": a.cassette_bytes,
            "kinds": {k: kinds.count(k) for k in sorted(set(kinds))},
            "prompt_words": dist(prompt_words),
            "recorded_by": "deja serve --mode record (fake upstream), "
                           f"{a.concurrency} client connections",
            "record_wall_ms": a.record_ms,
            "record_client_latency_us": {k: v for k, v in dist(
                [x for x in record["latency_us"] if x is not None]).items() if k != "n"},
        },
        "replay": {
            "setup": {
                "client": f"bench/replay/client.mjs: node:http, keepAlive agent, {a.concurrency} "
                          "connections, each request's answer read to its end before the "
                          "connection's next request; requests in file order",
                "rounds": a.rounds,
                "deja": "deja serve --mode replay --cassette (access log on, to a file), default "
                        "io_threads (one per core)",
                "nginx": "worker_processes 2, access_log off, each request's recorded answer as "
                         "a static file /r/<i> (POST answered via error_page 405 =200 $uri), "
                         "open_file_cache, sendfile",
                "why_nginx": "the same client, request bodies and answer bytes, from a server "
                             "that does nothing but send a file: the ratio is the cost of "
                             "replaying (parse, key, lookup, streaming) over shipping the bytes",
                "warmup_ms": {"deja": round(warm["wall_ms"], 1)},
                "response_bytes_per_round": rounds[0]["deja"]["response_bytes"],
            },
            "rounds": rounds,
            "wall_ms": wall,
            "wall_ratio_median": wall_ratio,
            "client_latency_us": cdist,
            "client_latency_ratio": {q: cdist["deja"][q] / cdist["nginx"][q]
                                     for q in ("p50", "p90", "p99")},
            "client_latency_us_by_kind": {n: {k: dist(v) for k, v in sorted(d.items())}
                                          for n, d in client_by_kind.items()},
            "server_latency_us": sdist,
            "server_latency_us_by_route": {k: dist(v) for k, v in sorted(server_by_route.items())},
            "access_log_lines_not_hits": bad_lines,
            "server_cpu_us_per_request": cpu,
            "target": {"server_p50_us_max": TARGET_SERVER_P50_US, "met": server_ok},
        },
        "startup": {
            "setup": f"startup.py: {a.startup_runs} runs per arm (after one untimed run each), "
                     "arms alternating; exec -> 'listening' line on stdout, and -> end of the "
                     "first replayed answer (a new connection)",
            "arms": {
                "big": f"{a.startup_n:,} records, the replay cassette's mix (a third streamed), "
                       f"{a.startup_bytes:,} bytes",
                "json": f"{a.startup_n:,} records, the same mix with no stream, "
                        f"{a.startup_json_bytes:,} bytes",
                "ref": "1 record (recorded by deja serve --mode record): the fixed cost of "
                       "starting deja, with one record so the first request replays",
                "ref4": "the same with --set server.upstream_threads=4 (default 256)",
            },
            "cassette_records": a.startup_n,
            "cassette_bytes": a.startup_bytes,
            "cassette_json_bytes": a.startup_json_bytes,
            "made_by": "deja serve (live mode, data dir) + deja cassette import --shared: "
                       + " / ".join(imports),
            "median": st["median"],
            "runs": st["runs"],
            "added_by_records_ms": big["listen_ms"] - ref["listen_ms"],
            "added_by_records_cpu_ms": big["cpu_ms"] - ref["cpu_ms"],
            "load_mb_per_cpu_s": {
                "big": a.startup_bytes / 1e6 / max((big["cpu_ms"] - ref["cpu_ms"]) / 1e3, 1e-3),
                "json": a.startup_json_bytes / 1e6 / max((js["cpu_ms"] - ref["cpu_ms"]) / 1e3, 1e-3),
            },
            "listen_ratio": big["listen_ms"] / ref["listen_ms"],
            "target": {"listen_ms_max": TARGET_STARTUP_MS, "met": startup_ok,
                       "met_without_streams": startup_json_ok},
        },
    }
    write_json(a.out_json, out, atomic=False)  # as before: written in place

    # ------------------------------------------------------------ markdown
    def us(x):
        return f"{x:,.0f} µs"

    mib = 1024 * 1024
    lines = [
        "# replay",
        "",
        f"Context: run {a.started}; {ctx['cpus']} CPUs ({ctx['cpu_model']}); load average "
        f"{a.load_before} before, {ctx['load_avg_after']} after; deja {a.build_type} from "
        f"{ctx['source_revision']}; {ctx['nginx']}; node {ctx['node']}. Everything (deja, nginx, "
        "the Node client, the fake upstream) shares these CPUs, over loopback. Produced by "
        "`bash bench/replay/run.sh`; raw figures in `replay.json`.",
        "",
        f"Cassette: {a.n:,} records, {a.cassette_bytes / mib:.1f} MiB, recorded by "
        f"`deja serve --mode record` in {a.record_ms / 1000:.1f} s; "
        + ", ".join(f"{c} {k}" for k, c in out["cassette"]["kinds"].items())
        + f"; prompts {min(prompt_words)}-{max(prompt_words)} words (median "
        f"{pct(prompt_words, 50)}).",
        "",
        "| Benchmark | deja | reference | deja / reference | Target |",
        "|---|---:|---:|---:|---|",
        f"| Replay of {a.n:,} requests, wall time ({a.concurrency} connections) | "
        f"{wall['deja']:,.0f} ms | nginx static: {wall['nginx']:,.0f} ms | {wall_ratio:.2f}× | |",
    ]
    for q in ("p50", "p90", "p99"):
        lines.append(f"| Replay, client latency {q} | {us(cdist['deja'][q])} | "
                     f"{us(cdist['nginx'][q])} | {out['replay']['client_latency_ratio'][q]:.2f}× | |")
    lines += [
        f"| Replay, server latency (access log) p50 / p90 / p99 | {us(sdist['p50'])} / "
        f"{us(sdist['p90'])} / {us(sdist['p99'])} | | | "
        f"{verdict(server_ok, 'p50 ≤ 200 µs')} |",
        f"| Replay, server CPU time per request | {cpu['deja']:.1f} µs | {cpu['nginx']:.1f} µs | "
        + (f"{cpu['deja'] / cpu['nginx']:.2f}× | |" if cpu["nginx"] else "n/a | |"),
        f"| Start-up, exec → listening, {a.startup_n:,} records ({a.startup_bytes / mib:.0f} MiB) | "
        f"{big['listen_ms']:,.0f} ms | 1 record: {ref['listen_ms']:.0f} ms | "
        f"+{big['listen_ms'] - ref['listen_ms']:,.0f} ms | {verdict(startup_ok, '≤ 300 ms')} |",
        f"| Start-up, exec → first replayed answer | {big['first_answer_ms']:,.0f} ms | "
        f"{ref['first_answer_ms']:.0f} ms | +{big['first_answer_ms'] - ref['first_answer_ms']:,.0f} ms | |",
        f"| Start-up, CPU time (user + system) | {big['cpu_ms']:,.0f} ms | {ref['cpu_ms']:.0f} ms | "
        f"+{big['cpu_ms'] - ref['cpu_ms']:,.0f} ms | |",
        f"| Start-up, peak RSS (VmHWM) | {big['VmHWM'] / 1024:,.0f} MiB | {ref['VmHWM'] / 1024:.0f} MiB | | |",
        f"| Start-up, exec → listening, {a.startup_n:,} records without streams "
        f"({a.startup_json_bytes / mib:.0f} MiB) | {js['listen_ms']:,.0f} ms (CPU {js['cpu_ms']:.0f} ms) | "
        f"{ref['listen_ms']:.0f} ms (CPU {ref['cpu_ms']:.0f} ms) | +{js['listen_ms'] - ref['listen_ms']:,.0f} ms | "
        f"{verdict(startup_json_ok, '≤ 300 ms')} |",
        "",
        "Details:",
        f"- Replay: {a.rounds} rounds per server, alternating; each round sends all {a.n:,} requests "
        f"over {a.concurrency} keep-alive connections (node:http) and reads every answer to its end. "
        "Wall time: median over rounds; ratio: median of the per-round ratios ("
        + ", ".join(f"{r['wall_ratio']:.2f}" for r in rounds) + "). Latencies pooled over rounds. "
        "Reference: nginx serving each recorded answer as a static file to the same client with "
        "the same request bodies: the ratio is what replaying (JSON parse, normalization, key, "
        "lookup, re-emitting the stream) costs over shipping the same bytes. Server latency is "
        "deja's access-log latency_us (request parsed → answer ready to send: the log line is "
        "written before the body is, so writing it is left out); every line was a hit "
        f"({bad_lines} were not).",
        "- Client latency by kind (deja p50 / nginx p50): "
        + "; ".join(f"{k} {us(out['replay']['client_latency_us_by_kind']['deja'][k]['p50'])} / "
                    f"{us(out['replay']['client_latency_us_by_kind']['nginx'][k]['p50'])}"
                    for k in sorted(client_by_kind['deja'])) + ".",
        "- Server latency by route (p50 / p99): "
        + "; ".join(f"{k} {us(v['p50'])} / {us(v['p99'])}"
                    for k, v in out["replay"]["server_latency_us_by_route"].items()) + ".",
        f"- Start-up: median of {a.startup_runs} runs per arm, alternating; the {a.startup_n:,}-record "
        "cassettes were made by deja itself (live mode into a data directory, then `deja cassette "
        "import --shared`), since record mode rewrites the whole file per record; the reference "
        "is a 1-record cassette (the fixed cost of exec, dynamic loading and starting the "
        "server, with one record so the first request replays). CPU time is deja's user + system "
        "time up to the first answer: unlike wall time it does not grow when other processes hold "
        "the CPUs. Load rate (cassette bytes per CPU second above the reference): "
        f"{out['startup']['load_mb_per_cpu_s']['big']:.0f} MB/s mixed, "
        f"{out['startup']['load_mb_per_cpu_s']['json']:.0f} MB/s without streams. The 1-record "
        f"reference with 4 upstream threads instead of 256: {ref4['listen_ms']:.0f} ms to "
        f"listening, CPU {ref4['cpu_ms']:.0f} ms (vs {ref['listen_ms']:.0f} ms, CPU "
        f"{ref['cpu_ms']:.0f} ms). Cassettes in {a.data_dir} (page cache either way once read).",
    ]
    missed = [name for name, ok in (("server latency", server_ok), ("start-up", startup_ok)) if not ok]
    lines += ["", f"Targets missed: {', '.join(missed)}." if missed else "All targets met."]
    with open(a.out_md, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
