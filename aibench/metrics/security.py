"""Per-run security summary: how often the sandbox had to stop a program, and why."""

from __future__ import annotations

from typing import Iterable

from aibench.types import SampleResult

# result status -> summary key
STATUS_KEYS = {
    "timeout": "timeouts",
    "memory": "memory_kills",
    "output_limit": "output_limit_kills",  # results written before output was drained (older runs)
    "crashed": "crashes",
    "sandbox_error": "sandbox_errors",
}


class SecuritySummary:
    """Counts over a run's sample results; ``strays_killed`` counts stray processes the sandbox
    had to kill after the program ended (children that outlived it); ``outputs_truncated`` the
    samples whose output went over ``limits.output_bytes`` (drained, only the tail kept: not a kill,
    the sample ran on)."""

    name = "security"

    def compute(self, results: Iterable[SampleResult]) -> dict[str, int]:
        summary = {key: 0 for key in STATUS_KEYS.values()}
        summary["killed_stray_processes"] = 0
        summary["samples_with_strays"] = 0
        summary["outputs_truncated"] = 0
        for r in results:
            key = STATUS_KEYS.get(r.status)
            if key:
                summary[key] += 1
            summary["killed_stray_processes"] += r.strays_killed
            summary["samples_with_strays"] += int(r.strays_killed > 0)
            summary["outputs_truncated"] += int(r.output_truncated)
        return summary
