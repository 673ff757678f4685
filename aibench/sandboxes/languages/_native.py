"""What the runners of programs that run as their own executable (node, java, a g++ binary) share.

The runner's code runs in the sample process P after it is confined (unprivileged uid, no caps,
non-dumpable, seccomp, rlimits, cgroups). It writes the program file(s) into P's private ``/tmp``,
optionally compiles them (its own wall budget, ``limits.compile_timeout_s``; the compiler's output
tail is kept), then runs the program as P's child with the sample's rlimits (inherited), stdin
``/dev/null``, stdout straight to the sample's stdout and stderr through P (tail kept for the
verdict). P never runs program code and the program never holds the result pipe (close-on-exec),
so only P's verdict counts.

**Honest verdict rule.** The program file is ``code + "\\n" + tests`` plus runner glue that reports
completion: when the tests ran to their end, the glue writes a per-sample token to fd 3 (a pipe only
P reads). The token is never in the program's source, arguments or environment: P writes it into a
pipe on fd 4 that the glue reads - and so empties - before any of the program's own code runs
(node: a prelude statement on the program's first line; java: a launcher class whose ``main`` reads
it before the program's class is initialised; C++: a priority-101 constructor in a separate
translation unit and ``main`` wrapped by the linker). Passed = exit code 0 **and** the token on
fd 3. An exit before the tests (``process.exit(0)``, ``System.exit(0)`` in ``main`` or a static
initialiser, ``exit``/``std::exit``/``quick_exit``/``_exit`` incl. from a global constructor),
forged success text on stdout or a token read from the program's own files/environment therefore
fail. MultiPL-E's own rule (exit code 0 = passed) is reported beside it for every sample as
``detail["exit0_rule_passed"]``.

**Limit (documented):** the glue runs in the program's process, so a program written against this
runner's internals (e.g. calling the glue itself, or scanning its own memory for the token) can
still forge the report - the same limit as Python's in-process judge. The honest-rule cheats above
cannot.

The compiler's and the program's processes themselves (spawn, wait, drain, kill) are ``_proc.py``'s.
"""

from __future__ import annotations

import base64
import math
import os
import re
import resource
import signal
import time
from typing import Any

from aibench.sandboxes.languages._proc import Proc, _write_all

ARTIFACT_MAX = 160 * 1024  # largest compile output sent to the fork server's cache (result line cap: 256 KiB)
CACHE_MAX_BYTES = 64 << 20  # per fork server
PATH = "/usr/local/bin:/usr/bin:/bin"
SIGNAMES = {int(s): s.name for s in signal.Signals}


def which(name: str) -> str | None:
    import shutil

    return shutil.which(name, path=os.environ.get("PATH") or PATH) or shutil.which(name, path=PATH)


