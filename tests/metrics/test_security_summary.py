from aibench.metrics.security import summarize


def test_counts_limits_hit_and_strays():
    records = [
        {"status": "passed", "detail": {}},
        {"status": "timeout", "detail": {"strays_killed": 3}},
        {"status": "timeout"},
        {"status": "memory", "detail": None},
        {"status": "output_limit", "detail": {}},
        {"status": "sandbox_error", "detail": {}},
        {"status": "failed", "detail": {"strays_killed": 1}},
    ]
    assert summarize(records) == {
        "timeouts": 2, "memory_kills": 1, "output_limit_kills": 1, "crashes": 0, "sandbox_errors": 1,
        "killed_stray_processes": 4, "samples_with_strays": 2,
    }
