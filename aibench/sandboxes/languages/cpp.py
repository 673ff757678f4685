"""C++ runner: ``g++ -std=c++17`` then the binary, as MultiPL-E's ``eval_cpp.py``, each
step with its own budget (``limits.compile_timeout_s``, then the run's timeout), plus the honest
verdict rule of ``_native.py``.

The tests' ``main`` is left untouched: the runner links a second translation unit
(``aibench_main.cpp``) with ``-Wl,--wrap=main``, so ``_start`` calls ``__wrap_main``, which calls the
program's ``main`` and, only when it returns, writes the per-sample token (read from fd 4 by a
priority-101 constructor, before the program's own global constructors) to fd 3. ``exit(0)``,
``std::exit``, ``quick_exit``, ``_exit`` - in a test, before them or in a global constructor -
therefore fail. A failed ``assert`` (SIGABRT) is ``failed`` with the assertion line as the error;
``std::bad_alloc`` is ``memory``; SIGSEGV and other signals are ``crashed``. Compile errors are
``compile_error`` with the compiler's output tail; identical programs are compiled once per worker
(the binary is cached in the fork server).
"""

from __future__ import annotations

import os
import re
from typing import Any

from aibench.sandboxes.languages._native import NativeRunner, first_match, which

RUNTIME = r"""// aibench runner glue (not part of the program): reports that main() returned
#include <unistd.h>
extern "C" int __real_main(int, char**, char**);
static char aibench_token[64];
static ssize_t aibench_len = -1;
__attribute__((constructor(101))) static void aibench_init() {
    aibench_len = read(4, aibench_token, sizeof aibench_token);
    close(4);
}
extern "C" int __wrap_main(int argc, char** argv, char** envp) {
    int r = __real_main(argc, argv, envp);
    for (ssize_t off = 0; aibench_len > 0 && off < aibench_len;) {
        ssize_t n = write(3, aibench_token + off, aibench_len - off);
        if (n <= 0) break;
        off += n;
    }
    close(3);
    return r;
}
"""
FLAGS = ["-std=c++17"]  # MultiPL-E: g++ file -o base -std=c++17
_ASSERT = re.compile(r"^.*Assertion .* failed\.?$", re.M)
_TERMINATE = re.compile(r"^terminate called .*$", re.M)


class CppRunner(NativeRunner):
    name = "cpp"
    compiles = True
    semantics = (
        "g++ -std=c++17 program.cpp (MultiPL-E eval_cpp.py) then ./program; compile and run have "
        "separate budgets; exit 0 + main returned"
    )

    @property
    def version_argv(self) -> list[str]:
        return [which("g++") or "g++", "--version"]

    def flags_key(self, request: dict[str, Any]) -> str:
        return " ".join(FLAGS) + RUNTIME

    def source_files(self, request: dict[str, Any]) -> dict[str, str]:
        return {
            "program.cpp": request["code"] + "\n" + (request.get("tests") or "") + "\n",
            "aibench_main.cpp": RUNTIME,
        }

    def compile_argv(self, request: dict[str, Any], files: dict[str, str]) -> list[str]:
        return [
            which("g++") or "/usr/bin/g++",
            *FLAGS,
            "program.cpp",
            "aibench_main.cpp",
            "-Wl,--wrap=main",
            "-o",
            "program",
        ]

    def outputs(self, files: dict[str, str]) -> list[str]:
        return ["program"]

    def run_argv(self, request: dict[str, Any], files: dict[str, str]) -> list[str]:
        return [os.path.abspath("program")]

    oom_markers = ("std::bad_alloc",)

    def error_line(self, stderr: str) -> str | None:
        found = first_match(stderr, _ASSERT) or first_match(stderr, _TERMINATE)
        if found and found.startswith("terminate called"):
            what = re.search(r"^\s*what\(\):\s*(.*)$", stderr, re.M)
            return found + (f" ({what.group(1).strip()})" if what else "")
        return found


RUNNER = CppRunner()
