"""The harness contract: given the instantiated model, sandbox and metrics, evaluate and report."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from aibench.models.base import Model
from aibench.outputs import RunDir
from aibench.sandboxes.base import Sandbox


class Harness(ABC):
    name: str = "harness"

    @abstractmethod
    def evaluate(self, model: Model, sandbox: Sandbox, metrics: Any, run: Any, out: RunDir) -> dict[str, Any]:
        """Run the benchmark; returns the ``metrics.json`` content (per-task scores, counts)."""

    def validate(self, model: Model, metrics: Any, run: Any) -> None:
        """Reject bad settings before any work starts (raise AibenchError)."""

    def describe(self) -> dict[str, Any]:
        """Task settings for the run manifest (prompt handling, stop words, timeouts)."""
        return {"name": self.name}

    def params(self) -> dict[str, Any]:
        return {"harness": self.name}
