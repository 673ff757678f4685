"""The report as one self-contained HTML page: charts are inline SVG drawn here, styles and the
small hover script are inline too; the page loads nothing (no CDN, no fonts, no images)."""

from __future__ import annotations

import html
import json
from typing import Any

from aibench.report.data import RunRow, Sweep, best_per_model

# matplotlib's tab10 and viridis, so the page and the PNGs use the same colours
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]
VIRIDIS = [(68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37)]
MISSING = "#e0e0e0"


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def rate_colour(rate: float | None) -> str:
    """viridis at ``rate`` (0..1), linear between five anchors."""
    if rate is None:
        return MISSING
    x = min(max(rate, 0.0), 1.0) * (len(VIRIDIS) - 1)
    i = min(int(x), len(VIRIDIS) - 2)
    f = x - i
    a, b = VIRIDIS[i], VIRIDIS[i + 1]
    return "#" + "".join(f"{round(a[j] + (b[j] - a[j]) * f):02x}" for j in range(3))


def series_of(sweep: Sweep) -> dict[str, list[RunRow]]:
    """Runs with a temperature grouped into curves (model + other swept settings), each by temperature."""
    out: dict[str, list[RunRow]] = {}
    for r in sweep.runs:
        if r.temperature is not None:
            out.setdefault(r.series, []).append(r)
    return {name: sorted(rows, key=lambda r: r.temperature or 0.0) for name, rows in sorted(out.items())}


