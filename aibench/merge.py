"""Merge the run dirs of a sharded run (``run.shard=I/N``) into one run dir.

    python -m aibench.merge outputs/multirun/2025-01-01/12-00-00/{0,1,2,3} [-o OUT]

The shards of one run (same model, sampling, harness, sandbox, metrics, n_samples, limit and seed;
every shard 1..N exactly once; each finished, with all its samples) become one run dir holding
``results.jsonl``, ``generations.jsonl``, ``metrics.json``, ``config.yaml`` and ``run_manifest.json``
(plus BigCode's ``generations_<task>.json``/``evaluation_results.json`` when the shards wrote them).
pass@k is computed again over the merged sample results by the run's own metrics and the runner's
scoring, so it is what the unsharded run reports. A directory holding shard run dirs (a sweep's
dir) stands for the shards in it. Anything else is refused with one line.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aibench.errors import AibenchError
from aibench.manifest import config_hash
from aibench.outputs import GENERATIONS, MANIFEST, METRICS, RESULTS, RunDir, read_jsonl, sample_key
from aibench.registry import transport_keys

PREFIX = "aibench: error: "
USAGE = "python -m aibench.merge SHARD_DIR... [-o OUT]"
# run keys that do not change what a sample comes to (and run.shard, which differs by design)
RUN_KEYS_IGNORED = {"shard", "workers", "resume", "progress"}


@dataclass
class Shard:
    path: Path
    index: int
    count: int
    total: int
    problems: list[tuple[str, str, int, str]]  # (task, task_id, dataset index, language)
    manifest: dict[str, Any]
    metrics: dict[str, Any]
    results: dict[tuple[str, str, int], dict[str, Any]]
    generations: dict[tuple[str, str, int], dict[str, Any]]


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise AibenchError(f"cannot read {path}: {str(exc).splitlines()[0]}") from None


def expand(paths: list[str | Path]) -> list[Path]:
    """Run dirs as given; a dir that is not a run dir but holds run dirs (a sweep dir) stands for them."""
    dirs: list[Path] = []
    for given in paths:
        p = Path(given)
        if not p.is_dir():
            raise AibenchError(f"no such run dir: {p}")
        if (p / MANIFEST).exists() or (p / METRICS).exists() or RunDir.peek_records(p):
            dirs.append(p)
            continue
        inner = sorted((m.parent for m in p.glob(f"*/{MANIFEST}")), key=lambda d: (len(d.name), d.name))
        if not inner:
            raise AibenchError(f"{p} is not an aibench run dir (no {MANIFEST}) and holds none")
        dirs.extend(inner)
    return dirs


def load_shard(path: Path) -> Shard:
    if not (path / MANIFEST).exists():
        raise AibenchError(f"{path} is not an aibench run dir (no {MANIFEST})")
    if not (path / METRICS).exists():
        raise AibenchError(
            f"shard {path} is incomplete: no {METRICS} (the run did not finish); finish it with "
            f"run.resume=true hydra.run.dir={path} and merge again"
        )
    manifest, metrics = _read_json(path / MANIFEST), _read_json(path / METRICS)
    shard = metrics.get("shard")
    if not isinstance(shard, dict):
        raise AibenchError(f"{path} is not a shard (it ran without run.shard=I/N): merge only the shards of one run")
    problems = [(str(p[0]), str(p[1]), int(p[2]), str(p[3]) if len(p) > 3 else "python") for p in shard["problems"]]
    results = {sample_key(r): r for r in read_jsonl(path / RESULTS)}
    generations = {sample_key(r): r for r in read_jsonl(path / GENERATIONS)}
    out = Shard(
        path,
        int(shard["index"]),
        int(shard["count"]),
        int(shard["total_problems"]),
        problems,
        manifest,
        metrics,
        results,
        generations,
    )
    _check_complete(out)
    return out


def _check_complete(shard: Shard) -> None:
    """Every problem of the shard has exactly the samples its metrics.json counted, and no others."""
    label = f"shard {shard.index}/{shard.count} ({shard.path})"
    own = {(p[0], p[1]) for p in shard.problems}
    stray = sorted({(t, tid) for t, tid, _ in shard.results} - own)
    if stray:
        raise AibenchError(
            f"{label} holds results of problems outside its slice ({stray[0][1]}, ...): not a clean shard"
        )
    expected: dict[tuple[str, str], int] = {}
    for task, entry in (shard.metrics.get("tasks") or {}).items():
        for task_id, values in (entry.get("per_problem") or {}).items():
            expected[(task, task_id)] = int(values.get("n", 0))
    have: dict[tuple[str, str], int] = {}
    for t, tid, _ in shard.results:
        have[(t, tid)] = have.get((t, tid), 0) + 1
    for key in own:
        if have.get(key, 0) != expected.get(key, 0):
            raise AibenchError(
                f"{label} is incomplete: {RESULTS} holds {have.get(key, 0)} samples of {key[1]}, its {METRICS} "
                f"counted {expected.get(key, 0)}; rerun or resume that shard"
            )


def _identity(manifest: dict[str, Any]) -> dict[str, Any]:
    """The config keys that decide what a sample comes to, flattened (``model.temperature``: 0.2)."""
    config = manifest.get("config") or {}
    model = dict(config.get("model") or {})
    for key in transport_keys(model.get("_target_")):
        model.pop(key, None)
    run = {k: v for k, v in (config.get("run") or {}).items() if k not in RUN_KEYS_IGNORED}
    flat: dict[str, Any] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict) and value:
            for k, v in value.items():
                walk(f"{prefix}.{k}", v)
        else:
            flat[prefix] = value

    for name, node in (
        ("model", model),
        ("harness", config.get("harness")),
        ("sandbox", config.get("sandbox")),
        ("metrics", config.get("metrics")),
        ("run", run),
    ):
        walk(name, node)
    return flat


def check_shards(shards: list[Shard]) -> None:
    """One run's shards, each exactly once, all there."""
    first = shards[0]
    want = _identity(first.manifest)
    for other in shards[1:]:
        got = _identity(other.manifest)
        for key in sorted(set(want) | set(got)):
            if want.get(key) != got.get(key):
                raise AibenchError(
                    f"cannot merge shards of different runs: {key} is {want.get(key)!r} in {first.path} but "
                    f"{got.get(key)!r} in {other.path}; merge the shards of one run config only"
                )
    counts = sorted({s.count for s in shards})
    if len(counts) > 1:
        raise AibenchError(
            f"cannot merge shards of different splits: run.shard=I/N with N in {counts}; merge the shards of one split"
        )
    count = counts[0]
    seen: dict[int, Path] = {}
    for s in shards:
        if s.index in seen:
            raise AibenchError(
                f"shard {s.index}/{count} given twice: {seen[s.index]} and {s.path}; pass each shard once"
            )
        seen[s.index] = s.path
    missing = [i for i in range(1, count + 1) if i not in seen]
    if missing:
        names = ", ".join(f"{i}/{count}" for i in missing)
        raise AibenchError(f"shard(s) {names} missing: the merge needs all {count} shards of the run")
    totals = {s.total for s in shards}
    owners: dict[tuple[str, str], int] = {}
    for s in shards:
        for t, tid, *_ in s.problems:
            if (t, tid) in owners:
                raise AibenchError(f"{tid} is in shard {owners[(t, tid)]}/{count} and {s.index}/{count}: not one split")
            owners[(t, tid)] = s.index
    if len(totals) > 1 or len(owners) != totals.pop():
        raise AibenchError(f"the shards cover {len(owners)} problems, not the run's {first.total}: not one split")


