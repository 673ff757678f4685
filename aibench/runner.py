"""The run loop: a task suite's problems, the model, the sandbox and the metrics, peers driven from here.

problems -> Model.generate -> generations.jsonl -> suite postprocess -> Sandbox.execute_many
-> results.jsonl -> metrics (pass@k per task, the security summary) -> RunReport

Each generation and each verdict is appended to the run dir the moment it exists, so a killed
run loses nothing finished and ``run.resume=true`` continues from the files: samples with a
result are not redone, samples with a generation but no result are executed without asking the
model again, and only the rest is generated. A suite with an engine of its own (the real
bigcode_eval package, lm-evaluation-harness) gets the same components and this loop in a
:class:`~aibench.harnesses.base.RunContext`.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from aibench.config import parse_shard, shard_of
from aibench.errors import AibenchError
from aibench.harnesses.base import RunContext, TaskSuite
from aibench.harnesses.language_detection import explain_language_mismatch
from aibench.metrics.pass_at_k import language_scores
from aibench.metrics.security import SecuritySummary
from aibench.models.base import Model
from aibench.outputs import GENERATIONS, RESULTS, RunDir, SampleKey, generation_record, result_record
from aibench.sandboxes.base import Sandbox
from aibench.types import (
    Completion,
    GenerationRequest,
    Problem,
    Program,
    RunReport,
    SampleResult,
    Status,
    Verdict,
)

log = logging.getLogger(__name__)

# (problem, completion) -> candidate program text
Postprocess = Callable[[Problem, Completion], str]
# (problem, candidate code, sample index) -> Program
BuildProgram = Callable[[Problem, str, int], Program]


@dataclass
class SampleRun:
    """What the run's samples came to (resumed ones included), kept small: the full records are
    on disk, so a run of 164 x 200 samples does not hold them all in memory."""

    results: dict[SampleKey, SampleResult]
    generations: dict[SampleKey, str | None]  # the postprocessed program of each sample
    requested: int  # samples generated in this invocation
    executed: int  # samples executed in this invocation
    resumed: int  # samples whose result was already on disk
    status_counts: Counter = field(default_factory=Counter)


def _key(problem: Problem, index: int) -> SampleKey:
    return (problem.task, problem.task_id, index)


class _Progress:
    """done/total, rate, ETA and the running pass rate (tqdm), thread-safe."""

    def __init__(self, total: int, initial: int, passed: int, enabled: bool):
        self._lock = threading.Lock()
        self.done, self.passed = initial, passed
        self._bar = None
        if enabled and total:
            from tqdm import tqdm

            self._bar = tqdm(total=total, initial=initial, unit="sample", dynamic_ncols=True, leave=True)
            self._postfix()

    def _postfix(self) -> None:
        if self._bar is not None and self.done:
            self._bar.set_postfix_str(f"pass {self.passed / self.done:.1%}", refresh=False)

    def update(self, passed: bool) -> None:
        with self._lock:
            self.done += 1
            self.passed += int(passed)
            if self._bar is not None:
                self._postfix()
                self._bar.update(1)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def run_samples(
    problems: list[Problem],
    model: Model,
    sandbox: Any,
    out: RunDir,
    *,
    n_samples: int,
    postprocess: Postprocess,
    build_program: BuildProgram,
    workers: int = 1,
    resume: bool = False,
    progress: bool = True,
) -> SampleRun:
    if resume:
        old_gens, old_results = out.load(GENERATIONS), out.load(RESULTS)
    else:
        out.discard(GENERATIONS, RESULTS)
        old_gens, old_results = {}, {}

    by_key: dict[SampleKey, Problem] = {}
    to_generate: list[GenerationRequest] = []
    to_execute: list[tuple[SampleKey, Program, str | None]] = []
    results: dict[SampleKey, SampleResult] = {}
    generations: dict[SampleKey, str | None] = {}
    for problem in problems:
        available = model.samples_available(problem)
        n = n_samples if available is None else min(n_samples, available)
        for i in range(n):
            key = _key(problem, i)
            by_key[key] = problem
            gen = old_gens.get(key)
            if gen is not None:
                generations[key] = gen.get("program")
            if key in old_results:
                results[key] = SampleResult.from_record(old_results[key])
            elif gen is not None and gen.get("program") is not None:
                to_execute.append((key, build_program(problem, gen["program"], i), gen.get("finish_reason")))
            else:
                to_generate.append(GenerationRequest(problem, i))

    resumed = len(results)
    total = len(by_key)
    if to_generate:  # an unreachable server fails here, before a progress bar is drawn
        model.check()
    bar = _Progress(total, resumed, sum(r.passed for r in results.values()), progress)
    failure: list[BaseException] = []
    finish_reasons: dict[SampleKey, str | None] = {}

    def record_result(key: SampleKey, verdict: Verdict, finish_reason: str | None) -> None:
        if key in by_key:
            verdict = explain_language_mismatch(by_key[key], generations.get(key), verdict)
        rec = result_record(key, verdict, finish_reason)
        out.append(RESULTS, rec)
        results[key] = SampleResult.from_record(rec)
        bar.update(verdict.passed)

    def items() -> Iterator[tuple[SampleKey, Program]]:
        try:
            for key, program, reason in to_execute:
                finish_reasons[key] = reason
                yield key, program
            if not to_generate:
                return
            for completion in model.generate(to_generate):
                req = completion.request
                key = req.key
                code: str | None = None
                if completion.error is None:
                    try:
                        code = postprocess(req.problem, completion)
                    except Exception as exc:  # a bad reply must not abort the run
                        completion.error = f"postprocess failed: {type(exc).__name__}: {exc}"
                rec = generation_record(completion, code)
                out.append(GENERATIONS, rec)
                generations[key] = code
                if code is None:
                    record_result(
                        key, Verdict(Status.GENERATION_ERROR, error=completion.error or ""), completion.finish_reason
                    )
                    continue
                finish_reasons[key] = completion.finish_reason
                yield key, build_program(req.problem, code, req.sample_index)
        except GeneratorExit:
            raise
        except BaseException as exc:  # surfaced after the sandbox drains what is in flight
            failure.append(exc)

    executed = 0
    # no more workers than programs: each is a fork server to start (run.workers=16, run.limit=1)
    workers = max(1, min(workers, len(to_execute) + len(to_generate)))
    try:
        # closing(): on Ctrl-C or an error in this loop the sandbox kills what is in flight at once
        with contextlib.closing(sandbox.execute_many(items(), workers=workers)) as verdicts:
            for key, verdict in verdicts:
                record_result(key, verdict, finish_reasons.pop(key, None))
                executed += 1
    finally:
        bar.close()
    if failure:
        raise failure[0]

    counts = Counter(r.status for r in results.values())
    return SampleRun(
        results=results,
        generations=generations,
        requested=len(to_generate),
        executed=executed,
        resumed=resumed,
        status_counts=counts,
    )


def preflight(sandbox: Any, languages: list[str]) -> None:
    """Stop before any model request when a language's toolchain is missing where programs run
    (never a pass@1 = 0 from a missing compiler): the sandbox's own ``preflight(languages)`` (a list
    of missing items, each naming its fix) where it has one, else the host's toolchains as the
    local sandbox's samples see them."""
    if languages == ["python"] or not languages:
        return
    check = getattr(sandbox, "preflight", None)
    if callable(check):
        missing = list(check(languages))
    elif getattr(sandbox, "name", None) == "local":
        from aibench.sandboxes.languages import toolchains

        visible = list(getattr(sandbox, "extra_paths", [])) if getattr(sandbox, "isolate_filesystem", False) else None
        missing = toolchains.check(languages, visible=visible)
    else:
        log.info("sandbox=%s has no toolchain preflight: %s not checked", getattr(sandbox, "name", "?"), languages)
        return
    if missing:
        raise AibenchError(
            f"toolchain missing for {', '.join(languages)} (sandbox={getattr(sandbox, 'name', '?')}): "
            + "; ".join(missing)
        )


