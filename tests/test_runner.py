"""The runner's streaming sample loop: records written as they finish, failures contained, resume."""

import json

import pytest

from aibench.errors import AibenchError
from aibench.harnesses.bigcode.humaneval import HumanEval
from aibench.runner import run_samples
from aibench.models.base import Model
from aibench.outputs import GENERATIONS, RESULTS, RunDir, read_jsonl
from aibench.sandboxes.local import LocalSandbox
from aibench.types import Completion, CompletionKind


class ScriptedModel(Model):
    """Answers each (task_id, sample) from a script: 'good', 'bad', 'error', 'truncated-good',
    'truncated-bad', 'raise' (a run-level failure after the earlier ones were yielded)."""

    name = "scripted"

    def __init__(self, script):
        self.script = script
        self.asked = []

    def generate(self, requests):
        for req in requests:
            self.asked.append((req.problem.task_id, req.sample_index))
            what = self.script(req.problem, req.sample_index)
            canonical = req.problem.canonical_solution
            if what == "raise":
                raise AibenchError("server went away")
            if what == "error":
                yield Completion(req, "", error="HTTP 500 after 3 retries")
            elif what == "crash-postprocess":
                yield Completion(req, "x", kind=CompletionKind.CHAT)
            else:
                text = canonical if what.endswith("good") else req.problem.prompt + "\n    return None\n"
                reason = "length" if what.startswith("truncated") else "stop"
                yield Completion(req, text, kind=CompletionKind.PROGRAM, finish_reason=reason)


@pytest.fixture(scope="module")
def problems():
    return HumanEval().problems(limit=3)


@pytest.fixture
def sandbox():
    sb = LocalSandbox()
    yield sb
    sb.close()


def run(problems, model, sandbox, out, n=2, resume=False):
    task = HumanEval()

    def postprocess(problem, completion):
        if completion.kind is CompletionKind.CHAT:
            raise ValueError("extractor blew up")
        return task.postprocess(problem, completion)

    return run_samples(
        problems,
        model,
        sandbox,
        out,
        n_samples=n,
        postprocess=postprocess,
        build_program=task.program,
        workers=2,
        resume=resume,
        progress=False,
    )


def statuses(out):
    return {(r["task_id"], r["sample_index"]): r["status"] for r in read_jsonl(out.file(RESULTS))}


def test_failures_are_contained_per_sample(tmp_path, problems, sandbox):
    script = {
        ("HumanEval/0", 0): "good",
        ("HumanEval/0", 1): "bad",
        ("HumanEval/1", 0): "error",
        ("HumanEval/1", 1): "crash-postprocess",
        ("HumanEval/2", 0): "truncated-good",
        ("HumanEval/2", 1): "truncated-bad",
    }
    out = RunDir(tmp_path)
    res = run(problems, ScriptedModel(lambda p, i: script[(p.task_id, i)]), sandbox, out)
    out.close()
    assert statuses(out) == {
        ("HumanEval/0", 0): "passed",
        ("HumanEval/0", 1): "failed",
        ("HumanEval/1", 0): "generation_error",
        ("HumanEval/1", 1): "generation_error",
        ("HumanEval/2", 0): "passed",
        ("HumanEval/2", 1): "generation_truncated",
    }
    gens = {(g["task_id"], g["sample_index"]): g for g in read_jsonl(out.file(GENERATIONS))}
    assert len(gens) == 6
    assert "extractor blew up" in gens[("HumanEval/1", 1)]["error"]
    assert gens[("HumanEval/2", 1)]["finish_reason"] == "length"
    truncated = [r for r in read_jsonl(out.file(RESULTS)) if r["status"] == "generation_truncated"][0]
    assert truncated["detail"]["execution_status"] == "failed"
    assert res.status_counts["passed"] == 2 and res.executed == 4


def test_run_level_failure_keeps_finished_work_and_resume_finishes_it(tmp_path, problems, sandbox):
    out = RunDir(tmp_path)
    failing = ScriptedModel(lambda p, i: "raise" if p.task_id == "HumanEval/2" else "good")
    with pytest.raises(AibenchError, match="server went away"):
        run(problems, failing, sandbox, out)
    out.close()
    done = statuses(out)
    assert done == {(f"HumanEval/{t}", i): "passed" for t in (0, 1) for i in (0, 1)}

    # a generation whose result never made it to disk is executed again without asking the model
    gen_rec = {
        "task": "humaneval",
        "task_id": "HumanEval/2",
        "sample_index": 0,
        "kind": "program",
        "completion": problems[2].canonical_solution,
        "program": problems[2].canonical_solution,
        "finish_reason": "stop",
        "error": None,
        "usage": {},
    }
    with out.file(GENERATIONS).open("a") as fh:
        fh.write(json.dumps(gen_rec) + "\n")
        fh.write('{"task": "humaneval", "task_id": "HumanEv')  # torn line from a kill mid-write

    out = RunDir(tmp_path)
    model = ScriptedModel(lambda p, i: "good")
    res = run(problems, model, sandbox, out, resume=True)
    out.close()
    assert model.asked == [("HumanEval/2", 1)]
    assert res.resumed == 4 and res.executed == 2 and res.requested == 1
    assert set(statuses(out).values()) == {"passed"} and len(statuses(out)) == 6


def test_raising_n_samples_on_resume_generates_only_new_samples(tmp_path, problems, sandbox):
    out = RunDir(tmp_path)
    run(problems, ScriptedModel(lambda p, i: "good"), sandbox, out, n=1)
    out.close()
    out = RunDir(tmp_path)
    model = ScriptedModel(lambda p, i: "bad")
    res = run(problems, model, sandbox, out, n=3, resume=True)
    out.close()
    assert sorted(model.asked) == [(f"HumanEval/{t}", i) for t in range(3) for i in (1, 2)]
    assert res.status_counts == {"passed": 3, "failed": 6}


def test_without_resume_old_records_are_discarded(tmp_path, problems, sandbox):
    out = RunDir(tmp_path)
    run(problems, ScriptedModel(lambda p, i: "bad"), sandbox, out, n=1)
    out.close()
    out = RunDir(tmp_path)
    model = ScriptedModel(lambda p, i: "good")
    run(problems, model, sandbox, out, n=1)
    out.close()
    assert len(model.asked) == 3 and set(statuses(out).values()) == {"passed"}


def test_no_more_sandbox_workers_than_programs(tmp_path, problems, sandbox):
    """run.workers=16 on 3 programs asks the sandbox for 3 workers (each is a fork server to start:
    100 workers for 3 programs took 10 s), and still for 16 when there are more programs."""
    asked = []
    execute_many = sandbox.execute_many

    def spy(items, workers=1):
        asked.append(workers)
        return execute_many(items, workers=workers)

    sandbox.execute_many = spy
    model = ScriptedModel(lambda problem, i: "good")
    for n, expect in ((1, 3), (8, 16)):
        run_samples(
            problems,
            model,
            sandbox,
            RunDir(tmp_path / f"n{n}"),
            n_samples=n,
            postprocess=HumanEval().postprocess,
            build_program=HumanEval().program,
            workers=16,
            progress=False,
        )
        assert asked[-1] == expect
        if n == 1:
            assert sandbox.stats["started_workers"] == 3
