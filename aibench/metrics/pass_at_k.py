"""Unbiased pass@k, exactly as the BigCode harness computes it.

BigCode ``bigcode_eval/tasks/custom_metrics/code_eval.py``: per problem with n samples and c
correct, ``1.0 if n - c < k else 1 - prod(1 - k / arange(n - c + 1, n + 1))`` (the Codex paper's
1 - C(n-c, k)/C(n, k)); the task score is the mean over problems, and ``pass@k`` is emitted only
when every problem has at least k samples (``(total >= k).all()``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

from aibench.registry import register
from aibench.types import SampleResult


def estimate_pass_at_k(n: int, c: int, k: int) -> float:
    """Probability that at least one of k samples drawn without replacement from n is correct."""
    if not 0 <= c <= n:
        raise ValueError(f"need 0 <= c <= n, got n={n}, c={c}")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if n - c < k:
        return 1.0
    prod = 1.0
    for i in range(n - c + 1, n + 1):  # same product, same order as BigCode's numpy expression
        prod *= 1.0 - k / i
    return 1.0 - prod


def exit0_rule(result: SampleResult) -> bool:
    """MultiPL-E's verdict (``single_experiment_pass_k.for_file``: status OK and exit code 0): the
    runner's ``exit0_rule_passed`` where it reports one, else the honest verdict (a sample that
    never ran - compile error, generation error - fails both)."""
    return result.passed if result.exit0_rule_passed is None else result.exit0_rule_passed


@dataclass
class PassAtKConfig:
    k: list[int] = field(default_factory=lambda: [1, 10, 100])


@register("metrics", "pass_at_k", PassAtKConfig)
class PassAtK:
    """pass@k of one task's sample results: n and c counted per problem, then the estimator."""

    name = "pass_at_k"

    def __init__(self, cfg: PassAtKConfig | None = None, /, **settings: Any):
        from aibench.config import configure

        ks = sorted(set(configure(self, cfg, settings).k))
        if not ks or ks[0] < 1:
            raise ValueError("metrics.k must be a non-empty list of integers >= 1")
        self.k = ks

    def reportable_k(self, n_min: int) -> list[int]:
        return [k for k in self.k if k <= n_min]

    def compute(
        self, results: Iterable[SampleResult], correct: Callable[[SampleResult], bool] | None = None
    ) -> dict[str, Any]:
        """Overall and per-problem pass@k of ``results`` (one task's samples; problems in the order
        their first sample comes). ``correct`` decides which samples count (default: ``passed``;
        :func:`exit0_rule` is MultiPL-E's rule)."""
        counts: dict[str, list[int]] = {}
        for r in results:
            n_c = counts.setdefault(r.task_id, [0, 0])
            n_c[0] += 1
            n_c[1] += int(r.passed if correct is None else correct(r))
        return self.from_counts({pid: (n, c) for pid, (n, c) in counts.items()})

    def from_counts(self, counts: Mapping[str, tuple[int, int]]) -> dict[str, Any]:
        """``counts``: problem id -> (n samples, c correct). Returns overall and per-problem values."""
        if not counts:
            return {"pass@k": {}, "per_problem": {}, "n_min": 0, "n_max": 0, "k_omitted": list(self.k)}
        ns = [n for n, _ in counts.values()]
        n_min, n_max = min(ns), max(ns)
        ks = self.reportable_k(n_min)
        per_problem = {
            pid: {f"pass@{k}": estimate_pass_at_k(n, c, k) for k in ks} | {"n": n, "c": c}
            for pid, (n, c) in counts.items()
        }
        overall = {f"pass@{k}": sum(p[f"pass@{k}"] for p in per_problem.values()) / len(per_problem) for k in ks}
        return {
            "pass@k": overall,
            "per_problem": per_problem,
            "n_min": n_min,
            "n_max": n_max,
            "k_omitted": [k for k in self.k if k not in ks],
        }