class Runner:
    """One run: ``suite`` (problems, prompts, postprocessing, programs, its own output files),
    ``model``, ``sandbox`` and ``metrics`` (pass@k; the security summary is always computed too)."""

    def __init__(self, suite: TaskSuite, model: Model, sandbox: Sandbox, metrics: Any, run: Any):
        self.suite, self.model, self.sandbox, self.metrics, self.run_cfg = suite, model, sandbox, metrics, run
        self.security = SecuritySummary()

    def check(self) -> None:
        """Reject bad settings before any work starts (AibenchError)."""
        run = self.run_cfg
        if self.suite.scored_by_metrics:
            ks = list(getattr(self.metrics, "k", []))
            if ks and min(ks) > run.n_samples:
                raise AibenchError(
                    f"run.n_samples={run.n_samples} is smaller than every k in metrics.k={ks}: "
                    f"raise run.n_samples to at least {min(ks)} or set metrics.k=[1]"
                )
        if parse_shard(getattr(run, "shard", None)) is not None and self.suite.own_engine:
            raise AibenchError(
                f"run.shard={run.shard}: this harness runs its own engine, which evaluates all problems at once; "
                "drop run.shard or use harness.engine=builtin"
            )
        self.suite.validate(self.model, self.run_cfg)

    def context(self, out: RunDir, resume: bool) -> RunContext:
        run = self.run_cfg
        return RunContext(
            model=self.model,
            sandbox=self.sandbox,
            metrics=self.metrics,
            security=self.security,
            out=out,
            n_samples=run.n_samples,
            limit=run.limit,
            workers=run.workers,
            seed=run.seed,
            resume=resume,
            progress=bool(run.progress),
            sample_loop=run_samples,
        )

    def run(self, out: RunDir, resume: bool) -> RunReport:
        ctx = self.context(out, resume)
        if self.suite.own_engine:
            report = self.suite.evaluate(ctx)
        else:
            report = self._evaluate(ctx)
        cached = int((getattr(self.model, "stats", None) or {}).get("cached", 0))
        requested = int(report.samples.get("generated", 0))
        report.samples.update(requested=requested, generated=max(0, requested - cached), cached=cached)
        report.model = self.model.name
        return report

    def _evaluate(self, ctx: RunContext) -> RunReport:
        suite = self.suite
        problems = suite.problems(ctx.limit)
        shard = self.shard(problems)
        if shard is not None:
            problems = shard_of(problems, shard["index"], shard["count"])
        preflight(self.sandbox, sorted({p.language for p in problems}))  # before any model request
        self.model.prepare(problems)
        samples = ctx.samples(problems, postprocess=suite.postprocess, build_program=suite.program)
        report = self.score(problems, samples)
        if shard is not None:
            shard["problems"] = [[p.task, p.task_id, p.index, p.language] for p in problems]
            report.sections["shard"] = shard
        suite.finish(ctx, problems, samples, report)
        return report

    def shard(self, problems: list[Problem]) -> dict[str, Any] | None:
        """``run.shard=I/N``: which slice this run evaluates (``metrics.json``'s ``shard`` section,
        completed with the slice's problems), or None for the whole run."""
        parsed = parse_shard(getattr(self.run_cfg, "shard", None))
        if parsed is None:
            return None
        index, count = parsed
        if len(problems) < count:
            raise AibenchError(
                f"run.shard={index}/{count}: only {len(problems)} problems to split, so shard {index} would be empty; "
                f"use at most {len(problems)} shards"
            )
        return {"index": index, "count": count, "total_problems": len(problems)}

    def score(self, problems: list[Problem], samples: SampleRun) -> RunReport:
        """pass@k per task and the security summary over the sample results (problems in dataset order)."""
        order = {(p.task, p.task_id): i for i, p in enumerate(sorted(problems, key=lambda p: (p.task, p.index)))}
        results = sorted(samples.results.values(), key=lambda r: (order.get((r.task, r.task_id), -1), r.sample_index))
        report = RunReport(status_counts=dict(samples.status_counts))
        for task in self.suite.task_names or dict.fromkeys(p.task for p in problems):
            task_results = [r for r in results if r.task == task]
            scores = self.metrics.compute(task_results)
            report.tasks[task] = {
                "pass@k": scores["pass@k"],
                "n_problems": sum(1 for p in problems if p.task == task),
                "n_samples": len(task_results),
                "samples_per_problem": {"min": scores["n_min"], "max": scores["n_max"]},
                "k_omitted": scores["k_omitted"],
                "status_counts": dict(Counter(r.status for r in task_results)),
                "per_problem": scores["per_problem"],
            }
        report.sections.update(
            language_scores(self.metrics, results, {p.task: p.language for p in problems}, report.tasks)
        )
        report.security = self.security.compute(results)
        report.samples = {"generated": samples.requested, "executed": samples.executed, "resumed": samples.resumed}
        return report
