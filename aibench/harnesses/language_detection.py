"""Which language is a generated program in? For tasks and replay files that do not say, and to
turn "the model answered in Python to a Java task" into a clear failure reason instead of a
compiler error or a crash.

``detect(text) -> (language | None, how)``:

1. a fenced block's info string (```` ```cpp ````, ```` ```js ````, ```` ```Java ````, ...), normalised to
   aibench's names (``python``, ``javascript``, ``java``, ``cpp``; other info strings are returned
   lower-cased, e.g. ``rust``, so a mismatch can name them);
2. otherwise syntax cues, scored per language (``#include``/``std::`` for C++, ``public static``/
   ``System.out`` for Java, ``function``/``const``/``=>``/``require(`` for JavaScript, ``def ...:``/
   ``elif``/``self`` for Python); the best score wins if it is clearly ahead.

``how`` says which: ``"fence info string 'cpp'"``, ``"syntax cues (cpp: #include, std::)"`` or
why nothing was decided. ``mismatch(text, expected)`` is the failure reason (or None).
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from aibench.types import Verdict

LANGUAGES = ("python", "javascript", "java", "cpp")
INFO_ALIASES = {
    "python": "python",
    "py": "python",
    "python3": "python",
    "py3": "python",
    "javascript": "javascript",
    "js": "javascript",
    "node": "javascript",
    "nodejs": "javascript",
    "mjs": "javascript",
    "cjs": "javascript",
    "jsx": "javascript",
    "java": "java",
    "cpp": "cpp",
    "c++": "cpp",
    "cxx": "cpp",
    "cc": "cpp",
    "hpp": "cpp",
    "h++": "cpp",
}
_FENCE = re.compile(r"^[ \t]*(```+|~~~+)[ \t]*([^\s`{]*)", re.M)

# (language, weight, label, pattern)
_CUES: list[tuple[str, int, str, re.Pattern]] = [
    ("cpp", 5, "#include", re.compile(r"^\s*#\s*include\s*[<\"]", re.M)),
    ("cpp", 3, "std::", re.compile(r"\bstd::")),
    ("cpp", 3, "using namespace", re.compile(r"^\s*using\s+namespace\s+\w+\s*;", re.M)),
    ("cpp", 2, "int main(", re.compile(r"^\s*int\s+main\s*\(", re.M)),
    ("cpp", 3, "access specifier", re.compile(r"^\s*(?:public|private|protected)\s*:", re.M)),
    ("cpp", 2, "};", re.compile(r"^\s*\};\s*$", re.M)),
    ("cpp", 1, "::", re.compile(r"\w::\w")),
    ("cpp", 1, "typed declaration", re.compile(r"\b(?:long\s+long|unsigned|size_t|auto)\s+\w+\s*[=;(]")),
    ("java", 4, "public static", re.compile(r"\bpublic\s+static\s+[\w<>\[\], ]+\s+\w+\s*\(")),
    ("java", 4, "System.out", re.compile(r"\bSystem\.(?:out|err)\.print")),
    ("java", 4, "import java.", re.compile(r"^\s*import\s+(?:java|javax|org)\.[\w.]+(?:\.\*)?\s*;", re.M)),
    ("java", 3, "String[]", re.compile(r"\bString\s*\[\]\s*\w+")),
    ("java", 2, "class declaration", re.compile(r"^\s*(?:public\s+|final\s+|abstract\s+)*class\s+\w+[^{:\n]*\{", re.M)),
    ("java", 2, "collections", re.compile(r"\b(?:ArrayList|HashMap|HashSet|List|Map|Optional)<")),
    ("javascript", 4, "function", re.compile(r"\bfunction\s*\w*\s*\([^)]*\)\s*\{")),
    ("javascript", 3, "const/let", re.compile(r"^\s*(?:const|let|var)\s+[\w$\[{]", re.M)),
    ("javascript", 3, "=>", re.compile(r"\)\s*=>|\w\s*=>")),
    ("javascript", 4, "require(", re.compile(r"\brequire\(\s*['\"]")),
    ("javascript", 3, "console.log", re.compile(r"\bconsole\.\w+\(")),
    ("javascript", 2, "===", re.compile(r"[!=]==")),
    ("javascript", 3, "module.exports", re.compile(r"\bmodule\.exports\b|\bexport\s+(?:default|function|const)\b")),
    ("python", 5, "def ...:", re.compile(r"^\s*(?:async\s+)?def\s+\w+\s*\(.*\)\s*(?:->\s*[^:]+)?:\s*(?:#.*)?$", re.M)),
    (
        "python",
        3,
        "import",
        re.compile(r"^\s*(?:from\s+[\w.]+\s+import\s+\w|import\s+[\w.]+\s*(?:as\s+\w+)?\s*$)", re.M),
    ),
    (
        "python",
        3,
        "block colon",
        re.compile(r"^\s*(?:if|elif|else|for|while|try|except|with|class)\b[^;{}\n]*:\s*(?:#.*)?$", re.M),
    ),
    ("python", 2, "elif/None/self", re.compile(r"\belif\b|\bNone\b|\bself\.|\bTrue\b|\bFalse\b")),
    ("python", 2, "print(", re.compile(r"^\s*print\(", re.M)),
]


def fence_info(text: str) -> str | None:
    """The info string of the first fenced block that has one (lower-cased), else None."""
    for m in _FENCE.finditer(text):
        if m.group(2):
            return m.group(2).lower()
    return None


def normalise(name: str) -> str:
    name = name.strip().lower()
    return INFO_ALIASES.get(name, name)


def scores(text: str) -> dict[str, tuple[int, list[str]]]:
    out: dict[str, tuple[int, list[str]]] = {lang: (0, []) for lang in LANGUAGES}
    for lang, weight, label, pat in _CUES:
        if pat.search(text):
            s, labels = out[lang]
            out[lang] = (s + weight, [*labels, label])
    return out


def detect(text: str) -> tuple[str | None, str]:
    """``(language, how)``; ``language`` is None when neither the fence nor the cues decide."""
    info = fence_info(text)
    if info:
        return normalise(info), f"fence info string {info!r}"
    ranked = sorted(scores(text).items(), key=lambda kv: -kv[1][0])
    (best, (top, labels)), (_second, (runner_up, _)) = ranked[0], ranked[1]
    if top < 4:
        return None, "no fence info string and too few syntax cues"
    if top - runner_up < 3 and top < 2 * runner_up:
        return None, f"ambiguous syntax cues ({ranked[0][0]} {top} vs {ranked[1][0]} {runner_up})"
    return best, f"syntax cues ({best}: {', '.join(labels)})"


def mismatch(text: str, expected: str) -> str | None:
    """A failure reason when ``text`` is detectably in another language than ``expected``."""
    lang, how = detect(text)
    expected = normalise(expected)
    if lang is None or lang == expected:
        return None
    return f"language mismatch: the program looks like {lang} ({how}), the task's language is {expected}"


# statuses a program in the wrong language ends with (it did not compile or did not run its tests)
_MISMATCH_STATUSES = ("failed", "compile_error")


def explain_language_mismatch(problem: Any, code: str | None, verdict: Verdict) -> Verdict:
    """A failed verdict whose program is detectably in another language than its task's, with the
    mismatch as its failure reason (``error`` first, ``detail.reason = "language_mismatch"``, the
    execution's own error kept in ``detail.execution_error``). Passing verdicts and programs that
    look like their task's language (or nothing decidable) are returned unchanged: detection never
    turns a pass into a failure, and the status stays the execution's."""
    if verdict.passed or code is None or verdict.status.value not in _MISMATCH_STATUSES:
        return verdict
    expected = getattr(problem, "language", None)
    if not expected:
        return verdict
    reason = mismatch(code, expected)
    if reason is None:
        return verdict
    lang, how = detect(code)
    detail = dict(verdict.detail)
    detail.update(
        reason="language_mismatch",
        language_mismatch={"detected": lang, "how": how, "expected": normalise(expected)},
        execution_error=verdict.error,
    )
    if "reason" in verdict.detail:
        detail["execution_reason"] = verdict.detail["reason"]
    error = f"{reason} ({verdict.status.value}: {verdict.error})" if verdict.error else reason
    return dataclasses.replace(verdict, error=error[:400], detail=detail)
