"""Per-language runners, keyed by ``Program.language``.

A runner turns a Program into a running process inside the already-isolated sample process
(``child_main``, called by the fork server after limits and isolation are in place) and reports
its outcome on the result channel. The generic fork server owns timeouts, output caps, process
cleanup and the final status; the runner only says "the tests ran to their end" (with the
per-run nonce) or why not. Adding JavaScript/Java/C++ = one module here with a ``RUNNER`` object
(typically exec'ing node/javac/g++ from ``child_main`` and reporting the exit status, so the nonce
never lives in the program's process), plus one entry in ``_MODULES``.
"""

from __future__ import annotations

import importlib
from typing import Any, Protocol


class Channel(Protocol):
    """The sample's private result channel (an inherited pipe the fork server reads)."""

    def start(self) -> None: ...  # the program is about to run: the wall timeout starts now

    def verdict(self, ok: bool, status: str = "failed", error: str = "", detail: dict | None = None) -> None: ...

    def extra(self, detail: dict) -> None: ...  # per-test detail sent after the verdict


class LanguageRunner(Protocol):
    name: str

    def child_main(self, request: dict[str, Any], channel: Channel) -> None:
        """Run the program (in the forked, isolated sample process); report on ``channel``."""

    def describe(self) -> dict[str, Any]:
        """Interpreter/compiler versions and semantics notes for the run manifest."""


_MODULES = {
    "python": "aibench.sandboxes.languages.python",
    "javascript": "aibench.sandboxes.languages.javascript",
    "java": "aibench.sandboxes.languages.java",
    "cpp": "aibench.sandboxes.languages.cpp",
}
# split-process judges (``sandbox.judge=isolated``): tests in a trusted process, the program in
# the sandboxed one, every call across a data-only pipe
_ISOLATED = {
    "python": "aibench.sandboxes.languages.python_judge",
}


def supported() -> list[str]:
    return sorted(_MODULES)


def supported_isolated() -> list[str]:
    return sorted(_ISOLATED)


def get_runner(language: str, judge: str = "inprocess") -> LanguageRunner:
    table = _ISOLATED if judge == "isolated" else _MODULES
    try:
        mod = table[language]
    except KeyError:
        kind = "isolated judge" if judge == "isolated" else "local runner"
        raise KeyError(f"no {kind} for language {language!r} (have: {', '.join(sorted(table))})") from None
    return importlib.import_module(mod).RUNNER
