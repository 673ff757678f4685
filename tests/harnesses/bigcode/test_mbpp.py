"""MBPP in BigCode's semantics: prompt (text + first test), stop words, test program, timeout, its own
entry point and per-case detail; local data in the HF layout; end to end with known pass@k."""

from __future__ import annotations

import ast
import json
from math import comb
from pathlib import Path

import pytest
from bigcode_source import BIGCODE, DATASETS, bigcode_class, init_stop_words
from support import aibench_cli, with_marks

from aibench.errors import AibenchError
from aibench.harnesses.bigcode.harness import task_registry
from aibench.harnesses.bigcode.mbpp import MBPP, called_function
from aibench.types import Completion, GenerationRequest

DATA = Path(__file__).resolve().parent / "data" / "mbpp.jsonl"


@pytest.fixture(scope="module")
def rows():
    return [json.loads(line) for line in DATA.read_text().splitlines()]


@with_marks(BIGCODE)
def test_registered_and_matches_bigcode(rows):
    assert task_registry()["mbpp"] is MBPP
    assert ast.literal_eval(init_stop_words("mbpp", "MBPP")) == list(MBPP.stop_words)
    theirs = bigcode_class("mbpp", "MBPP")()
    theirs.dataset, theirs.stop_words = {"test": rows}, list(MBPP.stop_words)
    task = MBPP(data_path=str(DATA))
    problems = task.problems()
    assert [p.task_id for p in problems] == [str(r["task_id"]) for r in rows]
    for i, (p, row) in enumerate(zip(problems, rows)):
        assert p.prompt == theirs.get_prompt(row)  # '"""\n' + text + "\n" + test_list[0] + '\n"""\n'
        assert p.tests == theirs.get_reference(row)  # "\n".join(test_list)
        assert task.program(p, "CODE", 1).source == "CODE\n" + theirs.get_reference(row)
        assert p.timeout == 3.0 and p.language == "python"
        generation = p.prompt + "    return 1\n\n\nassert f(1) == 1\nprint(2)\n"
        completion = Completion(GenerationRequest(p, 0), generation[len(p.prompt) :])
        assert task.postprocess(p, completion) == theirs.postprocess_generation(generation, i)


def test_entry_point_test_cases_and_reference(rows):
    p = MBPP(data_path=str(DATA)).problems()[4]
    assert p.entry_point == "second_largest"
    assert p.metadata["test_cases"] == tuple(rows[4]["test_list"])
    assert p.canonical_solution == rows[4]["code"]
    assert called_function("assert set(similar((3, 4), (4, 5))) == set((4,))") == "similar"  # builtins skipped
    assert called_function("assert math.isclose(area(2), 12.56)") == "area"
    assert called_function("x = 1") is None


def test_missing_data_is_one_line_naming_file_and_layout(tmp_path):
    with pytest.raises(AibenchError) as e:
        MBPP(data_path=str(tmp_path / "mbpp.jsonl")).problems()
    msg = str(e.value)
    assert "\n" not in msg and str(tmp_path / "mbpp.jsonl") in msg
    assert "harness.data_paths.mbpp=FILE" in msg and "task_id, text, code, test_list" in msg


@with_marks(DATASETS)
def test_online_load_failure_is_one_line_naming_the_local_file_route(monkeypatch):
    import datasets

    seen = {}

    def offline(path, name=None, **kw):
        seen.update(path=path, name=name, **kw)
        raise ConnectionError("Couldn't reach 'mbpp' on the Hub")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    monkeypatch.setattr("aibench.harnesses.hub.unreachable", lambda dataset: None)  # the Hub answers, the load fails
    with pytest.raises(AibenchError) as e:
        MBPP().problems()
    assert seen == {"path": "mbpp", "name": None, "split": "test"}  # BigCode: load_dataset("mbpp")["test"]
    assert "\n" not in str(e.value) and "harness.data_paths.mbpp=FILE" in str(e.value)

    monkeypatch.setattr(datasets, "load_dataset", lambda *a, **kw: [{"task_id": 1}] * 374)
    with pytest.raises(AibenchError, match="has 374 test rows, BigCode expects 500"):
        MBPP().problems()


def test_reference_end_to_end_scores_one(tmp_path):
    proc = aibench_cli(tmp_path, "harness.tasks=[mbpp]", f"harness.data_paths.mbpp={DATA}", "model=reference")
    assert proc.returncode == 0, proc.stderr[-3000:]
    m = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert m["tasks"]["mbpp"]["pass@k"] == {"pass@1": 1.0} and m["tasks"]["mbpp"]["n_problems"] == 7
    assert m["languages"]["python"]["pass@k"] == {"pass@1": 1.0}
    results = [json.loads(line) for line in (tmp_path / "run" / "results.jsonl").read_text().splitlines()]
    assert all(r["detail"]["test_cases_passed"] == 3 for r in results)  # each test of test_list on its own
    # the tests of 1007 call math.isclose on the math module the program imported (BigCode's one
    # namespace); the split judge gives them its own import of that standard module
    assert next(r for r in results if r["task_id"] == "1007")["passed"]