def merge(paths: list[str | Path], out_dir: str | Path | None = None, force: bool = False) -> Path:
    """Merge the shard run dirs ``paths`` into ``out_dir`` (default: ``merged`` beside the first
    shard); returns it."""
    from hydra.utils import instantiate

    from aibench.runner import Runner, SampleRun
    from aibench.types import SampleResult

    dirs = expand(paths)
    shards = sorted((load_shard(d) for d in dirs), key=lambda s: s.index)
    check_shards(shards)
    out_path = Path(out_dir) if out_dir is not None else dirs[0].parent / "merged"
    if out_path.resolve() in {s.path.resolve() for s in shards}:
        raise AibenchError(f"-o {out_path} is one of the shards: choose another output dir")
    if out_path.exists() and any(out_path.iterdir()) and not force:
        raise AibenchError(f"{out_path} exists and is not empty: choose another -o OUT, or pass --force to overwrite")

    first = shards[0]
    config = json.loads(json.dumps(first.manifest.get("config") or {}))
    config.setdefault("run", {})["shard"] = None
    problems = sorted((_Problem(*p) for s in shards for p in s.problems), key=lambda p: (p.task, p.index))
    order = {(p.task, p.task_id): n for n, p in enumerate(problems)}

    def ordered(records: dict[tuple[str, str, int], dict[str, Any]]) -> list[dict[str, Any]]:
        return [records[k] for k in sorted(records, key=lambda k: (order.get(k[:2], -1), k[2]))]

    results = ordered({k: r for s in shards for k, r in s.results.items()})
    generations = ordered({k: r for s in shards for k, r in s.generations.items()})

    tasks: list[str] = []
    for s in shards:
        tasks += [t for t in (s.metrics.get("tasks") or {}) if t not in tasks]
    metrics = instantiate(config["metrics"], _convert_="all")
    suite = _Suite(tasks)
    sample_results = {sample_key(r): SampleResult.from_record(r) for r in results}
    from collections import Counter

    run = SampleRun(
        results=sample_results,
        generations={sample_key(g): g.get("program") for g in generations},
        requested=0,
        executed=0,
        resumed=0,
        status_counts=Counter(r.status for r in sample_results.values()),
    )
    report = Runner(suite, None, None, metrics, None).score(problems, run)  # type: ignore[arg-type]
    samples: dict[str, int] = {}
    for s in shards:
        for key, value in (s.metrics.get("samples") or {}).items():
            if isinstance(value, int):
                samples[key] = samples.get(key, 0) + value
    report.samples = samples
    report.model = first.metrics.get("model")
    report.sections["merged"] = {"shards": len(shards), "from": [str(s.path.resolve()) for s in shards]}
    starts = [s.metrics["started_ms"] for s in shards if s.metrics.get("started_ms")]
    ends = [s.metrics["finished_ms"] for s in shards if s.metrics.get("finished_ms")]
    if starts and ends:
        report.started_ms, report.finished_ms = min(starts), max(ends)
        report.elapsed_s = round((max(ends) - min(starts)) / 1000, 3)

    out = RunDir(out_path)
    out.discard(GENERATIONS, RESULTS)
    for name, records in ((RESULTS, results), (GENERATIONS, generations)):
        with out.file(name).open("w", encoding="utf-8") as fh:
            for rec in records:
                fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
    manifest = dict(first.manifest, config=config, shard=None, merged_from=report.sections["merged"]["from"])
    manifest["config_hash"] = config_hash(config)
    manifest.pop("tracking", None)  # the shards' MLflow runs; the merged run is logged on its own
    out.write_json(MANIFEST, manifest)
    out.file("config.yaml").write_text(_yaml(config), encoding="utf-8")
    report.run_dir = str(out_path.resolve())
    report.config_hash = manifest["config_hash"]
    _bigcode_files(shards, out, problems, run.generations, report)
    out.write_json(METRICS, report.to_dict())
    out.close()
    return out_path


