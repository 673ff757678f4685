"""Console error reporting: every failure is one line on stderr and a non-zero exit.

Hydra prints composition errors (unknown option, typo'd key, wrong type) over several lines and
other errors with a traceback. ``install()`` swaps Hydra's reporter for one that condenses the
message to a single line; ``HYDRA_FULL_ERROR=1`` still shows the full traceback.
"""

from __future__ import annotations

import os
import sys
from typing import Any, Callable

PREFIX = "aibench: error: "


def one_line(message: str) -> str:
    """Condense Hydra/OmegaConf's multi-line messages, keeping every fact that names the fix."""
    parts: list[str] = []
    options: list[str] = []
    lines = message.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i].rstrip()
        stripped = line.strip()
        i += 1
        if not stripped or stripped.startswith(("Set the environment variable HYDRA_FULL_ERROR", "object_type=", "reference_type=")):
            continue
        if stripped.startswith("Config search path"):
            break
        if stripped.startswith("Available options in"):
            while i < len(lines) and lines[i].startswith(("\t", "  ")):
                options.append(lines[i].strip())
                i += 1
            parts.append(f"{stripped.rstrip(':').lower()}: {', '.join(options) or 'none'}")
            continue
        if stripped.startswith("full_key:"):
            continue
        parts.append(stripped.rstrip("."))
    return "; ".join(parts) if parts else message.strip()


def report(exc: BaseException) -> None:
    text = str(exc)
    cause = exc.__cause__
    if cause is not None and str(cause) and str(cause) not in text:
        text = f"{text}\n{cause}"
    if not text.strip():
        text = type(exc).__name__
    sys.stderr.write(PREFIX + one_line(text) + " (HYDRA_FULL_ERROR=1 shows the traceback)\n")


def _run_and_report(func: Callable[[], Any]) -> Any:
    try:
        return func()
    except Exception as exc:
        if os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        report(exc)
        sys.exit(1)


def install() -> None:
    import hydra._internal.utils as hydra_utils

    hydra_utils.run_and_report = _run_and_report
