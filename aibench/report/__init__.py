"""The comparison report of a sweep: pass@k vs temperature per model, a per-problem pass-rate heat
map across runs and the best setting per model, as PNGs (matplotlib: ``pip install
'aibench[report]'``) and one self-contained HTML page (inline SVG, loads nothing).

    from aibench.report import build_report
    build_report(Path("outputs/multirun/2025-01-01/12-00-00"), Path("report"))

or ``python -m aibench.report <sweep dir> [-o OUT]``; from an MLflow experiment:
``build_report_from_mlflow(uri, experiment, out_dir)`` or ``python -m aibench.report --experiment
NAME [--uri URI] [--parent RUN_ID] -o OUT``.
"""

from __future__ import annotations

import csv
import importlib.util
import logging
from pathlib import Path

from aibench.errors import AibenchError

log = logging.getLogger("aibench")

HTML = "report.html"
BEST_CSV = "best_settings.csv"
RUNS_CSV = "runs.csv"
INSTALL = "pip install 'aibench[report]' (in a checkout: pip install -e '.[report]')"


def have_matplotlib() -> bool:
    return importlib.util.find_spec("matplotlib") is not None


def build_report(sweep_dir: Path, out_dir: Path, *, png: bool | None = None) -> list[Path]:
    """Write the report of ``sweep_dir``'s finished runs into ``out_dir``; returns the files written.

    ``png``: None draws the PNGs where matplotlib is installed (else a warning and the HTML page
    alone), True requires them (AibenchError without matplotlib), False skips them."""
    from aibench.report.data import best_per_model, read_sweep
    from aibench.report.html import render

    sweep = read_sweep(sweep_dir)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    if png is None:
        png = have_matplotlib()
        if not png:
            log.warning("comparison report: PNGs skipped, matplotlib is not installed (%s)", INSTALL)
    elif png and not have_matplotlib():
        raise AibenchError(f"the report's PNGs need matplotlib: {INSTALL}")
    if png:
        from aibench.report.png import write_pngs

        files += write_pngs(sweep, out)
    files.append(_csv(out / BEST_CSV, best_per_model(sweep), sweep.ks))
    files.append(_csv(out / RUNS_CSV, sweep.runs, sweep.ks))
    page = out / HTML
    page.write_text(render(sweep, [f.name for f in files if f.suffix == ".png"]), encoding="utf-8")
    return [page, *files]


def build_report_from_mlflow(
    uri: str, experiment: str, out_dir: Path, *, parent: str | None = None, png: bool | None = None
) -> list[Path]:
    """The report of the finished aibench runs of an MLflow experiment (``parent``: one sweep's
    child runs); their artifacts are fetched into ``out_dir/mlflow_runs`` first."""
    from aibench.report.mlflow_source import fetch_experiment

    runs = fetch_experiment(uri, experiment, Path(out_dir) / "mlflow_runs", parent)
    return build_report(runs, out_dir, png=png)


def _csv(path: Path, rows, ks: list[str]) -> Path:
    settings = sorted({k for r in rows for k in r.settings})
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["model", "temperature", *settings, *ks, "job", "run_dir"])
        for r in rows:
            writer.writerow(
                [
                    r.model,
                    "" if r.temperature is None else r.temperature,
                    *(r.settings.get(s, "") for s in settings),
                    *(r.pass_at_k[k] for k in ks),
                    r.job,
                    str(r.path),
                ]
            )
    return path


__all__ = ["build_report", "build_report_from_mlflow"]
