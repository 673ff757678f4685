"""README recipe "a sandbox": this module and one YAML, ``conf/sandbox/tiny.yaml``.

Runs each Python program in a plain subprocess (no isolation: a test double, never for model output)."""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any, Iterable, Iterator

from aibench.config import configure
from aibench.registry import register
from aibench.sandboxes.base import Sandbox
from aibench.types import Program, Status, Verdict


@dataclass
class TinySandboxConfig:
    timeout_scale: float = 1.0


@register("sandbox", "tiny", TinySandboxConfig)
class TinySandbox(Sandbox):
    name = "tiny"

    def __init__(self, cfg: TinySandboxConfig | None = None, /, **settings: Any):
        self.timeout_scale = configure(self, cfg, settings).timeout_scale

    def execute_many(self, items: Iterable[tuple[Any, Program]], workers: int = 1) -> Iterator[tuple[Any, Verdict]]:
        for tag, program in items:
            yield tag, self._run(program)

    def _run(self, program: Program) -> Verdict:
        started = time.monotonic()
        try:
            proc = subprocess.run(
                [sys.executable, "-c", program.source],
                capture_output=True,
                text=True,
                timeout=program.timeout * self.timeout_scale,
            )
        except subprocess.TimeoutExpired:
            return Verdict(Status.TIMEOUT, duration=time.monotonic() - started)
        status = Status.PASSED if proc.returncode == 0 else Status.FAILED
        return Verdict(
            status, exit_code=proc.returncode, duration=time.monotonic() - started, detail={"ran_in": "tiny"}
        )

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "timeout_scale": self.timeout_scale}
