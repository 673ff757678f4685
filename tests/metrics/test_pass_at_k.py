"""The pass@k estimator against brute-force enumeration, and BigCode's reporting rules."""

from itertools import combinations
from math import comb

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aibench.metrics.pass_at_k import PassAtK, estimate_pass_at_k
from aibench.types import SampleResult


def brute_force(n: int, c: int, k: int) -> float:
    """Fraction of all k-subsets of n samples (c correct) that contain a correct one."""
    samples = [True] * c + [False] * (n - c)
    subsets = list(combinations(range(n), k))
    return sum(any(samples[i] for i in s) for s in subsets) / len(subsets)


def bigcode_numpy(n: int, c: int, k: int) -> float:
    """BigCode code_eval.estimate_pass_at_k's per-problem expression, written out."""
    if n - c < k:
        return 1.0
    return 1.0 - float(np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 12).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n), st.integers(1, n))))
def test_matches_brute_force_enumeration(nck):
    n, c, k = nck
    assert estimate_pass_at_k(n, c, k) == pytest.approx(brute_force(n, c, k), abs=1e-12)
    assert estimate_pass_at_k(n, c, k) == pytest.approx(1 - comb(n - c, k) / comb(n, k), abs=1e-12)


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 200).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n), st.integers(1, n))))
def test_matches_bigcode_numpy_expression(nck):
    n, c, k = nck
    assert estimate_pass_at_k(n, c, k) == pytest.approx(bigcode_numpy(n, c, k), rel=1e-12, abs=1e-15)


def samples(task_id, n, c):
    return [SampleResult("t", task_id, i, "passed" if i < c else "failed", i < c) for i in range(n)]


def test_n_and_c_are_counted_per_problem_from_sample_results():
    report = PassAtK(k=[1]).compute([*samples("a", 3, 1), *samples("b", 2, 2)])
    assert report["per_problem"] == {
        "a": {"pass@1": pytest.approx(1 / 3), "n": 3, "c": 1},
        "b": {"pass@1": 1.0, "n": 2, "c": 2},
    }
    assert list(report["per_problem"]) == ["a", "b"]


def test_k_larger_than_smallest_n_is_left_out():
    metric = PassAtK(k=[1, 10, 100])
    report = metric.compute([*samples("a", 10, 3), *samples("b", 12, 0)])
    assert set(report["pass@k"]) == {"pass@1", "pass@10"}
    assert report["k_omitted"] == [100]
    assert (report["n_min"], report["n_max"]) == (10, 12)
    assert report["pass@k"]["pass@1"] == pytest.approx((0.3 + 0.0) / 2)
    assert report["pass@k"]["pass@10"] == pytest.approx((1.0 + 0.0) / 2)


def test_one_short_problem_hides_k_for_all():
    report = PassAtK(k=[1, 10]).compute([*samples("a", 10, 10), *samples("b", 9, 9)])
    assert list(report["pass@k"]) == ["pass@1"]


@pytest.mark.parametrize("bad", [[], [0], [-1]])
def test_invalid_k_rejected(bad):
    with pytest.raises(ValueError):
        PassAtK(k=bad)


def test_invalid_counts_rejected():
    with pytest.raises(ValueError):
        estimate_pass_at_k(3, 4, 1)
