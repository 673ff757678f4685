"""The task-suite contract: problems, prompts, postprocessing, programs and the suite's own files.

A suite imports neither models nor sandboxes: :mod:`aibench.runner` drives them. A suite with an
engine of its own (``own_engine = True``: the real bigcode_eval package, lm-evaluation-harness)
gets the run's components and the runner's sample loop in a :class:`RunContext`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from aibench.outputs import RunDir
from aibench.types import Completion, Problem, Program, RunReport


@dataclass
class RunContext:
    """The run's components and settings, as the runner hands them to a suite."""

    model: Any
    sandbox: Any
    metrics: Any  # pass@k: ``compute(sample results)``
    security: Any  # the security summary: ``compute(sample results)``
    out: RunDir
    n_samples: int
    limit: int | None
    workers: int
    seed: int
    resume: bool
    progress: bool
    sample_loop: Callable[..., Any]  # aibench.runner.run_samples

    def samples(
        self,
        problems: list[Problem],
        *,
        postprocess: Callable[[Problem, Completion], str],
        build_program: Callable[[Problem, str, int], Program],
        sandbox: Any = None,
        workers: int | None = None,
        progress: bool | None = None,
    ) -> Any:
        """Generate, record and execute ``n_samples`` per problem (``aibench.runner.SampleRun``)."""
        return self.sample_loop(
            problems,
            self.model,
            self.sandbox if sandbox is None else sandbox,
            self.out,
            n_samples=self.n_samples,
            postprocess=postprocess,
            build_program=build_program,
            workers=self.workers if workers is None else workers,
            resume=self.resume,
            progress=self.progress if progress is None else progress,
        )


class TaskSuite:
    name: str = "harness"
    task_names: list[str] = []
    #: pass@k of ``metrics`` scores this suite (the runner checks ``run.n_samples`` against its k)
    scored_by_metrics: bool = True
    #: the suite drives an engine of its own through :meth:`evaluate`
    own_engine: bool = False

    # -- the runner's loop (every suite without an engine of its own) -----------------------------
    def problems(self, limit: int | None) -> list[Problem]:
        """The problems of every task, each task in dataset order, the first ``limit`` of each."""
        raise NotImplementedError

    def postprocess(self, problem: Problem, completion: Completion) -> str:
        """The candidate program of a completion."""
        raise NotImplementedError

    def program(self, problem: Problem, code: str, sample_index: int = 0) -> Program:
        """The program the sandbox runs: the candidate code and the task's tests."""
        raise NotImplementedError

    def finish(self, ctx: RunContext, problems: list[Problem], samples: Any, report: RunReport) -> None:
        """Write the suite's own output files; add its own sections to ``report``."""

    # -- an engine of its own ---------------------------------------------------------------------
    def evaluate(self, ctx: RunContext) -> RunReport:
        raise NotImplementedError(f"{self.name} has no engine of its own")

    # -- settings ---------------------------------------------------------------------------------
    def validate(self, model: Any, run: Any) -> None:
        """Reject bad settings before any work starts (raise AibenchError)."""

    def executes_code(self) -> bool | None:
        """Whether this run's programs go through the sandbox; None while that is known only after
        :meth:`validate` (which loads the tasks). A run that executes no code never starts the
        sandbox (no worker, no toolchain probes) and its manifest says so."""
        return True

    def data_files(self) -> list[str]:
        """Local files this run's tasks are read from (with their reference solutions): the
        sandbox hides them from the programs."""
        return []

    def languages(self) -> list[str] | None:
        """The languages of this run's programs when known before it starts (None: not known)."""
        return None

    def describe(self) -> dict[str, Any]:
        """Task settings for the run manifest (prompt handling, stop words, timeouts)."""
        return {"name": self.name}

    def params(self) -> dict[str, Any]:
        return {"harness": self.name}
