"""The report's PNG pictures (matplotlib, the optional ``report`` extra; imported only here)."""

from __future__ import annotations

from pathlib import Path

from aibench.report.data import Sweep, best_per_model
from aibench.report.html import PALETTE, series_of

CURVES = "pass_at_k_vs_temperature.png"
HEATMAP = "pass_rate_heatmap.png"
BEST = "best_settings.png"


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt

    return plt


def curves(sweep: Sweep, path: Path) -> Path:
    plt = _pyplot()
    ks = sweep.ks
    fig, axes = plt.subplots(1, len(ks), figsize=(4.2 * len(ks) + 0.6, 3.6), squeeze=False)
    series = series_of(sweep)
    for ax, k in zip(axes[0], ks):
        for n, (name, rows) in enumerate(series.items()):
            temps = [r.temperature for r in rows if k in r.pass_at_k]
            values = [r.pass_at_k[k] for r in rows if k in r.pass_at_k]
            ax.plot(temps, values, marker="o", color=PALETTE[n % len(PALETTE)], label=name)
        ax.set_title(f"{k} vs temperature")
        ax.set_xlabel("temperature")
        ax.set_ylabel(k)
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
    if series:
        axes[0][0].legend(fontsize=8, loc="best")
    else:  # a sweep over other settings (or models without sampling): no curve to draw, say why
        for ax in axes[0]:
            ax.text(
                0.5, 0.5, "no run of this sweep has a temperature", ha="center", va="center", transform=ax.transAxes
            )
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def heatmap(sweep: Sweep, path: Path) -> Path:
    plt = _pyplot()
    import numpy as np

    runs, problems = sweep.runs, sweep.problems
    grid = np.full((len(runs), len(problems)), np.nan)
    for i, r in enumerate(runs):
        for j, name in enumerate(problems):
            if name in r.per_problem:
                grid[i, j] = r.per_problem[name]
    width = min(16.0, max(7.0, 3.0 + 0.18 * len(problems)))
    fig, ax = plt.subplots(figsize=(width, 1.2 + 0.32 * len(runs)))
    cmap = plt.get_cmap("viridis").with_extremes(bad="#e0e0e0")  # problems a run has no sample of
    image = ax.imshow(np.ma.masked_invalid(grid), aspect="auto", cmap=cmap, vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.set_yticks(range(len(runs)), [r.label for r in runs], fontsize=8)
    if len(problems) <= 60:
        ax.set_xticks(range(len(problems)), [p.rsplit("/", 1)[-1] for p in problems], fontsize=7, rotation=90)
    else:
        ax.set_xticks([])
    ax.set_xlabel("problem")
    ax.set_title("pass rate per problem (passed samples / samples)")
    fig.colorbar(image, ax=ax, fraction=0.03, pad=0.01)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def best_table(sweep: Sweep, path: Path) -> Path:
    plt = _pyplot()
    best = best_per_model(sweep)
    settings = sorted({k for r in best for k in r.settings})
    header = ["model", "temperature", *settings, *sweep.ks, "job"]
    rows = [
        [
            r.model,
            "" if r.temperature is None else f"{r.temperature:g}",
            *(r.settings.get(s, "") for s in settings),
            *(f"{r.pass_at_k[k]:.4f}" for k in sweep.ks),
            r.job,
        ]
        for r in best
    ]
    fig, ax = plt.subplots(figsize=(1.5 + 1.3 * len(header), 0.8 + 0.3 * len(rows)))
    ax.axis("off")
    table = ax.table(cellText=rows, colLabels=header, loc="center", cellLoc="left")
    table.auto_set_font_size(False)
    table.set_fontsize(9)
    table.scale(1, 1.3)
    ax.set_title("best setting per model", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def write_pngs(sweep: Sweep, out_dir: Path) -> list[Path]:
    return [curves(sweep, out_dir / CURVES), heatmap(sweep, out_dir / HEATMAP), best_table(sweep, out_dir / BEST)]
