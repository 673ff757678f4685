"""The run's messages to the user: one line on stderr, the same line in the run's aibench.log."""

from __future__ import annotations

import logging
import sys

log = logging.getLogger("aibench")


def say(message: str, *, warning: bool = False) -> None:
    """One line on stderr for the user, the same line in the run's aibench.log."""
    line = f"{'warning: ' if warning else ''}{message}"
    print(f"aibench: {line}", file=sys.stderr, flush=True)
    log.info("%s", line)  # INFO: the file only (the console handler shows warnings and up)
