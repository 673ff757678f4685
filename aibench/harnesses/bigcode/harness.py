"""``harness=bigcode``: BigCode-evaluation-harness tasks executed in aibench's sandboxes."""

from __future__ import annotations

import importlib
import pkgutil
from collections import Counter
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from aibench.errors import AibenchError
from aibench.harnesses.base import Harness
from aibench.harnesses.bigcode.task import Task
from aibench.harnesses.extraction import extract_code
from aibench.harnesses.pipeline import bigcode_layout, run_samples
from aibench.metrics.security import summarize
from aibench.models.base import Model
from aibench.outputs import RunDir
from aibench.sandboxes.base import Sandbox
from aibench.types import Completion, Problem


@dataclass
class BigCodeHarnessConfig:
    _target_: str = "aibench.harnesses.bigcode.harness.BigCodeHarness"
    tasks: list[str] = field(default_factory=lambda: ["humaneval"])
    # task name -> local dataset file in the HF/BigCode layout (.jsonl, .jsonl.gz or .json)
    data_paths: dict[str, str] = field(default_factory=dict)


SCHEMAS = {"bigcode": BigCodeHarnessConfig}


@cache
def task_registry() -> dict[str, type[Task]]:
    """Every ``TASKS`` dict of the modules in this package: adding a task is adding a module."""
    import aibench.harnesses.bigcode as pkg

    registry: dict[str, type[Task]] = {}
    for info in pkgutil.iter_modules(pkg.__path__):
        module = importlib.import_module(f"{pkg.__name__}.{info.name}")
        registry.update(getattr(module, "TASKS", {}))
    return registry


class BigCodeHarness(Harness):
    name = "bigcode"

    def __init__(self, tasks: list[str] | str = ("humaneval",), data_paths: dict[str, str] | None = None):
        names = [tasks] if isinstance(tasks, str) else list(tasks)
        if not names:
            raise AibenchError("harness.tasks is empty: name at least one task, e.g. harness.tasks=[humaneval]")
        registry = task_registry()
        unknown = [t for t in names if t not in registry]
        if unknown:
            raise AibenchError(
                f"unknown task {', '.join(unknown)}: choose from {', '.join(sorted(registry))} (harness.tasks=[...])"
            )
        paths = dict(data_paths or {})
        self.tasks: dict[str, Task] = {t: registry[t](data_path=paths.get(t)) for t in names}

    def params(self) -> dict[str, Any]:
        return {"harness": self.name, "task": ",".join(self.tasks)}

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "tasks": {name: task.describe() for name, task in self.tasks.items()}}

    def validate(self, model: Model, metrics: Any, run: Any) -> None:
        if run.n_samples < 1:
            raise AibenchError(f"run.n_samples must be >= 1 (got {run.n_samples})")
        ks = list(getattr(metrics, "k", []))
        if ks and min(ks) > run.n_samples:
            raise AibenchError(
                f"run.n_samples={run.n_samples} is smaller than every k in metrics.k={ks}: "
                f"raise run.n_samples to at least {min(ks)} or set metrics.k=[1]"
            )

    def evaluate(self, model: Model, sandbox: Sandbox, metrics: Any, run: Any, out: RunDir) -> dict[str, Any]:
        problems: list[Problem] = []
        for task in self.tasks.values():
            problems.extend(task.problems(run.limit))
        def postprocess(problem: Problem, completion: Completion) -> str:
            return self.tasks[problem.task].postprocess(problem, completion, extract_code)

        def build(problem: Problem, code: str, index: int):
            return self.tasks[problem.task].program(problem, code, index)

        if hasattr(model, "prepare"):
            model.prepare(problems)  # e.g. replay checks its file against the problems
        result = run_samples(
            problems,
            model,
            sandbox,
            out,
            n_samples=run.n_samples,
            postprocess=postprocess,
            build_program=build,
            workers=run.workers,
            resume=run.resume,
            progress=run.progress,
        )

        report: dict[str, Any] = {"tasks": {}, "status_counts": dict(result.status_counts)}
        for name, task in self.tasks.items():
            task_problems = [p for p in problems if p.task == name]
            counts: dict[str, list[int]] = {p.task_id: [0, 0] for p in task_problems}
            statuses: Counter = Counter()
            for (t, task_id, _), rec in result.results.items():
                if t == name:
                    counts[task_id][0] += 1
                    counts[task_id][1] += int(rec["passed"])
                    statuses[rec["status"]] += 1
            scores = metrics.compute({tid: (n, c) for tid, (n, c) in counts.items() if n})
            report["tasks"][name] = {
                "pass@k": scores["pass@k"],
                "n_problems": len(task_problems),
                "n_samples": sum(n for n, _ in counts.values()),
                "samples_per_problem": {"min": scores["n_min"], "max": scores["n_max"]},
                "k_omitted": scores["k_omitted"],
                "status_counts": dict(statuses),
                "per_problem": scores["per_problem"],
            }
            out.write_json(f"generations_{name}.json", bigcode_layout(task_problems, result.generations))
        # BigCode's --metric_output_path layout, for side-by-side comparison with its runs
        out.write_json(
            "evaluation_results.json",
            {name: res["pass@k"] for name, res in report["tasks"].items()}
            | {"config": {"tasks": ",".join(self.tasks), "model": model.name, "n_samples": run.n_samples,
                          "limit": run.limit, **{k: v for k, v in model.params().items() if k != "model"}}},
        )
        report["security"] = summarize(result.results.values())
        report["samples"] = {"generated": result.requested, "executed": result.executed, "resumed": result.resumed}
        return report
