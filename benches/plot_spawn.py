#!/usr/bin/env python3
"""Draws the spawn benchmark's latency distributions as an SVG.

    python3 benches/plot_spawn.py [SAMPLES.csv] [OUT.svg]

Reads the samples `cargo bench --bench spawn` writes (default
`target/nanoclaw-bench/spawn-samples.csv`, or `$CARGO_TARGET_DIR/...`) and
writes `docs/benchmarks-spawn.svg`: one line per (row, way), every sample a
dot, the median a bar, on a logarithmic time axis (a warm agent answers in
milliseconds, a cold spawn in hundreds). Standard library only.
"""

import csv
import math
import os
import sys
from collections import OrderedDict

WIDTH, ROW_H, LEFT, RIGHT, TOP, BOTTOM = 900, 26, 330, 30, 40, 50
COLOURS = {
    "pooled": "#1b9e77",
    "cold-library": "#d95f02",
    "docker-run": "#7570b3",
    "library": "#d95f02",
    "docker-cli": "#7570b3",
    "unpatched": "#666666",
    "patched": "#e7298a",
}


def default_samples():
    target = os.environ.get("CARGO_TARGET_DIR", "target")
    return os.path.join(target, "nanoclaw-bench", "spawn-samples.csv")


def median(values):
    v = sorted(values)
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


def main():
    samples = sys.argv[1] if len(sys.argv) > 1 else default_samples()
    out = sys.argv[2] if len(sys.argv) > 2 else os.path.join("docs", "benchmarks-spawn.svg")
    groups = OrderedDict()
    with open(samples, newline="") as f:
        for rec in csv.DictReader(f):
            key = (rec["row"], rec["way"])
            groups.setdefault(key, []).append(float(rec["seconds"]) * 1e3)
    if not groups:
        sys.exit(f"no samples in {samples}")
    lo = min(min(v) for v in groups.values())
    hi = max(max(v) for v in groups.values())
    lo_exp = math.floor(math.log10(lo))
    hi_exp = math.ceil(math.log10(hi))
    plot_w = WIDTH - LEFT - RIGHT
    height = TOP + ROW_H * len(groups) + BOTTOM

    def x(ms):
        return LEFT + plot_w * (math.log10(ms) - lo_exp) / (hi_exp - lo_exp)

    svg = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'font-family="sans-serif" font-size="12">',
        f'<rect width="{WIDTH}" height="{height}" fill="white"/>',
        f'<text x="{LEFT}" y="20" font-size="14">Spawn and message latency per sample '
        f"(log scale; bar = median)</text>",
    ]
    for exp in range(lo_exp, hi_exp + 1):
        for mult in (1, 2, 5):
            ms = mult * 10**exp
            if ms < 10**lo_exp or ms > 10**hi_exp:
                continue
            gx = x(ms)
            shade = "#bbbbbb" if mult == 1 else "#eeeeee"
            svg.append(f'<line x1="{gx:.1f}" y1="{TOP - 8}" x2="{gx:.1f}" '
                       f'y2="{height - BOTTOM + 4}" stroke="{shade}"/>')
            if mult == 1 or hi_exp - lo_exp <= 3:
                label = f"{ms:g} ms"
                svg.append(f'<text x="{gx:.1f}" y="{height - BOTTOM + 18}" '
                           f'text-anchor="middle" fill="#444">{label}</text>')
    for i, ((row, way), values) in enumerate(groups.items()):
        cy = TOP + ROW_H * i + ROW_H / 2
        colour = COLOURS.get(way, "#333333")
        svg.append(f'<text x="{LEFT - 8}" y="{cy + 4:.1f}" text-anchor="end">'
                   f"{row}: {way} ({median(values):.1f} ms)</text>")
        for j, v in enumerate(values):
            jitter = ((j * 7) % 9 - 4) * 1.2
            svg.append(f'<circle cx="{x(v):.1f}" cy="{cy + jitter:.1f}" r="2.6" '
                       f'fill="{colour}" fill-opacity="0.55"/>')
        mx = x(median(values))
        svg.append(f'<line x1="{mx:.1f}" y1="{cy - 9:.1f}" x2="{mx:.1f}" y2="{cy + 9:.1f}" '
                   f'stroke="black" stroke-width="2"/>')
    svg.append(f'<text x="{LEFT + plot_w / 2:.0f}" y="{height - 12}" text-anchor="middle">'
               f"time per sample, {os.path.basename(samples)}</text>")
    svg.append("</svg>")
    with open(out, "w") as f:
        f.write("\n".join(svg) + "\n")
    print(f"wrote {out} ({sum(len(v) for v in groups.values())} samples)")


if __name__ == "__main__":
    main()
