"""Java runner: ``javac`` then ``java -ea`` as MultiPL-E's ``eval_java.py``, with the
``org.javatuples`` jar MultiPL-E's prompts import on the class path, compile and run as separate
steps with their own budgets, plus the honest verdict rule of ``_native.py``.

**Class names.** MultiPL-E programs define ``class Problem`` whose ``main`` is in the tests, and
MultiPL-E runs ``java Problem``. The source file is named after the program's public top-level class
when it has one (javac requires it; MultiPL-E's temp file name would make such a program a compile
error), else ``Problem.java``. The class run is ``Problem`` when it has a ``main``, else the first
top-level class with one.

**Verdict glue.** ``java`` starts a launcher class compiled with the program
(``AibenchLauncher__``): its ``main`` reads the per-sample token from fd 4 (emptying the pipe) before
the program's class is even initialised, calls ``Problem.main(args)`` and, only when it returns,
writes the token to fd 3. ``System.exit(0)`` in ``main`` before the tests or in a static
initialiser, and success text printed on stdout, therefore fail. An uncaught exception propagates
as it would from ``java Problem`` (exit 1, the same "Exception in thread "main" ..." text, one more
stack frame).

**The JVM under the sample's limits.** ``RLIMIT_AS`` (2 GiB by default) breaks the JVM's default
reservations (1 GiB compressed class space, 240 MiB code cache, heap = 1/4 of RAM), and every JVM
thread counts against the pids limit (64). Both tools run with ``-XX:+UseSerialGC
-XX:ActiveProcessorCount=1 -XX:CompressedClassSpaceSize=64m -XX:ReservedCodeCacheSize=64m
-XX:MaxMetaspaceSize=256m -XX:-UsePerfData`` and ``MALLOC_ARENA_MAX=2``; the program's heap is
``-Xmx`` = ``memory_bytes - 512 MiB`` (at most 3/4 of it; 1.5 GiB by default), javac's 512 MiB with
C1 only (``TieredStopAtLevel=1``, faster start). About 15 threads per JVM. ``OutOfMemoryError`` (or
a JVM that cannot start under the limit) is ``memory``.
"""

from __future__ import annotations

import os
import re
from typing import Any

from aibench.sandboxes.languages._native import NativeRunner, first_match, which

JAVATUPLES = "/usr/share/java/javatuples.jar"  # Debian libjavatuples-java (MultiPL-E: javatuples-1.2.jar)
LAUNCHER = "AibenchLauncher__"
LAUNCHER_SOURCE = """// aibench runner glue (not part of the program): reports that main() returned
public final class AibenchLauncher__ {
    public static void main(String[] args) throws Throwable {
        byte[] token = new byte[64];
        int n = 0;
        try (java.io.FileInputStream in = new java.io.FileInputStream("/proc/self/fd/4")) {
            for (int r; n < token.length && (r = in.read(token, n, token.length - n)) > 0; n += r) { }
        }
        token = java.util.Arrays.copyOf(token, n);
        java.io.FileOutputStream report = new java.io.FileOutputStream("/proc/self/fd/3");
        %s.main(args);
        report.write(token);
        report.close();
    }
}
"""
CLASSES = "classes"
MiB = 1 << 20
JVM_FLAGS = [
    "-XX:+UseSerialGC",
    "-XX:ActiveProcessorCount=1",
    "-XX:CompressedClassSpaceSize=64m",
    "-XX:ReservedCodeCacheSize=64m",
    "-XX:MaxMetaspaceSize=256m",
    "-XX:-UsePerfData",
]
JAVAC_FLAGS = [*JVM_FLAGS, "-XX:TieredStopAtLevel=1"]
_OOM = (
    "java.lang.OutOfMemoryError",
    "Error occurred during initialization of VM",
    "insufficient memory for the Java Runtime Environment",
    "Could not reserve enough space",
)
_EXC = re.compile(r'^Exception in thread "[^"]*" (.*)$', re.M)
_DECL = re.compile(
    r"\b(?:(public)\s+)?(?:(?:abstract|final|static|strictfp|sealed|non-sealed)\s+)*"
    r"(class|interface|enum|record)\s+([A-Za-z_$][\w$]*)"
)
_MAIN = re.compile(r"\bstatic\s+(?:final\s+)?void\s+main\s*\(|\bvoid\s+static\s+main\s*\(")


def strip_java(src: str) -> str:
    """``src`` with comments, string/char literals and text blocks blanked (same length), so
    braces and keywords can be scanned."""
    out = []
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        if src.startswith("//", i):
            j = src.find("\n", i)
            j = n if j < 0 else j
        elif src.startswith("/*", i):
            j = src.find("*/", i + 2)
            j = n if j < 0 else j + 2
        elif src.startswith('"""', i):
            j = src.find('"""', i + 3)
            j = n if j < 0 else j + 3
        elif c in "\"'":
            j = i + 1
            while j < n and src[j] != c and src[j] != "\n":
                j += 2 if src[j] == "\\" else 1
            j = min(n, j + 1)
        else:
            out.append(c)
            i += 1
            continue
        out.append("".join(ch if ch == "\n" else " " for ch in src[i:j]))
        i = j
    return "".join(out)


