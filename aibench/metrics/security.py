"""Per-run security summary: how often the sandbox had to stop a program, and why."""

from __future__ import annotations

from typing import Any, Iterable, Mapping

# result status -> summary key
STATUS_KEYS = {
    "timeout": "timeouts",
    "memory": "memory_kills",
    "output_limit": "output_limit_kills",
    "crashed": "crashes",
    "sandbox_error": "sandbox_errors",
}


def summarize(results: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """Counts over result records; ``detail.strays_killed`` counts stray processes the sandbox
    had to kill after the program ended (children that outlived it)."""
    summary = {key: 0 for key in STATUS_KEYS.values()}
    summary["killed_stray_processes"] = 0
    summary["samples_with_strays"] = 0
    for rec in results:
        key = STATUS_KEYS.get(rec.get("status", ""))
        if key:
            summary[key] += 1
        strays = int((rec.get("detail") or {}).get("strays_killed", 0) or 0)
        summary["killed_stray_processes"] += strays
        summary["samples_with_strays"] += int(strays > 0)
    return summary