def test_mixed_replay_known_pass_at_k(tmp_path, rows):
    p0, p1 = rows[0], rows[1]
    prompt0 = f'"""\n{p0["text"]}\n{p0["test_list"][0]}\n"""\n'
    gens = [
        # square_sum: right, off by one (1 of 3 cases passes), right  -> c=2
        [p0["code"], "def square_sum(n):\n    return sum(i * i for i in range(n))", prompt0 + p0["code"]],
        # count_char: right, another name, JavaScript  -> c=1
        [
            p1["code"],
            "def count_chars(s, c):\n    return s.count(c)",
            "function count_char(s, c) {\n  return s.split(c).length - 1;\n}\n",
        ],
    ]
    path = tmp_path / "gens.json"
    path.write_text(json.dumps(gens))
    proc = aibench_cli(
        tmp_path,
        "harness.tasks=[mbpp]",
        f"harness.data_paths.mbpp={DATA}",
        "model=replay",
        f"model.path={path}",
        "run.n_samples=3",
        "run.limit=2",
        "metrics.k=[1,2]",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    m = json.loads((tmp_path / "run" / "metrics.json").read_text())

    def pass_at(n, c, k):
        return 1 - comb(n - c, k) / comb(n, k)

    expected = {f"pass@{k}": (pass_at(3, 2, k) + pass_at(3, 1, k)) / 2 for k in (1, 2)}
    assert m["tasks"]["mbpp"]["pass@k"] == pytest.approx(expected)
    results = {
        (r["task_id"], r["sample_index"]): r
        for r in map(json.loads, (tmp_path / "run" / "results.jsonl").read_text().splitlines())
    }
    assert [results[("1001", i)]["passed"] for i in range(3)] == [True, False, True]
    assert results[("1001", 1)]["detail"]["test_cases_passed"] == 1  # square_sum(0) == 0 still holds
    assert results[("1002", 1)]["detail"]["reason"] == "entry_point_not_found"
    js = results[("1002", 2)]
    assert js["status"] == "failed" and js["detail"]["reason"] == "language_mismatch"
    assert js["error"].startswith("language mismatch: the program looks like javascript")


def test_two_tasks_of_one_language_are_scored_together_per_language(tmp_path):
    """mbpp (all right) and multiple-py (one problem's reference broken): the python figure is over
    the 13 problems of both tasks, in metrics.json and the console."""
    rows_py = [json.loads(line) for line in (DATA.parent / "humaneval-py.jsonl").read_text().splitlines()]
    rows_py[0]["canonical_solution"] = "    return x - y\n"
    broken = tmp_path / "humaneval-py.jsonl"
    broken.write_text("".join(json.dumps(r) + "\n" for r in rows_py))
    proc = aibench_cli(
        tmp_path,
        "harness.tasks=[mbpp,multiple-py]",
        f"harness.data_paths.mbpp={DATA}",
        f"harness.data_paths.multiple-py={broken}",
        "model=reference",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    m = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert m["tasks"]["mbpp"]["pass@k"] == {"pass@1": 1.0}
    assert m["tasks"]["multiple-py"]["pass@k"] == pytest.approx({"pass@1": 5 / 6})
    py = m["languages"]["python"]
    assert py["tasks"] == ["mbpp", "multiple-py"] and py["n_problems"] == 13
    assert py["pass@k"] == pytest.approx({"pass@1": 12 / 13})
    assert m["extra_metrics"]["language/python/pass_at_1"] == pytest.approx(12 / 13)
    assert "per language: python (13 problems) pass@1 0.9231" in proc.stdout


def test_split_judge_gives_the_tests_only_standard_modules_of_the_program():
    """A module the program bound to a name the tests use reaches the trusted tests as the judge's
    own import of that standard module; anything else stays undefined there."""
    from aibench.sandboxes.local import LocalSandbox
    from aibench.types import Program

    tests = "assert math.isclose(f(1), 3.14159, rel_tol=0.001)"
    cases = {
        "import math\ndef f(r):\n    return math.pi * r * r\n": "passed",
        "import math as m\ndef f(r):\n    return m.pi * r * r\n": "failed",  # no `math` in the program: NameError
        "import types\nmath = types.ModuleType('aibench_fake')\nmath.isclose = lambda *a, **k: True\n"
        "def f(r):\n    return 0\n": "failed",  # not a standard module: never imported by the judge
    }
    sb = LocalSandbox(judge="isolated")
    try:
        for code, status in cases.items():
            v = sb.execute(Program("python", code, tests, 3.0, entry_point="f"))
            assert v.status.value == status, (code, v.error)
    finally:
        sb.close()
