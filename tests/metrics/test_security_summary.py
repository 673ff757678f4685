from aibench.metrics.security import SecuritySummary
from aibench.types import SampleResult


def result(i, status, strays=0):
    return SampleResult("t", "t/0", i, status, status == "passed", strays)


def test_counts_limits_hit_and_strays():
    results = [
        result(0, "passed"),
        result(1, "timeout", strays=3),
        result(2, "timeout"),
        result(3, "memory"),
        result(4, "output_limit"),
        result(5, "sandbox_error"),
        result(6, "failed", strays=1),
    ]
    assert SecuritySummary().compute(results) == {
        "timeouts": 2,
        "memory_kills": 1,
        "output_limit_kills": 1,
        "crashes": 0,
        "sandbox_errors": 1,
        "killed_stray_processes": 4,
        "samples_with_strays": 2,
    }


def test_strays_are_read_from_a_result_record():
    rec = {
        "task": "t",
        "task_id": "t/0",
        "sample_index": 0,
        "status": "failed",
        "passed": False,
        "detail": {"strays_killed": 2},
    }
    assert SampleResult.from_record(rec).strays_killed == 2
    assert SampleResult.from_record(dict(rec, detail=None)).strays_killed == 0
