#!/usr/bin/env python3
"""Draws bench/results/semantic_eval.json as an SVG: hit rate against false-hit rate, one panel per
dataset, one curve per embedder and context (shared: solid, isolated: dashed). Each curve is traced
by the threshold going from high (few hits) to low; dots mark thresholds 0.95, 0.9, 0.85... and
0.95 / 0.9 / 0.8 are labelled. Points with fewer than MIN_HITS hits are left out (their false-hit
rate is noise). Dotted verticals: false-hit rates 0.02 and 0.05.

Usage: plot_semantic_eval.py [RESULT.json] [OUT.svg]   (defaults: bench/results/semantic_eval.*)
Standard library only.
"""

import json
import math
import os
import sys
from html import escape

COLORS = {"lexical": "#1f77b4", "words": "#d62728", "static": "#2ca02c", "bert": "#9467bd"}
PANEL_W, PANEL_H = 360, 300
MARGIN_L, MARGIN_R, MARGIN_T, MARGIN_B = 58, 16, 46, 52
MIN_HITS = 10


def nice_max(v):
    for m in (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0):
        if v <= m:
            return m
    return 1.0


def shown(run):
    return sorted((p for p in run["curve"] if p["hits"] >= MIN_HITS), key=lambda p: -p["threshold"])


def panel(index, name, report, x0, out):
    runs = report.get("runs", [])
    y_top = nice_max(max((p["hit_rate"] for r in runs for p in shown(r)), default=0.1))
    x_max = nice_max(max((p["false_hit_rate"] for r in runs for p in shown(r)), default=0.1))
    w = PANEL_W - MARGIN_L - MARGIN_R
    h = PANEL_H - MARGIN_T - MARGIN_B
    left, top = x0 + MARGIN_L, MARGIN_T

    def sx(v):  # square-root scale: room for the low false-hit rates that matter
        return left + w * math.sqrt(max(v, 0) / x_max)

    def sy(v):
        return top + h * (1 - v / y_top)

    title = f"{name}: {report.get('pairs', 0)} pairs, {report.get('duplicates', 0)} duplicates"
    out.append(f'<text x="{left + w / 2:.1f}" y="{top - 26}" text-anchor="middle" '
               f'font-weight="bold">{escape(title)}</text>')
    out.append(f'<rect x="{left}" y="{top}" width="{w}" height="{h}" fill="none" stroke="#999"/>')
    out.append(f'<clipPath id="plot{index}"><rect x="{left}" y="{top}" width="{w}" '
               f'height="{h}"/></clipPath>')
    for v in (0, 0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.6, 0.8, 1.0):
        if v > x_max + 1e-9:
            break
        out.append(f'<line x1="{sx(v):.1f}" y1="{top + h}" x2="{sx(v):.1f}" y2="{top + h + 4}" '
                   'stroke="#999"/>')
        out.append(f'<text x="{sx(v):.1f}" y="{top + h + 16}" text-anchor="middle" '
                   f'font-size="10">{v:g}</text>')
    for i in range(6):
        v = y_top * i / 5
        out.append(f'<line x1="{left - 4}" y1="{sy(v):.1f}" x2="{left + w}" y2="{sy(v):.1f}" '
                   'stroke="#eee"/>')
        out.append(f'<text x="{left - 6}" y="{sy(v) + 3:.1f}" text-anchor="end" '
                   f'font-size="10">{100 * v:.0f}%</text>')
    for target in (0.02, 0.05):
        out.append(f'<line x1="{sx(target):.1f}" y1="{top}" x2="{sx(target):.1f}" '
                   f'y2="{top + h}" stroke="#555" stroke-dasharray="1,3"/>')
    out.append(f'<text x="{left + w / 2:.1f}" y="{top + h + 34}" text-anchor="middle" '
               'font-size="11">false-hit rate (false hits / hits), square-root scale</text>')
    out.append(f'<text x="{left - 42}" y="{top + h / 2:.1f}" text-anchor="middle" font-size="11" '
               f'transform="rotate(-90 {left - 42} {top + h / 2:.1f})">hit rate (hits / pairs)'
               '</text>')
    for r in runs:
        pts = shown(r)
        if not pts:
            continue
        color = COLORS.get(r["embedder"], "#333")
        dash = "" if r.get("context") == "shared" else ' stroke-dasharray="5,3"'
        path = " ".join(f"{sx(p['false_hit_rate']):.1f},{sy(p['hit_rate']):.1f}" for p in pts)
        out.append(f'<g clip-path="url(#plot{index})">')
        out.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="1.6"'
                   f'{dash}/>')
        for p in pts:
            t20 = p["threshold"] * 20
            if abs(t20 - round(t20)) > 1e-6:
                continue
            x, y = sx(p["false_hit_rate"]), sy(p["hit_rate"])
            out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.2" fill="{color}"/>')
            if round(p["threshold"], 2) in (0.8, 0.9, 0.95):
                out.append(f'<text x="{x + 3:.1f}" y="{y - 3:.1f}" font-size="8" '
                           f'fill="{color}">{p["threshold"]:.2f}</text>')
        out.append("</g>")


def render(doc):
    datasets = doc.get("datasets", {})
    n = max(1, len(datasets))
    width, height = PANEL_W * n, PANEL_H + 56
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
           f'<rect width="{width}" height="{height}" fill="white"/>']
    for i, (name, report) in enumerate(datasets.items()):
        panel(i, name, report, i * PANEL_W, out)
    # Legend: every embedder/context pair that appears.
    seen = []
    for report in datasets.values():
        for r in report.get("runs", []):
            key = (r["embedder"], r.get("context", "shared"))
            if key not in seen:
                seen.append(key)
    x = MARGIN_L
    y = PANEL_H + 18
    for embedder, context in seen:
        color = COLORS.get(embedder, "#333")
        dash = "" if context == "shared" else ' stroke-dasharray="5,3"'
        out.append(f'<line x1="{x}" y1="{y}" x2="{x + 26}" y2="{y}" stroke="{color}" '
                   f'stroke-width="1.6"{dash}/>')
        out.append(f'<text x="{x + 31}" y="{y + 4}" font-size="11">{escape(embedder)}, '
                   f'{escape(context)} context</text>')
        x += 190
    out.append(f'<text x="{MARGIN_L}" y="{y + 22}" font-size="10" fill="#555">Dots: thresholds '
               f'0.95, 0.90, 0.85, ... (curves run from high thresholds, bottom left, to low); '
               f'dotted lines: false-hit rates 0.02 and 0.05; points with fewer than {MIN_HITS} '
               'hits left out. vCache verification off.</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main(argv):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    src = argv[1] if len(argv) > 1 else os.path.join(root, "bench/results/semantic_eval.json")
    dst = argv[2] if len(argv) > 2 else os.path.join(root, "bench/results/semantic_eval.svg")
    with open(src, encoding="utf-8") as f:
        doc = json.load(f)
    with open(dst, "w", encoding="utf-8") as f:
        f.write(render(doc))
    print(f"wrote {dst}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
