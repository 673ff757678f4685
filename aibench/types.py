"""Core value types that flow through a run (see the data-flow sketch in the README).

Problem --GenerationRequest--> Model.generate --Completion--> task postprocess --Program-->
Sandbox.execute --Verdict--> SampleResult --> metrics --> RunReport.  Every module imports these;
these import nothing of aibench.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Mapping


class Status(str, Enum):
    """Outcome of one sample. Only PASSED counts as correct."""

    PASSED = "passed"
    FAILED = "failed"  # the program ran and the tests did not complete (assert, exception, exit)
    TIMEOUT = "timeout"  # wall-clock or CPU limit hit
    MEMORY = "memory"  # address-space / memory limit hit
    OUTPUT_LIMIT = "output_limit"  # stdout/stderr exceeded the byte cap
    CRASHED = "crashed"  # killed by a signal (segfault, abort, ...) outside the limits above
    COMPILE_ERROR = "compile_error"  # javac/g++ rejected the program (or took longer than its compile budget)
    SANDBOX_ERROR = "sandbox_error"  # the sandbox itself failed; not the program's fault
    GENERATION_TRUNCATED = "generation_truncated"  # model hit its token limit and the program failed
    GENERATION_ERROR = "generation_error"  # the model backend failed for this sample

    def __str__(self) -> str:  # pragma: no cover - cosmetic
        return self.value


@dataclass(frozen=True)
class Problem:
    """One benchmark problem, already in the form the task defines (prompt stripped or not)."""

    task: str  # e.g. "humaneval"
    task_id: str  # e.g. "HumanEval/0"
    index: int  # position in the task's dataset order
    prompt: str  # the text the model continues (BigCode: doc["prompt"].strip() for humaneval)
    language: str  # "python", "javascript", "java", "cpp"
    tests: str  # test code appended after the candidate (BigCode's "reference")
    stop_words: tuple[str, ...] = ()
    entry_point: str | None = None
    canonical_solution: str | None = None  # a full reference program, where the dataset has one
    timeout: float = 3.0  # seconds per program, before sandbox.timeout_scale
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class GenerationRequest:
    """Ask the model for sample ``sample_index`` of ``problem``."""

    problem: Problem
    sample_index: int

    @property
    def prompt(self) -> str:
        return self.problem.prompt

    @property
    def stop(self) -> tuple[str, ...]:
        return self.problem.stop_words

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.problem.task, self.problem.task_id, self.sample_index)


class CompletionKind(str, Enum):
    COMPLETION = "completion"  # continuation of the prompt (raw completion models)
    CHAT = "chat"  # free-form chat reply; code must be extracted from it
    PROGRAM = "program"  # already a full program (reference solutions, BigCode generations files)


@dataclass
class Completion:
    """What a model returned for one request."""

    request: GenerationRequest
    text: str
    kind: CompletionKind = CompletionKind.COMPLETION
    finish_reason: str | None = None  # "stop" | "length" | None when unknown
    error: str | None = None  # set when the backend failed for this sample (text is then "")
    usage: dict[str, Any] = field(default_factory=dict)  # prompt_tokens, completion_tokens, latency_s, cached


@dataclass(frozen=True)
class Program:
    """A complete program to run: the candidate code followed by the task's tests.

    ``source`` is exactly what the BigCode harness executes (``candidate + "\n" + reference``);
    ``code`` and ``tests`` are kept apart so a runner can instrument the tests (per-assert detail)
    without touching the candidate.
    """

    language: str
    code: str  # the candidate program (prompt + completion, postprocessed)
    tests: str  # the task's test code, e.g. "\n" + test + "\ncheck(entry_point)" for HumanEval
    timeout: float  # seconds (wall clock), before sandbox.timeout_scale
    task_id: str = ""
    sample_index: int = 0
    entry_point: str | None = None
    # Optional separately-runnable test cases (e.g. MBPP assert statements) for per-test detail.
    test_cases: tuple[str, ...] = ()
    # Trusted code the tests may call besides the candidate (HumanEval: the task's prompt, which
    # defines helpers such as ``encode_cyclic``). The split-process judge takes these from here,
    # never from the candidate program.
    prelude: str = ""

    @property
    def source(self) -> str:
        return self.code + "\n" + self.tests


@dataclass
class Verdict:
    """Result of executing one Program in a sandbox."""

    status: Status
    exit_code: int | None = None
    duration: float = 0.0
    stdout_tail: str = ""
    stderr_tail: str = ""
    error: str = ""  # one-line reason (exception text, signal name, limit hit)
    detail: dict[str, Any] = field(default_factory=dict)  # per-test results, killed strays, ...

    @property
    def passed(self) -> bool:
        return self.status is Status.PASSED

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["status"] = self.status.value
        d["passed"] = self.passed
        return d


@dataclass(frozen=True)
class SampleResult:
    """What scoring needs of one finished sample (the full record is in ``results.jsonl``)."""

    task: str
    task_id: str
    sample_index: int
    status: str
    passed: bool
    strays_killed: int = 0  # stray processes the sandbox killed after the program ended
    # MultiPL-E's rule (exit code 0 = passed), where the runner reports it (native languages)
    exit0_rule_passed: bool | None = None
    output_truncated: bool = False  # more output than ``limits.output_bytes``: drained, only the tail kept

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.task, self.task_id, self.sample_index)

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> "SampleResult":
        """From a ``results.jsonl`` record."""
        detail = record.get("detail") or {}
        strays = detail.get("strays_killed", 0) or 0
        exit0 = detail.get("exit0_rule_passed")
        return cls(
            task=record["task"],
            task_id=record["task_id"],
            sample_index=int(record["sample_index"]),
            status=record["status"],
            passed=bool(record["passed"]),
            strays_killed=int(strays),
            exit0_rule_passed=None if exit0 is None else bool(exit0),
            output_truncated=bool(detail.get("output_truncated")),
        )


@dataclass
class RunReport:
    """What a run came to: the content of ``metrics.json``, the console summary and MLflow's metrics.

    ``tasks`` holds one entry per task (pass@k, per-problem values, status counts for execution
    suites; lm-eval's metrics for ``harness=lm_eval``); ``sections`` holds what a task suite adds
    of its own (``engine``, ``cross_check``, ``bigcode_eval``, ``lm_eval``, ``table``,
    ``extra_metrics``, ``artifacts``); the rest is filled by the runner and the executor."""

    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)
    samples: dict[str, int] = field(default_factory=dict)  # generated, executed, resumed, cached, ...
    status_counts: dict[str, int] | None = None
    security: dict[str, int] | None = None
    harness: str | None = None  # set by suites whose tasks are not pass@k tasks (harness=lm_eval)
    sections: dict[str, Any] = field(default_factory=dict)
    model: str | None = None
    run_dir: str | None = None
    config_hash: str | None = None
    started_ms: int | None = None
    finished_ms: int | None = None
    elapsed_s: float | None = None
    mlflow: dict[str, Any] | None = None  # run id, or the logging error and the upload command

    _CORE = ("harness", "tasks", "status_counts", "security", "samples")
    _RUN = ("model", "run_dir", "config_hash", "started_ms", "finished_ms", "elapsed_s", "mlflow")

    def to_dict(self) -> dict[str, Any]:
        """The ``metrics.json`` layout (keys without a value are left out)."""
        out: dict[str, Any] = {}
        for name in self._CORE:
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        out.update(self.sections)
        for name in self._RUN:
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "RunReport":
        known = {f.name for f in dataclasses.fields(cls)} - {"sections"}
        return cls(
            **{k: v for k, v in data.items() if k in known},
            sections={k: v for k, v in data.items() if k not in known},
        )
