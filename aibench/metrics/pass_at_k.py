"""Unbiased pass@k, exactly as the BigCode harness computes it.

BigCode ``bigcode_eval/tasks/custom_metrics/code_eval.py``: per problem with n samples and c
correct, ``1.0 if n - c < k else 1 - prod(1 - k / arange(n - c + 1, n + 1))`` (the Codex paper's
1 - C(n-c, k)/C(n, k)); the task score is the mean over problems, and ``pass@k`` is emitted only
when every problem has at least k samples (``(total >= k).all()``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

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


@dataclass
class PassAtKConfig:
    k: list[int] = field(default_factory=lambda: [1, 10, 100])


@register("metrics", "pass_at_k", PassAtKConfig)
class PassAtK:
    """pass@k of one task's sample results: n and c counted per problem, then the estimator."""

    name = "pass_at_k"

    def __init__(self, k: list[int] | tuple[int, ...] = (1, 10, 100)):
        ks = sorted({int(x) for x in k})
        if not ks or ks[0] < 1:
            raise ValueError("metrics.k must be a non-empty list of integers >= 1")
        self.k = ks

    def reportable_k(self, n_min: int) -> list[int]:
        return [k for k in self.k if k <= n_min]

    def compute(self, results: Iterable[SampleResult]) -> dict[str, Any]:
        """Overall and per-problem pass@k of ``results`` (one task's samples; problems in the order
        their first sample comes)."""
        counts: dict[str, list[int]] = {}
        for r in results:
            n_c = counts.setdefault(r.task_id, [0, 0])
            n_c[0] += 1
            n_c[1] += int(r.passed)
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