# Languages whose runners run the program as its own executable and report MultiPL-E's exit-0 rule
EXIT0_RULE_LANGUAGES = ("javascript", "java", "cpp")
EXIT0_SUFFIX = "_exit0_rule"


def _mlflow_name(key: str) -> str:
    return key.replace("@", "_at_")


def language_scores(
    metrics: Any,
    results: list[SampleResult],
    task_language: Mapping[str, str],
    tasks: dict[str, dict[str, Any]],
) -> dict[str, Any]:
    """MultiPL-E's exit-0 rule beside the honest pass@k, and pass@k per language.

    Adds to each entry of ``tasks`` (the report's per-task scores) whose language reports the
    rule (or whose samples carry it): ``pass@k_exit0_rule`` (``{"pass@1_exit0_rule": ...}``, same k as
    ``pass@k``) and ``exit0_rule_only`` (samples that pass only by exiting 0, e.g. before the
    tests). Returns the report sections ``languages`` (per language: its tasks, problems, samples,
    ``pass@k`` over all its problems and the exit-0 figures) and ``extra_metrics`` (the same numbers
    under MLflow names: ``<task>/pass_at_1_exit0_rule``, ``language/<lang>/pass_at_1``, ...)."""
    by_task: dict[str, list[SampleResult]] = {}
    for r in results:
        by_task.setdefault(r.task, []).append(r)
    extra: dict[str, float] = {}

    def exit0_figures(rs: list[SampleResult], key: Callable[[SampleResult], str]) -> tuple[dict[str, float], int]:
        counts: dict[str, list[int]] = {}
        for r in rs:
            n_c = counts.setdefault(key(r), [0, 0])
            n_c[0] += 1
            n_c[1] += int(exit0_rule(r))
        scores = metrics.from_counts({pid: (n, c) for pid, (n, c) in counts.items()})
        only = sum(1 for r in rs if exit0_rule(r) and not r.passed)
        return {k + EXIT0_SUFFIX: v for k, v in scores["pass@k"].items()}, only

    def reports_rule(lang: str | None, rs: list[SampleResult]) -> bool:
        return lang in EXIT0_RULE_LANGUAGES or any(r.exit0_rule_passed is not None for r in rs)

    for task, res in tasks.items():
        rs = by_task.get(task, [])
        if not rs or not reports_rule(task_language.get(task), rs):
            continue
        figures, only = exit0_figures(rs, lambda r: r.task_id)
        res["pass@k_exit0_rule"], res["exit0_rule_only"] = figures, only
        for k, v in figures.items():
            extra[f"{task}/{_mlflow_name(k)}"] = v
            if len(tasks) == 1:
                extra[_mlflow_name(k)] = v

    languages: dict[str, dict[str, Any]] = {}
    for lang in sorted({task_language[t] for t in tasks if t in task_language}):
        names = [t for t in tasks if task_language.get(t) == lang]
        rs = [r for t in names for r in by_task.get(t, [])]
        counts: dict[str, list[int]] = {}
        for r in rs:
            n_c = counts.setdefault(f"{r.task}/{r.task_id}", [0, 0])
            n_c[0] += 1
            n_c[1] += int(r.passed)
        scores = metrics.from_counts({pid: (n, c) for pid, (n, c) in counts.items()})
        entry: dict[str, Any] = {
            "tasks": names,
            "n_problems": len(counts),
            "n_samples": len(rs),
            "pass@k": scores["pass@k"],
            "k_omitted": scores["k_omitted"],
        }
        for k, v in scores["pass@k"].items():
            extra[f"language/{lang}/{_mlflow_name(k)}"] = v
        if rs and reports_rule(lang, rs):
            figures, only = exit0_figures(rs, lambda r: f"{r.task}/{r.task_id}")
            entry["pass@k_exit0_rule"], entry["exit0_rule_only"] = figures, only
            for k, v in figures.items():
                extra[f"language/{lang}/{_mlflow_name(k)}"] = v
        languages[lang] = entry
    return {"languages": languages, "extra_metrics": extra}
