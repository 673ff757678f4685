"""Toolchain preflight: is everything the runners of these languages exec present and runnable?

``check(languages)`` returns one line per missing item, each naming the fix (empty list = ready).
A run calls it before any generation and stops on a non-empty answer, so a missing compiler is
never scored as pass@1 = 0. ``python -m aibench.sandboxes.languages.toolchains LANG...`` prints the
same and exits 1 when something is missing (``.ci/extras.d/10-toolchains.sh`` uses it).

A tool outside the tree samples see (``/usr``, ``/etc``, the Python installation, ...) is missing
for them too unless its directory is in ``sandbox.extra_paths``: pass ``visible`` to check that.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from typing import Iterable

from aibench.sandboxes.languages._native import PATH
from aibench.sandboxes.rootfs import SYSTEM, inside

JAVATUPLES = "/usr/share/java/javatuples.jar"
# language -> [(tool, version argv tail, fix)]
TOOLS = {
    "javascript": [("node", ["--version"], "apt-get install nodejs")],
    "java": [
        ("javac", ["-version"], "apt-get install default-jdk-headless"),
        ("java", ["-version"], "apt-get install default-jdk-headless"),
    ],
    "cpp": [("g++", ["--version"], "apt-get install g++")],
}
ALIASES = {"js": "javascript", "node": "javascript", "c++": "cpp", "cxx": "cpp", "py": "python"}


def _runs(path: str, args: list[str]) -> str | None:
    """None when ``path args`` runs and exits 0, else why not (one line)."""
    try:
        p = subprocess.run([path, *args], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as e:
        return f"{type(e).__name__}: {e}"
    if p.returncode != 0:
        last = ((p.stderr or p.stdout).strip().splitlines() or [""])[-1]
        return f"exit {p.returncode}: {last}"[:200]
    return None


def _visible(path: str, visible: Iterable[str]) -> bool:
    real = os.path.realpath(path)
    return inside(real, [os.path.realpath(p) for p in visible])


def check(languages: Iterable[str], visible: Iterable[str] | None = None, path: str | None = None) -> list[str]:
    """What is missing for ``languages`` ("python", "javascript", "java", "cpp"), one fix per line.

    ``visible``: extra paths samples see (``sandbox.extra_paths``); when given, a tool resolved
    outside the sandbox's tree is reported too. ``path``: where to look (default ``$PATH``)."""
    from aibench.sandboxes import languages as registry

    tree = None if visible is None else [*SYSTEM, sys.prefix, sys.base_prefix, *visible]
    missing: list[str] = []
    for lang in dict.fromkeys(ALIASES.get(x.lower(), x.lower()) for x in languages):
        if lang not in registry.supported():
            missing.append(f"no runner for language {lang!r} (have: {', '.join(registry.supported())})")
            continue
        for tool, args, fix in TOOLS.get(lang, []):
            exe = shutil.which(tool, path=path or os.environ.get("PATH") or PATH)
            if exe is None:
                missing.append(f"{tool} not found (needed for {lang}): {fix}")
                continue
            why = _runs(exe, args)
            if why is not None:
                missing.append(f"{tool} at {exe} does not run ({why}): {fix}")
            elif tree is not None and not _visible(exe, tree):
                missing.append(
                    f"{tool} at {os.path.realpath(exe)} is outside the sandbox's tree: add its "
                    f"directory to sandbox.extra_paths"
                )
        if lang == "java" and not os.path.isfile(JAVATUPLES):
            missing.append(
                f"javatuples jar not found at {JAVATUPLES} (MultiPL-E's Java programs import "
                "org.javatuples): apt-get install libjavatuples-java"
            )
    return missing


def main(argv: list[str] | None = None) -> int:
    langs = sys.argv[1:] if argv is None else argv
    missing = check(langs or ["javascript", "java", "cpp"])
    for line in missing:
        print(line)
    if not missing:
        print("toolchains ready: " + ", ".join(langs or ["javascript", "java", "cpp"]))
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
