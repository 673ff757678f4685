"""README recipe "a language": this module in ``aibench/sandboxes/languages/`` plus its line in the
table there (``_MODULES`` in ``languages/__init__.py``). POSIX sh, with the honest verdict rule of the
native runners: exit 0 and the per-sample token, read before the program's code, written after the
tests."""

from __future__ import annotations

from typing import Any

from aibench.sandboxes.languages._native import NativeRunner

PRELUDE = "read -r __aibench_token <&4; exec 4<&-\n"
EPILOGUE = '\nprintf %s "$__aibench_token" >&3\n'


class ShellRunner(NativeRunner):
    name = "shell"
    semantics = "sh program.sh; exit 0 + tests completed"
    version_argv = ["/bin/sh", "-c", "echo sh"]
    oom_markers = ()

    def source_files(self, request: dict[str, Any]) -> dict[str, str]:
        return {"program.sh": PRELUDE + request["code"] + "\n" + (request.get("tests") or "") + EPILOGUE}

    def run_argv(self, request: dict[str, Any], files: dict[str, str]) -> list[str]:
        return ["/bin/sh", "program.sh"]


RUNNER = ShellRunner()
