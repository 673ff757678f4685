"""model=replay: BigCode --load_generations_path files and aibench generations.jsonl."""

import json

import pytest

from aibench.errors import AibenchError
from aibench.harnesses.bigcode.humaneval import HumanEval
from aibench.models.replay import ReplayModel
from aibench.types import CompletionKind, GenerationRequest


@pytest.fixture(scope="module")
def problems():
    return HumanEval().problems(limit=3)


def test_bigcode_layout_yields_programs_as_they_are(tmp_path, problems):
    path = tmp_path / "gens.json"
    path.write_text(json.dumps([[f"prog {i}.{j}" for j in range(i + 1)] for i in range(3)]))
    model = ReplayModel(path=str(path))
    model.prepare(problems)
    assert [model.samples_available(p) for p in problems] == [1, 2, 3]
    reqs = [GenerationRequest(problems[2], j) for j in range(3)]
    outs = list(model.generate(reqs))
    assert [c.text for c in outs] == ["prog 2.0", "prog 2.1", "prog 2.2"]
    assert all(c.kind is CompletionKind.PROGRAM for c in outs)


def test_longer_file_is_cut_to_the_problems_evaluated(tmp_path, problems):
    path = tmp_path / "gens.json"
    path.write_text(json.dumps([[f"prog {i}"] for i in range(10)]))
    model = ReplayModel(path=str(path))
    model.prepare(problems)  # BigCode cuts to [:n_tasks]: no error, the first len(problems) rows are used
    outs = list(model.generate([GenerationRequest(p, 0) for p in problems]))
    assert [c.text for c in outs] == ["prog 0", "prog 1", "prog 2"]


def test_missing_file_is_one_clear_error(tmp_path):
    with pytest.raises(AibenchError, match=r"replay file not found: .*model.path="):
        ReplayModel(path=str(tmp_path / "nope.json"))


def test_wrong_number_of_tasks(tmp_path, problems):
    path = tmp_path / "gens.json"
    path.write_text(json.dumps([["p"]] * 2))
    with pytest.raises(AibenchError, match=r"has 2 tasks but 3 problems are evaluated: set run.limit=2"):
        ReplayModel(path=str(path)).prepare(problems)
    path.write_text(json.dumps([["p"]] * 200))
    with pytest.raises(AibenchError, match=r"has 200 tasks but the dataset has only 164"):
        ReplayModel(path=str(path)).prepare(problems)


@pytest.mark.parametrize("content", ["{not json", json.dumps({"a": 1}), json.dumps([["ok"], [1]])])
def test_malformed_bigcode_file(tmp_path, content):
    path = tmp_path / "gens.json"
    path.write_text(content)
    with pytest.raises(AibenchError, match="replay file"):
        ReplayModel(path=str(path))


def test_aibench_jsonl_replays_raw_completions(tmp_path, problems):
    path = tmp_path / "generations.jsonl"
    recs = [
        {
            "task": "humaneval",
            "task_id": p.task_id,
            "sample_index": 0,
            "kind": "completion",
            "completion": "\n    return 1\n",
            "finish_reason": "length",
        }
        for p in problems
    ]
    path.write_text("\n".join(json.dumps(r) for r in recs) + "\n")
    model = ReplayModel(path=str(path))
    model.prepare(problems)
    (out,) = list(model.generate([GenerationRequest(problems[1], 0)]))
    assert out.kind is CompletionKind.COMPLETION and out.text == "\n    return 1\n" and out.finish_reason == "length"
    assert model.samples_available(problems[0]) == 1


def test_malformed_jsonl(tmp_path):
    path = tmp_path / "generations.jsonl"
    path.write_text('{"task": "humaneval"}\n')
    with pytest.raises(AibenchError, match=r"generations.jsonl:1: not an aibench generations.jsonl record"):
        ReplayModel(path=str(path))
