"""JavaScript runner: ``node program.js`` as MultiPL-E's ``eval_javascript.py``, with
the honest verdict rule of ``_native.py``.

The program file is ``code + "\\n" + tests`` with runner glue: a prelude *on the program's first
line* (line numbers stay those of the program) reads the per-sample token from fd 4 (emptying the
pipe) and freezes the ``assert`` module the tests use; an epilogue after the tests writes the token
to fd 3. ``process.exit(0)`` before the tests, an ``uncaughtException`` handler swallowing a failed
assert, or "all tests passed" printed on stdout therefore fail (MultiPL-E counts the first two as
passes: ``detail.exit0_rule_passed``). Errors are named as MultiPL-E's statuses would be
(AssertionError, SyntaxError, ReferenceError, ...); a V8 heap exhaustion is ``memory``.

**V8 under the sample's limits.** An idle ``node`` already maps ~0.7 GiB of address space, and when
``RLIMIT_AS`` stops a reservation V8 dies in whatever way that code path has: "heap out of memory",
``std::bad_alloc``, a trap, or a bare SIGSEGV with nothing on stderr (seen on a CI machine at a
768 MiB limit). So node runs with ``--max-old-space-size`` = ``memory_bytes - 1 GiB`` (at least
256 MiB; 1 GiB by default, about what V8 reached under the 2 GiB limit without the flag), and
``MALLOC_ARENA_MAX=2``, so that a growing heap meets V8's own limit first and says so. A node
killed by SIGSEGV/SIGBUS/SIGTRAP with no JavaScript error is counted ``memory`` as well: JavaScript
cannot fault by itself, and these are V8's deaths on a refused reservation (a program that signals
itself that way is still a failure, only named differently).
"""

from __future__ import annotations

import re
from typing import Any

from aibench.sandboxes.languages._native import NativeRunner, first_match, which

PRELUDE = (
    'const __aibench_report__=(()=>{const fs=require("fs");let t="";'
    'try{t=fs.readFileSync(4,"latin1")}catch(e){}try{fs.closeSync(4)}catch(e){}'
    "const w=fs.writeSync;return()=>{w(3,t)}})();"
    '(()=>{const a=require("assert");Object.freeze(a.strict);Object.freeze(a)})();'
)
EPILOGUE = "\n;__aibench_report__();\n"
_STRICT = re.compile(r"""\A\s*(['"])use strict\1""")
_ERROR = re.compile(r"^[A-Za-z_$][\w$]*(?:Error|Exception)\b.*$", re.M)
MiB = 1024 * 1024
_RUNTIME_SIGNALS = ("SIGSEGV", "SIGBUS", "SIGTRAP")  # V8's deaths on a refused reservation
_OOM = (
    "JavaScript heap out of memory",
    "Allocation failed",
    "Array buffer allocation failed",
    "std::bad_alloc",
    "Fatal process OOM",
)


def build_source(code: str, tests: str) -> str:
    """The program file: prelude on line 1 (after a shebang line, or with the program's own
    "use strict" directive moved in front of it), program, tests, epilogue."""
    prelude = PRELUDE
    if code.startswith("#!"):
        nl = code.find("\n")
        head, code = (code, "") if nl < 0 else (code[: nl + 1], code[nl + 1 :])
    else:
        head = ""
    if _STRICT.match(code):
        prelude = '"use strict";' + prelude
    return head + prelude + code + "\n" + tests + EPILOGUE


def heap_flags(request: dict[str, Any]) -> list[str]:
    """V8's old-space limit from the sample's address-space limit (none when that is unlimited)."""
    memory = int((request.get("limits") or {}).get("memory_bytes") or 0)
    if memory <= 0:
        return []
    return [f"--max-old-space-size={max(256, (memory - 1024 * MiB) // MiB)}"]


class JavaScriptRunner(NativeRunner):
    name = "javascript"
    semantics = (
        "node program.js (MultiPL-E eval_javascript.py: CommonJS; here with --max-old-space-size from the "
        "memory limit); exit 0 + tests completed"
    )

    @property
    def version_argv(self) -> list[str]:
        return [which("node") or "node", "--version"]

    def source_files(self, request: dict[str, Any]) -> dict[str, str]:
        return {"program.js": build_source(request["code"], request.get("tests") or "")}

    def env(self, request: dict[str, Any]) -> dict[str, str]:
        env = super().env(request)
        env["MALLOC_ARENA_MAX"] = "2"  # glibc reserves 64 MiB of address space per thread arena otherwise
        env.pop("NODE_OPTIONS", None)
        return env

    def run_argv(self, request: dict[str, Any], files: dict[str, str]) -> list[str]:
        return [which("node") or "/usr/bin/node", *heap_flags(request), "program.js"]

    signal_means_memory = _RUNTIME_SIGNALS

    oom_markers = _OOM

    def error_line(self, stderr: str) -> str | None:
        return first_match(stderr, _ERROR)


RUNNER = JavaScriptRunner()
