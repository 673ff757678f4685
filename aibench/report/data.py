"""What the comparison report reads: the finished runs of a sweep dir.

A sweep dir (``outputs/multirun/<date>/<time>/``) holds one run dir per job (``0/``, ``1/``, ...):
``metrics.json`` (pass@k), ``results.jsonl`` (per-sample verdicts), ``config.yaml`` /
``run_manifest.json`` (the resolved config: model name, temperature) and Hydra's
``.hydra/overrides.yaml`` (what the sweep varied). Unfinished jobs (no ``metrics.json``) and the
shards of a sharded run (merge them first: ``python -m aibench.merge``) are left out with a note.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aibench.errors import AibenchError
from aibench.outputs import MANIFEST, METRICS, RESULTS, read_jsonl

# overrides that name the model or its temperature: shown as their own columns, not as "other settings"
MODEL_KEYS = ("model", "model.name")
TEMPERATURE_KEY = "model.temperature"
# overrides that do not change a run's numbers (where files go, tracking, progress)
QUIET_PREFIXES = ("hydra.", "tracking.", "paths.", "run.progress", "run.workers", "run.resume", "model.path")


@dataclass
class RunRow:
    """One finished job of the sweep."""

    job: str  # the job dir's name (Hydra's job number)
    path: Path
    model: str
    temperature: float | None
    overrides: list[str]  # the job's own overrides (.hydra/overrides.yaml)
    pass_at_k: dict[str, float]  # over all the run's problems (every task)
    per_problem: dict[str, float]  # "<task_id>" (or "<task>:<task_id>" with several tasks) -> pass rate c/n
    n_samples: int | None = None
    settings: dict[str, str] = field(default_factory=dict)  # swept keys other than model and temperature

    @property
    def label(self) -> str:
        parts = [self.model]
        if self.temperature is not None:
            parts.append(f"T={self.temperature:g}")
        parts += [f"{k}={v}" for k, v in self.settings.items()]
        return " ".join(parts)

    @property
    def series(self) -> str:
        """The curve this run is a point of: the model and every other swept setting but temperature."""
        return " ".join([self.model, *(f"{k}={v}" for k, v in self.settings.items())])


@dataclass
class Sweep:
    path: Path
    runs: list[RunRow]
    skipped: list[str]  # "<job>: why", for the page's notes
    ks: list[str]  # pass@k keys every run reports, smallest k first
    problems: list[str]  # heat-map columns, in dataset order


def _json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise AibenchError(f"cannot read {path}: {str(exc).splitlines()[0]}") from None


def _overrides(job: Path) -> list[str]:
    path = job / ".hydra" / "overrides.yaml"
    if not path.exists():
        return []
    from omegaconf import OmegaConf

    data = OmegaConf.to_container(OmegaConf.load(path))
    return [str(x) for x in data] if isinstance(data, list) else []


def _config(job: Path) -> dict[str, Any]:
    manifest = job / MANIFEST
    if manifest.exists():
        config = _json(manifest).get("config")
        if isinstance(config, dict):
            return config
    path = job / "config.yaml"
    if path.exists():
        from omegaconf import OmegaConf

        data = OmegaConf.to_container(OmegaConf.load(path))
        if isinstance(data, dict):
            return data
    return {}


def _split(override: str) -> tuple[str, str]:
    key, _, value = override.partition("=")
    return key.lstrip("+~"), value


def _float(value: Any) -> float | None:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


def _k(key: str) -> int:
    return int(key.split("@", 1)[1]) if "@" in key and key.split("@", 1)[1].isdigit() else 10**9


def read_run(job: Path) -> RunRow:
    metrics = _json(job / METRICS)
    config = _config(job)
    overrides = _overrides(job)
    model_cfg = config.get("model") or {}
    by_key = dict(_split(o) for o in overrides)
    model = model_cfg.get("name") or by_key.get("model.name") or by_key.get("model") or metrics.get("model") or "?"
    temperature = _float(model_cfg.get("temperature", by_key.get(TEMPERATURE_KEY)))
    settings = {
        k: v
        for k, v in by_key.items()
        if k not in MODEL_KEYS and k != TEMPERATURE_KEY and not k.startswith(QUIET_PREFIXES)
    }

    tasks = {t: e for t, e in (metrics.get("tasks") or {}).items() if isinstance(e, dict) and "pass@k" in e}
    several = len(tasks) > 1
    # pass@k over every problem of the run: each task's value weighted by its problem count
    weights = {t: int(e.get("n_problems") or len(e.get("per_problem") or {}) or 1) for t, e in tasks.items()}
    common = set.intersection(*(set(e["pass@k"]) for e in tasks.values())) if tasks else set()
    total = sum(weights.values()) or 1
    pass_at_k = {k: sum(tasks[t]["pass@k"][k] * weights[t] for t in tasks) / total for k in sorted(common, key=_k)}

    counts: dict[str, list[int]] = {}
    if (job / RESULTS).exists():  # the per-sample verdicts
        for rec in read_jsonl(job / RESULTS):
            if rec.get("task") not in tasks:
                continue
            name = f"{rec['task']}:{rec['task_id']}" if several else str(rec["task_id"])
            n_c = counts.setdefault(name, [0, 0])
            n_c[0] += 1
            n_c[1] += int(bool(rec.get("passed")))
    else:  # no per-sample file: the per-problem counts of metrics.json
        for t, e in tasks.items():
            for task_id, values in (e.get("per_problem") or {}).items():
                name = f"{t}:{task_id}" if several else task_id
                counts[name] = [int(values.get("n", 0)), int(values.get("c", 0))]
    per_problem = {name: c / n for name, (n, c) in counts.items() if n}
    n_samples = (config.get("run") or {}).get("n_samples")
    return RunRow(
        job=job.name,
        path=job,
        model=str(model),
        temperature=temperature,
        overrides=overrides,
        pass_at_k=pass_at_k,
        per_problem=per_problem,
        n_samples=int(n_samples) if isinstance(n_samples, int) else None,
        settings=settings,
    )


def _job_order(path: Path) -> tuple[int, int, str]:
    return (0, int(path.name), "") if path.name.isdigit() else (1, 0, path.name)


def read_sweep(sweep_dir: str | Path) -> Sweep:
    """The finished runs of ``sweep_dir`` (its job dirs, or the dir itself if it is one run)."""
    root = Path(sweep_dir)
    if not root.is_dir():
        raise AibenchError(f"no such sweep dir: {root}")
    jobs = sorted(
        (p for p in root.iterdir() if p.is_dir() and ((p / MANIFEST).exists() or (p / METRICS).exists())),
        key=_job_order,
    )
    if not jobs and (root / METRICS).exists():
        jobs = [root]
    runs: list[RunRow] = []
    skipped: list[str] = []
    for job in jobs:
        if not (job / METRICS).exists():
            skipped.append(f"{job.name}: unfinished (no {METRICS})")
            continue
        metrics = _json(job / METRICS)
        if isinstance(metrics.get("shard"), dict):
            s = metrics["shard"]
            skipped.append(
                f"{job.name}: shard {s.get('index')}/{s.get('count')} (merge the shards: python -m aibench.merge)"
            )
            continue
        row = read_run(job)
        if not row.pass_at_k:
            skipped.append(f"{job.name}: no pass@k in {METRICS}")
            continue
        runs.append(row)
    if not runs:
        why = f" ({'; '.join(skipped)})" if skipped else ""
        raise AibenchError(
            f"no finished runs with pass@k under {root}{why}: point at a sweep dir (outputs/multirun/<date>/<time>)"
        )
    # other settings: only what the sweep varied (a key every job sets alike says nothing)
    keys = {k for r in runs for k in r.settings}
    varying = sorted(k for k in keys if len({r.settings.get(k) for r in runs}) > 1)
    for r in runs:
        r.settings = {k: r.settings[k] for k in varying if k in r.settings}
    ks = sorted(set.intersection(*(set(r.pass_at_k) for r in runs)), key=_k)
    problems: list[str] = []
    seen: set[str] = set()
    for r in runs:
        for name in r.per_problem:
            if name not in seen:
                seen.add(name)
                problems.append(name)
    return Sweep(path=root, runs=runs, skipped=skipped, ks=ks, problems=_dataset_order(problems))


def _dataset_order(names: list[str]) -> list[str]:
    """``HumanEval/2`` before ``HumanEval/10``: by task, then by the id's trailing number where there is one."""

    def key(name: str) -> tuple[str, str, int, str]:
        head, _, tail = name.rpartition("/")
        return (name.split(":", 1)[0] if ":" in name else "", head, int(tail) if tail.isdigit() else -1, name)

    return sorted(names, key=key)


def best_per_model(sweep: Sweep) -> list[RunRow]:
    """Per model the run with the highest pass@k at the smallest common k (ties: the next k, then
    the lower temperature, then the earlier job)."""
    best: dict[str, RunRow] = {}
    for r in sweep.runs:
        cur = best.get(r.model)
        if cur is None or _rank(r, sweep.ks) > _rank(cur, sweep.ks):
            best[r.model] = r
    return [best[m] for m in sorted(best)]


def _rank(r: RunRow, ks: list[str]) -> tuple:
    temp = r.temperature if r.temperature is not None else math.inf
    return (*(r.pass_at_k.get(k, -1.0) for k in ks), -temp, -_job_order(r.path)[1])
