"""The console summary at the end of a sweep: one row per cell (what the sweep varied, each cell's
overall pass@k), the cells that did not finish, and where the table, the report and the MLflow
parent run are. The numbers are the cells' own (``sweep_results.json``, built from their metrics.json)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping


def varied(overrides: list[list[str]]) -> list[str]:
    """The override keys whose values differ between cells, in command-line order."""
    seen: dict[str, set[str]] = {}
    for cell in overrides:
        for item in cell:
            key, _, value = item.partition("=")
            seen.setdefault(key, set()).add(value)
    keys = [k for k, values in seen.items() if len(values) > 1]
    return keys or list(seen)[:1]


def pass_keys(rows: list[Mapping[str, Any]]) -> list[str]:
    """The overall ``pass_at_<k>`` keys any row has, smallest k first."""
    keys = {k for r in rows for k in r if k.startswith("pass_at_") and k[8:].isdigit()}
    return sorted(keys, key=lambda k: int(k[8:]))


def print_sweep_summary(
    sweep_dir: Path, rows: list[Mapping[str, Any]], cells: list[Path], files: list[Path], state: Mapping[str, Any]
) -> None:
    from rich.console import Console
    from rich.table import Table

    from aibench.tracking.sweep import cell_overrides as overrides_of

    by_job = {int(r["job"]): r for r in rows}
    cell_overrides = {int(c.name): list(overrides_of(c)) for c in cells}
    keys = varied([o for o in cell_overrides.values() if o])
    ks = pass_keys(rows)
    table = Table(title=f"sweep {state.get('sweep_id', '')}", title_justify="left")
    for col in ("job", *keys, *(f"pass@{k[8:]}" for k in ks)):
        table.add_column(col, justify="right" if col == "job" or col.startswith("pass@") else "left")
    for job in sorted(cell_overrides):
        values = dict(o.partition("=")[::2] for o in cell_overrides[job])
        row = by_job.get(job)
        scores = [f"{row[k]:.4f}" if row and isinstance(row.get(k), (int, float)) else "-" for k in ks]
        table.add_row(str(job), *(values.get(k, "") for k in keys), *scores)
    console = Console(width=max(100, Console().width))
    console.print(table)
    missing = sorted(set(cell_overrides) - set(by_job))
    if missing:
        console.print(
            f"not finished: job {', '.join(map(str, missing))} (rerun the same command with run.resume=true)",
            highlight=False,
        )
    names = {p.name: p for p in files}
    where = [f"sweep dir: {sweep_dir}"]
    if "sweep_results.csv" in names:
        where.append(f"table: {names['sweep_results.csv']}")
    if "report.html" in names:
        where.append(f"report: {names['report.html']}")
    tracking = state.get("tracking") or {}
    if tracking.get("parent_run_id"):
        where.append(f"mlflow parent run: {tracking['parent_run_id']} ({tracking.get('uri')})")
    for line in where:
        console.print(line, highlight=False, soft_wrap=True)