@dataclass
class _Problem:
    """What the runner's scoring reads of a problem."""

    task: str
    task_id: str
    index: int
    language: str


class _Suite:
    """What the runner's scoring reads of a task suite."""

    def __init__(self, task_names: list[str]):
        self.task_names = task_names


def _yaml(config: dict[str, Any]) -> str:
    from omegaconf import OmegaConf

    return OmegaConf.to_yaml(OmegaConf.create(config))


def _bigcode_files(shards: list[Shard], out: RunDir, problems: list[_Problem], generations: dict, report: Any) -> None:
    """BigCode's layouts, rebuilt over all problems, where the shards wrote them."""
    from aibench.harnesses.bigcode.outputs import EVALUATION_RESULTS, bigcode_layout, generations_file

    for task in report.tasks:
        if (shards[0].path / generations_file(task)).exists():
            task_problems = [p for p in problems if p.task == task]
            out.write_json(generations_file(task), bigcode_layout(task_problems, generations))  # type: ignore[arg-type]
    evaluation = shards[0].path / EVALUATION_RESULTS
    if evaluation.exists():
        data = _read_json(evaluation)
        out.write_json(EVALUATION_RESULTS, data | {name: res["pass@k"] for name, res in report.tasks.items()})


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, like every aibench error
        sys.stderr.write(f"{PREFIX}{message} (usage: {USAGE})\n")
        sys.exit(2)


def main(argv: list[str] | None = None) -> int:
    parser = _Parser(prog="python -m aibench.merge", description=__doc__.split("\n\n")[0])
    parser.add_argument("shards", nargs="+", help="the shard run dirs (run.shard=I/N), or a sweep dir holding them")
    parser.add_argument("-o", "--out", help="the merged run dir (default: 'merged' beside the first shard)")
    parser.add_argument("--force", action="store_true", help="write into a non-empty output dir")
    args = parser.parse_args(argv)
    try:
        out = merge(args.shards, args.out, args.force)
    except AibenchError as exc:
        sys.stderr.write(f"{PREFIX}{exc}\n")
        return 2
    report = _read_json(out / METRICS)
    scores = "; ".join(
        f"{task} " + ", ".join(f"{k} {v:.4f}" for k, v in entry.get("pass@k", {}).items())
        for task, entry in report.get("tasks", {}).items()
    )
    print(f"merged {report['merged']['shards']} shards into {out}: {scores}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