def curves_svg(sweep: Sweep, k: str, width: int = 460, height: int = 320) -> str:
    """pass@k against temperature, one polyline (and its points) per series."""
    series = series_of(sweep)
    left, right, top, bottom = 52, 16, 28, 44
    pw, ph = width - left - right, height - top - bottom
    temps = sorted({r.temperature for rows in series.values() for r in rows if r.temperature is not None})
    lo, hi = (temps[0], temps[-1]) if temps else (0.0, 1.0)
    if hi - lo < 1e-9:
        lo, hi = lo - 0.5, hi + 0.5
    pad = (hi - lo) * 0.06
    lo, hi = lo - pad, hi + pad

    def x(t: float) -> float:
        return left + (t - lo) / (hi - lo) * pw

    def y(v: float) -> float:
        return top + (1.0 - v) * ph

    parts = [
        f'<svg class="chart curves" data-k="{esc(k)}" xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" aria-label="{esc(k)} vs temperature">',
        f'<text x="{left + pw / 2}" y="18" text-anchor="middle" class="title">{esc(k)} vs temperature</text>',
        f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" class="frame"/>',
    ]
    for v in (0.0, 0.25, 0.5, 0.75, 1.0):
        parts.append(f'<line x1="{left}" x2="{left + pw}" y1="{y(v):.1f}" y2="{y(v):.1f}" class="grid"/>')
        parts.append(f'<text x="{left - 6}" y="{y(v) + 4:.1f}" text-anchor="end" class="tick">{v:g}</text>')
    for t in temps:
        parts.append(f'<line x1="{x(t):.1f}" x2="{x(t):.1f}" y1="{top + ph}" y2="{top + ph + 5}" class="axis"/>')
        parts.append(f'<text x="{x(t):.1f}" y="{top + ph + 18}" text-anchor="middle" class="tick">{t:g}</text>')
    parts.append(f'<text x="{left + pw / 2}" y="{height - 6}" text-anchor="middle" class="label">temperature</text>')
    parts.append(
        f'<text transform="translate(14 {top + ph / 2}) rotate(-90)" text-anchor="middle" class="label">{esc(k)}</text>'
    )
    for n, (name, rows) in enumerate(series.items()):
        colour = PALETTE[n % len(PALETTE)]
        points = [(x(r.temperature), y(r.pass_at_k[k])) for r in rows if r.temperature is not None and k in r.pass_at_k]
        if len(points) > 1:
            coords = " ".join(f"{px:.1f},{py:.1f}" for px, py in points)
            parts.append(
                f'<polyline class="series" data-series="{esc(name)}" points="{coords}" fill="none" '
                f'stroke="{colour}" stroke-width="2"/>'
            )
        for r, (px, py) in zip(rows, points):
            parts.append(
                f'<circle class="point" cx="{px:.1f}" cy="{py:.1f}" r="4" fill="{colour}">'
                f"<title>{esc(r.label)}: {esc(k)} = {r.pass_at_k[k]:.4f} (job {esc(r.job)})</title></circle>"
            )
        ly = top + 14 + 16 * n
        parts.append(f'<rect x="{left + 8}" y="{ly - 9}" width="10" height="10" fill="{colour}"/>')
        parts.append(f'<text x="{left + 22}" y="{ly}" class="legend">{esc(name)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def heatmap_svg(sweep: Sweep) -> str:
    """Pass rate (passed samples / samples) of every problem (columns) in every run (rows)."""
    runs, problems = sweep.runs, sweep.problems
    label_w = min(360, 14 + 7 * max((len(r.label) for r in runs), default=10))
    cell_w = max(4.0, min(28.0, 900.0 / max(1, len(problems))))
    cell_h = 22
    show_cols = cell_w >= 10
    top = 64 if show_cols else 30
    width = int(label_w + cell_w * len(problems) + 90)
    height = int(top + cell_h * len(runs) + 40)
    parts = [
        f'<svg class="chart heatmap" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="pass rate per problem and run">',
        '<text x="4" y="16" class="title">pass rate per problem (passed samples / samples)</text>',
    ]
    if show_cols:
        for j, name in enumerate(problems):
            cx = label_w + cell_w * (j + 0.5)
            short = name.rsplit("/", 1)[-1]
            parts.append(
                f'<text transform="translate({cx:.1f} {top - 6}) rotate(-60)" class="tick">{esc(short)}</text>'
            )
    for i, r in enumerate(runs):
        ry = top + i * cell_h
        parts.append(
            f'<text x="{label_w - 6}" y="{ry + cell_h * 0.68:.1f}" text-anchor="end" class="tick">{esc(r.label)}</text>'
        )
        for j, name in enumerate(problems):
            rate = r.per_problem.get(name)
            shown = "no samples" if rate is None else f"{rate:.2f}"
            parts.append(
                f'<rect class="cell" x="{label_w + j * cell_w:.1f}" y="{ry}" width="{cell_w:.1f}" height="{cell_h}" '
                f'fill="{rate_colour(rate)}" data-run="{esc(r.label)}" data-problem="{esc(name)}" '
                f'data-rate="{"" if rate is None else f"{rate:.4f}"}"><title>{esc(r.label)} | {esc(name)}: {shown}</title></rect>'
            )
    # colour bar
    bx, by, bh = width - 70, top, max(60, cell_h * len(runs))
    steps = 20
    for s in range(steps):
        v = 1 - (s + 0.5) / steps
        parts.append(
            f'<rect class="colourbar" x="{bx}" y="{by + s * bh / steps:.1f}" width="14" height="{bh / steps + 0.5:.1f}" '
            f'fill="{rate_colour(v)}"/>'
        )
    parts.append(f'<text x="{bx + 18}" y="{by + 8}" class="tick">1.0</text>')
    parts.append(f'<text x="{bx + 18}" y="{by + bh}" class="tick">0.0</text>')
    parts.append("</svg>")
    return "".join(parts)


def _table(rows: list[RunRow], ks: list[str], table_id: str) -> str:
    settings = sorted({k for r in rows for k in r.settings})
    head = ["model", "temperature", *settings, *ks, "job"]
    out = [f'<table id="{table_id}"><thead><tr>', *(f"<th>{esc(h)}</th>" for h in head), "</tr></thead><tbody>"]
    for r in rows:
        cells = [
            r.model,
            "" if r.temperature is None else f"{r.temperature:g}",
            *(r.settings.get(s, "") for s in settings),
            *(f"{r.pass_at_k[k]:.4f}" for k in ks),
            r.job,
        ]
        out.append("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in cells) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


STYLE = """
body { font-family: system-ui, sans-serif; margin: 24px; color: #222; }
h1 { font-size: 20px; } h2 { font-size: 16px; margin-top: 28px; }
.charts { display: flex; flex-wrap: wrap; gap: 16px; }
svg.chart { background: #fff; border: 1px solid #ddd; }
svg .title { font-size: 13px; font-weight: 600; } svg .tick, svg .legend { font-size: 11px; }
svg .label { font-size: 12px; } svg .frame { fill: none; stroke: #999; }
svg .grid { stroke: #eee; } svg .axis { stroke: #999; }
svg rect.cell:hover { stroke: #000; stroke-width: 1.5; }
table { border-collapse: collapse; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: left; }
th { background: #f3f3f3; } #readout { font-size: 13px; min-height: 1.2em; color: #444; }
.notes { font-size: 12px; color: #666; }
"""

# hover readout of the heat map (the only script on the page)
SCRIPT = """
(function () {
  var out = document.getElementById('readout');
  document.querySelectorAll('svg.heatmap rect.cell').forEach(function (cell) {
    cell.addEventListener('mouseover', function () {
      var rate = cell.getAttribute('data-rate');
      out.textContent = cell.getAttribute('data-run') + ' | ' + cell.getAttribute('data-problem') + ': ' +
        (rate === '' ? 'no samples' : 'pass rate ' + Number(rate).toFixed(2));
    });
  });
})();
"""


def render(sweep: Sweep, png_files: list[str]) -> str:
    best = best_per_model(sweep)
    data = {
        "sweep": str(sweep.path),
        "ks": sweep.ks,
        "runs": [
            {
                "job": r.job,
                "model": r.model,
                "temperature": r.temperature,
                "settings": r.settings,
                "pass@k": r.pass_at_k,
            }
            for r in sweep.runs
        ],
        "best": {r.model: r.job for r in best},
    }
    payload = json.dumps(data).replace("</", "<\\/")  # safe inside <script>
    notes = "".join(f"<li>{esc(s)}</li>" for s in sweep.skipped)
    pngs = ", ".join(esc(p) for p in png_files) or "none (matplotlib is not installed: pip install 'aibench[report]')"
    body = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8"><title>aibench sweep report</title>',
        f"<style>{STYLE}</style></head><body>",
        "<h1>aibench sweep report</h1>",
        f'<p class="notes">sweep: {esc(sweep.path)}; {len(sweep.runs)} runs; pass@k over all problems of a run; '
        f"PNG files beside this page: {pngs}</p>",
        "<h2>Best setting per model</h2>",
        _table(best, sweep.ks, "best"),
        "<h2>pass@k vs temperature</h2>",
        '<div class="charts" id="curves">',
        *(curves_svg(sweep, k) for k in sweep.ks),
        "</div>",
        "<h2>Pass rate per problem across runs</h2>",
        '<div id="readout"></div>',
        f'<div class="charts" id="heatmap">{heatmap_svg(sweep)}</div>',
        "<h2>All runs</h2>",
        _table(sweep.runs, sweep.ks, "runs"),
        f'<ul class="notes">{notes}</ul>' if notes else "",
        f'<script type="application/json" id="report-data">{payload}</script>',
        f"<script>{SCRIPT}</script>",
        "</body></html>",
    ]
    return "\n".join(body)
