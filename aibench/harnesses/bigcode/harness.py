"""``harness=bigcode``: BigCode-evaluation-harness tasks executed in aibench's sandboxes."""

from __future__ import annotations

import importlib
import pkgutil
from collections import Counter
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Optional

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
    # builtin: aibench's tasks, scored in aibench's sandbox; bigcode_eval: the real package's
    # tasks and scoring (extra aibench[bigcode], see docs/bigcode_engine.md)
    engine: str = "builtin"
    # re-score the run's generations with the other engine and report both pass@k sets
    cross_check: bool = False
    # HF datasets cache bigcode_eval reads offline (null: $AIBENCH_BIGCODE_DATASETS or
    # ~/.cache/aibench/bigcode_eval/datasets; `python -m aibench.harnesses.bigcode prepare-data`)
    bigcode_eval_datasets: Optional[str] = None


SCHEMAS = {"bigcode": BigCodeHarnessConfig}


@cache
def task_registry() -> dict[str, type[Task]]:
    """Every ``TASKS`` dict of the modules in this package: adding a task is adding a module."""
    import aibench.harnesses.bigcode as pkg

    registry: dict[str, type[Task]] = {}
    for info in pkgutil.iter_modules(pkg.__path__):
        if info.name.startswith("_"):  # __main__, the bigcode_eval subprocess worker
            continue
        module = importlib.import_module(f"{pkg.__name__}.{info.name}")
        registry.update(getattr(module, "TASKS", {}))
    return registry


class BigCodeHarness(Harness):
    name = "bigcode"

    def __init__(
        self,
        tasks: list[str] | str = ("humaneval",),
        data_paths: dict[str, str] | None = None,
        engine: str = "builtin",
        cross_check: bool = False,
        bigcode_eval_datasets: str | None = None,
    ):
        from aibench.harnesses.bigcode.engine_bigcode_eval import ENGINES

        names = [tasks] if isinstance(tasks, str) else list(tasks)
        if not names:
            raise AibenchError("harness.tasks is empty: name at least one task, e.g. harness.tasks=[humaneval]")
        if engine not in ENGINES:
            raise AibenchError(f"unknown harness.engine={engine}: choose from {', '.join(ENGINES)}")
        self.engine = engine
        self.cross_check = bool(cross_check)
        self.bigcode_eval_datasets = bigcode_eval_datasets
        self.task_names = names
        self.data_paths = dict(data_paths or {})
        registry = task_registry()
        if engine == "bigcode_eval":
            from aibench.harnesses.bigcode.engine_bigcode_eval import ensure_installed

            ensure_installed()  # one line naming the install step, before any work
            # the package's own registry decides which tasks exist (checked in its subprocess)
            self.tasks: dict[str, Task] = {
                t: registry[t](data_path=self.data_paths.get(t)) for t in names if t in registry
            }
            return
        unknown = [t for t in names if t not in registry]
        if unknown:
            raise AibenchError(
                f"unknown task {', '.join(unknown)}: choose from {', '.join(sorted(registry))} (harness.tasks=[...])"
            )
        if self.cross_check:
            from aibench.harnesses.bigcode.engine_bigcode_eval import ensure_installed

            ensure_installed()
        self.tasks = {t: registry[t](data_path=self.data_paths.get(t)) for t in names}

    def params(self) -> dict[str, Any]:
        params = {"harness": self.name, "task": ",".join(self.task_names)}
        if self.engine != "builtin" or self.cross_check:
            params |= {"engine": self.engine, "cross_check": self.cross_check}
        return params

    def describe(self) -> dict[str, Any]:
        tasks: dict[str, Any] = {}
        for name in self.task_names:
            task = self.tasks.get(name)
            tasks[name] = task.describe() if task is not None and self.engine == "builtin" else {}
            if self.engine == "bigcode_eval":
                tasks[name] = {"source": "bigcode_eval task registry (prompts, stop words, postprocessing, references)"}
        return {"name": self.name, "engine": self.engine, "cross_check": self.cross_check, "tasks": tasks}

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
        if self.engine == "bigcode_eval":
            from aibench.harnesses.bigcode import engine_bigcode_eval as real

            report = real.evaluate_with_package(self, model, sandbox, metrics, run, out)
            if "cross_check" in report:
                self._announce(report["cross_check"])
            return report
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
            | {
                "config": {
                    "tasks": ",".join(self.tasks),
                    "model": model.name,
                    "n_samples": run.n_samples,
                    "limit": run.limit,
                    **{k: v for k, v in model.params().items() if k != "model"},
                }
            },
        )
        report["security"] = summarize(result.results.values())
        report["samples"] = {"generated": result.requested, "executed": result.executed, "resumed": result.resumed}
        if self.cross_check:
            from aibench.harnesses.bigcode import engine_bigcode_eval as real

            report["cross_check"] = real.cross_check_builtin(
                problems, result.generations, result.results, report, self, sandbox, run, out
            )
            self._announce(report["cross_check"])
        return report

    @staticmethod
    def _announce(check: dict[str, Any]) -> None:
        import logging
        import sys

        from aibench.harnesses.bigcode.engine_bigcode_eval import announce

        line = announce(check)
        if not check["agree"]:
            logging.getLogger("aibench").warning(line)
        print(line, file=sys.stderr if not check["agree"] else sys.stdout, flush=True)
