"""``harness=bigcode``: BigCode-evaluation-harness tasks executed in aibench's sandboxes."""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Optional

from aibench.errors import AibenchError
from aibench.harnesses.base import RunContext, TaskSuite
from aibench.harnesses.bigcode import outputs
from aibench.harnesses.bigcode.task import Task
from aibench.harnesses.extraction import extract_code
from aibench.registry import register
from aibench.types import Completion, Problem, Program, RunReport


@dataclass
class BigCodeHarnessConfig:
    tasks: list[str] = field(default_factory=lambda: ["humaneval"])
    # task name -> local dataset file in the public dataset's layout (.jsonl, .jsonl.gz or .json);
    # every task has its key (null: the built-in or online data), so harness.data_paths.<task>=FILE
    # overrides it without Hydra's "+"
    data_paths: dict[str, Optional[str]] = field(default_factory=lambda: dict.fromkeys(task_registry()))
    # builtin: aibench's tasks, scored in aibench's sandbox; bigcode_eval: the real package's
    # tasks and scoring (extra aibench[bigcode], see docs/bigcode_engine.md)
    engine: str = "builtin"
    # re-score the run's generations with the other engine and report both pass@k sets
    cross_check: bool = False
    # HF datasets cache bigcode_eval reads offline (null: $AIBENCH_BIGCODE_DATASETS or
    # ~/.cache/aibench/bigcode_eval/datasets; `python -m aibench.harnesses.bigcode prepare-data`)
    bigcode_eval_datasets: Optional[str] = None


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


@register("harness", "bigcode", BigCodeHarnessConfig)
class BigCodeHarness(TaskSuite):
    name = "bigcode"

    def __init__(self, cfg: BigCodeHarnessConfig | None = None, /, **settings: Any):
        from aibench.config import configure
        from aibench.harnesses.bigcode.engine_bigcode_eval import ENGINES

        cfg = configure(self, cfg, settings)
        names = list(cfg.tasks)
        if not names:
            raise AibenchError("harness.tasks is empty: name at least one task, e.g. harness.tasks=[humaneval]")
        engine = cfg.engine
        if engine not in ENGINES:
            raise AibenchError(f"unknown harness.engine={engine}: choose from {', '.join(ENGINES)}")
        self.engine = engine
        self.cross_check = cfg.cross_check
        self.bigcode_eval_datasets = cfg.bigcode_eval_datasets
        self.task_names = names
        self.data_paths = {k: v for k, v in cfg.data_paths.items() if v}  # a key per task, null when unset
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
        if self.engine == "builtin":  # the languages the per-language pass@k metrics are about
            params["languages"] = ",".join(self.languages() or ())
        if self.engine != "builtin" or self.cross_check:
            params |= {"engine": self.engine, "cross_check": self.cross_check}
        return params

    def data_files(self) -> list[str]:
        return sorted({str(task.data_path) for task in self.tasks.values() if task.data_path})

    def languages(self) -> list[str] | None:
        if any(name not in self.tasks for name in self.task_names):  # known to bigcode_eval only
            return None
        return sorted({task.language for task in self.tasks.values()})

    def describe(self) -> dict[str, Any]:
        tasks: dict[str, Any] = {}
        for name in self.task_names:
            task = self.tasks.get(name)
            tasks[name] = task.describe() if task is not None and self.engine == "builtin" else {}
            if self.engine == "bigcode_eval":
                tasks[name] = {"source": "bigcode_eval task registry (prompts, stop words, postprocessing, references)"}
        return {"name": self.name, "engine": self.engine, "cross_check": self.cross_check, "tasks": tasks}

    @property
    def own_engine(self) -> bool:  # type: ignore[override]
        return self.engine == "bigcode_eval"

    # -- the runner's loop (engine=builtin) -------------------------------------------------------
    def problems(self, limit: int | None) -> list[Problem]:
        return [p for task in self.tasks.values() for p in task.problems(limit)]

    def postprocess(self, problem: Problem, completion: Completion) -> str:
        return self.tasks[problem.task].postprocess(problem, completion, extract_code)

    def program(self, problem: Problem, code: str, sample_index: int = 0) -> Program:
        return self.tasks[problem.task].program(problem, code, sample_index)

    def finish(self, ctx: RunContext, problems: list[Problem], samples: Any, report: RunReport) -> None:
        """BigCode's layouts of the generations and the scores; the cross-check with the package."""
        for name in self.tasks:
            outputs.write_generations(ctx.out, name, [p for p in problems if p.task == name], samples.generations)
        outputs.write_evaluation_results(ctx.out, report, list(self.tasks), ctx.model, ctx.n_samples, ctx.limit)
        if self.cross_check:
            from aibench.harnesses.bigcode import engine_bigcode_eval as real

            report.sections["cross_check"] = real.cross_check_builtin(
                problems, samples.generations, samples.results, report, self, ctx
            )
            self._announce(report.sections["cross_check"])

    # -- engine=bigcode_eval ----------------------------------------------------------------------
    def evaluate(self, ctx: RunContext) -> RunReport:
        from aibench.harnesses.bigcode import engine_bigcode_eval as real

        report = real.evaluate_with_package(self, ctx)
        if "cross_check" in report.sections:
            self._announce(report.sections["cross_check"])
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
