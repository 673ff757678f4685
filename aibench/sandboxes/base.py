"""The sandbox contract: run untrusted programs, return verdicts."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Iterable, Iterator

from aibench.types import Program, Verdict


class Sandbox(ABC):
    """Executes programs in isolation.

    ``execute_many`` consumes ``items`` lazily (it may be a generator fed by model generation),
    runs up to ``workers`` programs at once and yields ``(tag, verdict)`` as each finishes, in
    any order. ``items`` yields ``(tag, program)``; the tag is opaque and handed back unchanged.
    It never raises for a single program: failures of the sandbox itself become
    ``Status.SANDBOX_ERROR`` verdicts. Closing (or Ctrl-C) must leave no process behind.
    """

    name: str = "sandbox"

    @abstractmethod
    def execute_many(self, items: Iterable[tuple[Any, Program]], workers: int = 1) -> Iterator[tuple[Any, Verdict]]: ...

    def execute(self, program: Program) -> Verdict:
        for _tag, verdict in self.execute_many([(None, program)], workers=1):
            return verdict
        raise RuntimeError("sandbox returned no verdict")  # pragma: no cover

    def started(self) -> bool:
        """Whether this sandbox has started anything (workers, containers) so far."""
        return True

    def hide_paths(self, paths: Iterable[str]) -> None:
        """Files and directories programs must not read: the run's datasets (answer keys), its
        outputs and generation cache (other samples' programs and verdicts). A sandbox that shows
        programs any host path masks these."""

    def expect_languages(self, languages: Iterable[str]) -> None:
        """The languages this run's programs are in, told before the run starts (when the task suite
        knows them): a sandbox may then describe (and probe the toolchains of) only those."""

    def describe(self) -> dict[str, Any]:
        """Limits actually applied, per language, for the run manifest."""
        return {"name": self.name}

    def close(self) -> None:
        """Stop helper processes/containers."""