def top_level_classes(src: str) -> list[tuple[str, bool, bool]]:
    """``(name, public, has_main)`` for each top-level type declared in ``src``."""
    s = strip_java(src)
    found = []
    depth = 0
    for m in re.finditer(r"[{}]|" + _DECL.pattern, s):
        tok = m.group(0)
        if tok == "{":
            depth += 1
        elif tok == "}":
            depth = max(0, depth - 1)
        elif depth == 0:
            start = s.find("{", m.end())
            body = s[start : _block_end(s, start)] if start >= 0 else ""
            found.append((m.group(3), bool(m.group(1)), _has_main(body)))
    return found


def _block_end(s: str, start: int) -> int:
    depth = 0
    for i in range(start, len(s)):
        if s[i] == "{":
            depth += 1
        elif s[i] == "}":
            depth -= 1
            if depth == 0:
                return i + 1
    return len(s)


def _has_main(body: str) -> bool:
    """A ``main`` directly in this class body (depth 1), not in a nested class."""
    depth = 0
    for i, ch in enumerate(body):
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        elif depth == 1 and ch in "sv" and _MAIN.match(body, i):
            return True
    return False


def layout(source: str) -> tuple[str, str]:
    """(source file name, main class) for a program (see the module docstring)."""
    classes = top_level_classes(source)
    public = [name for name, pub, _ in classes if pub]
    with_main = [name for name, _pub, main in classes if main]
    main = "Problem" if "Problem" in with_main else (with_main[0] if with_main else None)
    if main is None:
        raise ValueError("no top-level class with a static main method (MultiPL-E runs `java Problem`)")
    return (public[0] if public else "Problem") + ".java", main


def heap_bytes(memory: int) -> int:
    return max(32 * MiB, min(memory - 512 * MiB, memory * 3 // 4))


class JavaRunner(NativeRunner):
    name = "java"
    compiles = True
    out_dir = CLASSES
    semantics = (
        "javac -encoding UTF8 then java -ea Problem with javatuples on the class path (MultiPL-E "
        "eval_java.py); compile and run have separate budgets; exit 0 + main returned"
    )

    @property
    def version_argv(self) -> list[str]:
        return [which("javac") or "javac", "-version"]

    def flags_key(self, request: dict[str, Any]) -> str:
        return " ".join(JAVAC_FLAGS) + LAUNCHER_SOURCE

    def env(self, request: dict[str, Any]) -> dict[str, str]:
        env = super().env(request)
        env["MALLOC_ARENA_MAX"] = "2"  # glibc reserves 64 MiB of address space per thread arena otherwise
        env.pop("CLASSPATH", None)
        env.pop("JAVA_TOOL_OPTIONS", None)
        return env

    def source_files(self, request: dict[str, Any]) -> dict[str, str]:
        source = request["code"] + "\n" + (request.get("tests") or "") + "\n"
        name, main = layout(source)
        return {name: source, LAUNCHER + ".java": LAUNCHER_SOURCE % main}

    def compile_argv(self, request: dict[str, Any], files: dict[str, str]) -> list[str]:
        heap = min(512 * MiB, heap_bytes(int(request["limits"]["memory_bytes"])))
        jflags = [f"-J{f}" for f in (*JAVAC_FLAGS, f"-Xmx{heap // MiB}m")]
        return [
            which("javac") or "/usr/bin/javac",
            *jflags,
            "-encoding",
            "UTF8",
            "-cp",
            JAVATUPLES,
            "-d",
            CLASSES,
            *files,
        ]

    def outputs(self, files: dict[str, str]) -> list[str]:
        out = []
        for root, _dirs, names in os.walk(CLASSES):
            out += [os.path.join(root, n) for n in sorted(names)]
        return out

    def run_argv(self, request: dict[str, Any], files: dict[str, str]) -> list[str]:
        heap = heap_bytes(int(request["limits"]["memory_bytes"]))
        return [
            which("java") or "/usr/bin/java",
            *JVM_FLAGS,
            f"-Xmx{heap // MiB}m",
            "-ea",
            "-cp",
            f"{CLASSES}:{JAVATUPLES}",
            LAUNCHER,
        ]

    oom_markers = _OOM

    def error_line(self, stderr: str) -> str | None:
        m = _EXC.search(stderr)
        return m.group(1).strip()[:300] if m else first_match(stderr, re.compile(r"^(?:Error|Exception).*$", re.M))


RUNNER = JavaRunner()
