from aibench.metrics.security import SecuritySummary
from aibench.types import SampleResult


def result(i, status, strays=0, truncated=False):
    return SampleResult("t", "t/0", i, status, status == "passed", strays, output_truncated=truncated)


def test_counts_limits_hit_and_strays():
    results = [
        result(0, "passed"),
        result(1, "timeout", strays=3),
        result(2, "timeout"),
        result(3, "memory"),
        result(4, "output_limit"),
        result(5, "sandbox_error"),
        result(6, "failed", strays=1),
        result(7, "passed", truncated=True),
    ]
    assert SecuritySummary().compute(results) == {
        "timeouts": 2,
        "memory_kills": 1,
        "output_limit_kills": 1,
        "crashes": 0,
        "sandbox_errors": 1,
        "killed_stray_processes": 4,
        "samples_with_strays": 2,
        "outputs_truncated": 1,
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


def test_a_flood_of_output_is_counted_as_truncated_not_killed(tmp_path):
    """The real path: a program printing past ``limits.output_bytes`` runs on and passes; the
    summary counts its output as truncated."""
    from aibench.sandboxes.local import LocalSandbox
    from aibench.types import Program

    sb = LocalSandbox(limits={"output_bytes": 4096})
    try:
        v = sb.execute(Program("python", "def f():\n    print('x' * 100000)\n    return 1\n", "assert f() == 1\n", 5.0))
    finally:
        sb.close()
    rec = {"task": "t", "task_id": "t/0", "sample_index": 0, "status": v.status.value, "passed": v.passed}
    rec["detail"] = v.detail
    summary = SecuritySummary().compute([SampleResult.from_record(rec)])
    assert v.passed and summary["outputs_truncated"] == 1 and summary["output_limit_kills"] == 0, (v, summary)