class NativeRunner:
    """Base of the javascript/java/cpp runners (see the module docstring). Subclasses define
    ``name``, ``source_files(request)``, ``compile_argv(request, files)`` (None: no compile step),
    ``outputs(files)`` (compile products to cache), ``run_argv(request, files)`` and
    ``memory_error(stderr)``; ``version_argv`` for ``describe()``."""

    name = "native"
    version_argv: list[str] = []
    semantics = ""
    _cache: dict[str, dict[str, bytes]]
    _cache_bytes: int

    def __init__(self) -> None:
        self._cache = {}
        self._cache_bytes = 0
        self._version: str | None = None

    # -------------------------------------------------------------- trusted, in the fork server
    def describe(self) -> dict[str, Any]:
        return {
            "toolchain": self.toolchain_version(),
            "semantics": self.semantics,
            "verdict": "passed = exit code 0 and a per-sample token written by runner glue after the tests "
            "(the token is never in the program's source or environment); exit code 0 alone is "
            "MultiPL-E's rule, reported as detail.exit0_rule_passed",
            "forgeable_by_runner_aware_code": True,
            "compile_timeout": "limits.compile_timeout_s (MultiPL-E: 15 s), separate from the run's timeout"
            if self.compiles
            else None,
        }

    compiles = False

    def toolchain_version(self) -> str:
        if self._version is None:
            import subprocess

            try:
                p = subprocess.run(self.version_argv, capture_output=True, text=True, timeout=30)
                out = (p.stdout or p.stderr).strip().splitlines()
                self._version = out[0] if out else "unknown"
            except (OSError, subprocess.SubprocessError) as e:
                self._version = f"unavailable: {e}"
        return self._version

    def cache_key(self, request: dict[str, Any]) -> str:
        import hashlib  # lazily: OpenSSL's mappings would make every fork of the fork server dearer

        h = hashlib.sha256()
        for part in (self.name, self.flags_key(request), request.get("code") or "", request.get("tests") or ""):
            h.update(part.encode("utf-8", "surrogatepass"))
            h.update(b"\0")
        return h.hexdigest()

    def flags_key(self, request: dict[str, Any]) -> str:
        return ""

    def prepare(self, request: dict[str, Any]) -> None:
        """Before fork: hand the sample what an identical program compiled to (if cached)."""
        if self.compiles:
            hit = self._cache.get(self.cache_key(request))
            if hit is not None:
                request["_artifact"] = hit

    def store(self, request: dict[str, Any], detail: dict[str, Any]) -> None:
        """After a sample: keep what its compile step produced (sent before the program ran)."""
        if not self.compiles or detail.get("key") != self.cache_key(request):
            return
        files = {}
        for name, b64 in (detail.get("files") or {}).items():
            if not isinstance(name, str) or "/" in name or name.startswith(".") or not isinstance(b64, str):
                return
            files[name] = base64.b64decode(b64, validate=True)
        size = sum(len(v) for v in files.values())
        if not files or size > ARTIFACT_MAX:
            return
        while self._cache and self._cache_bytes + size > CACHE_MAX_BYTES:
            old = self._cache.pop(next(iter(self._cache)))
            self._cache_bytes -= sum(len(v) for v in old.values())
        self._cache[self.cache_key(request)] = files
        self._cache_bytes += size

    def setup_limits(self, limits: dict[str, Any]) -> dict[str, Any]:
        """The rlimits the sample process starts with (before fork of the compiler): RLIMIT_CPU
        covers the compile budget; ``child_main`` lowers it to the run's own before the program."""
        if not self.compiles or not limits.get("cpu_seconds"):
            return limits
        return {
            **limits,
            "cpu_seconds": max(
                int(limits["cpu_seconds"]), int(math.ceil(float(limits.get("compile_timeout_s", 15.0)))) + 1
            ),
        }

    # -------------------------------------------------------------- in the confined sample process
    def child_main(self, request: dict[str, Any], channel) -> None:
        try:
            self._child_main(request, channel)
        except BaseException:  # a runner fault: its traceback in the sample's stderr, no verdict (not passed)
            import traceback

            _write_all(2, traceback.format_exc().encode())
            raise

    def _child_main(self, request: dict[str, Any], channel) -> None:
        lim = request["limits"]
        env = self.env(request)
        detail: dict[str, Any] = {"exit0_rule_passed": False}
        channel.extra({"exit0_rule_passed": False})  # what stands if the sample is killed (timeout, memory)
        try:
            files = self.source_files(request)
        except ValueError as e:  # e.g. no main class: the program cannot be built as the task requires
            channel.start()
            channel.verdict(
                False, "compile_error", str(e)[:300], {**detail, "reason": "compile_error", "compiler_tail": str(e)}
            )
            return
        for name, text in files.items():
            with open(name, "w", encoding="utf-8", errors="surrogatepass") as f:
                f.write(text)
        cmd = self.compile_argv(request, files)
        if cmd is not None:
            cached = request.get("_artifact")
            if cached:
                for name, data in cached.items():
                    path = os.path.join(self.out_dir, name) if self.out_dir else name
                    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
                    with open(path, "wb") as f:
                        f.write(data)
                    if not self.out_dir:
                        os.chmod(path, 0o700)
                detail.update(compile_s=0.0, compile_cached=True)
            else:
                if not self._compile(request, channel, cmd, env, detail, float(lim.get("compile_timeout_s", 15.0))):
                    return
                self._send_artifact(request, channel, files)
        argv = self.run_argv(request, files)
        if lim.get("cpu_seconds"):  # the program's own CPU limit (only lowered: always allowed)
            resource.setrlimit(resource.RLIMIT_CPU, (int(lim["cpu_seconds"]), int(lim["cpu_seconds"])))
        token = os.urandom(16).hex().encode()
        channel.start()
        proc = Proc(argv, env, stdout_to_pipe=False, token=token, new_group=False)
        try:
            proc.wait(None, forward_err=True)
        finally:
            proc.close()
        self._verdict(request, channel, proc, token, detail)

    out_dir = ""  # compile products live here (java: class files), else in the work dir

    def env(self, request: dict[str, Any]) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()}
        env.setdefault("PATH", PATH)
        env["HOME"] = os.getcwd()
        env["TMPDIR"] = os.getcwd()
        return env

    def _compile(self, request, channel, cmd, env, detail, budget: float) -> bool:
        channel.compile()
        t0 = time.monotonic()
        proc = Proc(cmd, env, stdout_to_pipe=True, token=None, new_group=True)
        try:
            done = proc.wait(t0 + budget, forward_err=False)
            if not done:
                proc.kill()
        finally:
            proc.close()
        detail["compile_s"] = round(time.monotonic() - t0, 4)
        if done and proc.exit_code == 0:
            return True
        tail = proc.err_tail
        if not done:
            error = f"compilation did not finish within {budget:g}s"
            detail["reason"] = "compile_timeout"
        else:
            code = proc.exit_code
            how = f"killed by {SIGNAMES.get(-code, str(-code))}" if code is not None and code < 0 else f"exit {code}"
            lines = tail.strip().splitlines()
            first = first_match(tail, _COMPILER_ERROR) or (lines[-1] if lines else "")
            error = f"compile error ({how}): {first}"
            detail["reason"] = "compile_error"
        detail["compiler_tail"] = tail
        channel.start()
        channel.verdict(False, "compile_error", error[:300], detail)
        return False

    def _send_artifact(self, request, channel, files) -> None:
        out = {}
        total = 0
        for path in self.outputs(files):
            try:
                with open(path, "rb") as f:
                    data = f.read(ARTIFACT_MAX + 1)
            except OSError:
                return
            total += len(data)
            if total > ARTIFACT_MAX:
                return
            out[os.path.relpath(path, self.out_dir) if self.out_dir else path] = base64.b64encode(data).decode()
        if out:
            channel.artifact({"key": self.cache_key(request), "files": out})

    def _verdict(self, request, channel, proc: Proc, token: bytes, detail: dict) -> None:
        code = proc.exit_code
        completed = bytes(proc.report) == token
        stderr = proc.err_tail
        detail.update(
            exit_code=code,
            exit0_rule_passed=code == 0,
            tests_completed=completed,
            run_s=round(proc.ended - proc.started, 4),
        )
        if proc.cpu is not None:
            detail["program_cpu_s"] = round(proc.cpu, 4)
        if code == 0 and completed:
            channel.verdict(True, detail=detail)
            return
        if self.memory_error(stderr):
            channel.verdict(False, "memory", "memory limit: " + (self.memory_error(stderr) or ""), detail)
            return
        if code is not None and code < 0:
            sig = -code
            name = SIGNAMES.get(sig, str(sig))
            cpu_limit = request["limits"].get("cpu_seconds")
            if sig == signal.SIGXCPU or (
                sig == signal.SIGKILL and proc.cpu is not None and cpu_limit and proc.cpu >= cpu_limit - 0.1
            ):
                detail.update(candidate_gone=True, candidate_signal="SIGXCPU")  # verdict.py: timeout
                channel.verdict(False, "failed", "CPU time limit", detail)
                return
            if name in self.signal_means_memory and not self.error_line(stderr):
                detail.update(reason="runtime_killed_by_signal", signal=name)
                channel.verdict(
                    False, "memory", f"memory limit: the runtime died by {name} (refused reservation)", detail
                )
                return
            if sig != signal.SIGABRT:  # abort = a failed assert / uncaught exception: a failure, below
                detail.update(candidate_gone=True, candidate_signal=name)  # verdict.py: crashed
                channel.verdict(False, "failed", f"killed by {name}", detail)
                return
        if code == 0:
            detail["reason"] = "exited_before_tests_completed"
            error = "exited with code 0 before the tests completed"
        elif completed:
            detail["reason"] = "nonzero_exit_after_tests"
            error = f"exited with code {code} after the tests completed (MultiPL-E requires exit code 0)"
        else:
            detail["reason"] = "tests_failed"
            found = self.error_line(stderr)
            error = found or (
                f"killed by {SIGNAMES.get(-code, code)}"
                if code is not None and code < 0
                else f"exited with code {code}"
            )
        channel.verdict(False, "failed", error[:300], detail)

    # -------------------------------------------------------------- per language
    def source_files(self, request: dict[str, Any]) -> dict[str, str]:
        raise NotImplementedError

    def compile_argv(self, request: dict[str, Any], files: dict[str, str]) -> list[str] | None:
        return None

    def outputs(self, files: dict[str, str]) -> list[str]:
        return []

    def run_argv(self, request: dict[str, Any], files: dict[str, str]) -> list[str]:
        raise NotImplementedError

    oom_markers: tuple[str, ...] = ()  # stderr texts that mean the program ran out of memory
    signal_means_memory: tuple[str, ...] = ()  # signals that end this runtime only when memory is refused

    def memory_error(self, stderr: str) -> str | None:
        return next((m for m in self.oom_markers if m in stderr), None)

    def error_line(self, stderr: str) -> str | None:
        return first_match(stderr, _ERROR_LINE)


_COMPILER_ERROR = re.compile(r"^.*\berror\b.*$", re.M)
_ERROR_LINE = re.compile(r"^.*(?:Error|Exception|Assertion|error:|terminate called).*$", re.M)


def first_match(text: str, pattern: re.Pattern) -> str | None:
    m = pattern.search(text)
    return m.group(0).strip()[:300] if m else None
