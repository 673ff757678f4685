"""MultiPL-E tasks (multiple-js/java/cpp/py) in BigCode's semantics, judged by aibench's runners with
the honest rule and MultiPL-E's exit-0 rule beside it; per-language pass@k; toolchain preflight."""

from __future__ import annotations

import functools
import json
from math import comb
from pathlib import Path

import pytest
from bigcode_source import BIGCODE, DATASETS, bigcode_class, init_stop_words, multiple_e_evaluator
from support import aibench_cli, requires, with_marks

from aibench.errors import AibenchError
from aibench.harnesses.bigcode import multiple
from aibench.harnesses.bigcode.harness import task_registry
from aibench.sandboxes.languages import toolchains
from aibench.types import Completion, CompletionKind, GenerationRequest

DATA = Path(__file__).resolve().parent / "data"
HOW = "run .ci/extras.d/10-toolchains.sh (apt-installs nodejs, default-jdk-headless, libjavatuples-java, g++)"
CODES = {"js": "javascript", "java": "java", "cpp": "cpp", "py": "python"}
# g++ on <bits/stdc++.h> takes seconds on a busy host: a generous compile budget keeps these tests
# about the harness's semantics (MultiPL-E's 15 s is the default, tested with the runners)
SLOW_HOST = ("run.workers=2", "sandbox.limits.compile_timeout_s=90")


@functools.lru_cache(maxsize=None)
def ready(*languages: str) -> bool:
    return not toolchains.check(list(languages))


def toolchain(code: str):
    """The marks of a test running ``code``'s programs: none for Python, else the toolchains extra."""
    return [] if code == "py" else requires("toolchains", ready(CODES[code]), HOW)


def rows(code: str) -> list[dict]:
    return [json.loads(line) for line in (DATA / f"humaneval-{code}.jsonl").read_text().splitlines()]


def task(code: str, path: str | None = None):
    return task_registry()[f"multiple-{code}"](data_path=path or str(DATA / f"humaneval-{code}.jsonl"))


# ------------------------------------------------------------------------------ BigCode parity
@with_marks(BIGCODE)
@pytest.mark.parametrize("code", list(CODES))
def test_prompts_tests_stop_words_and_postprocessing_match_bigcode(code):
    assert init_stop_words("multiple", "GeneralMultiPLE") == "self.dataset['test'][0]['stop_tokens'] + ['<file_sep>']"
    data = rows(code)
    theirs = bigcode_class("multiple", "GeneralMultiPLE")()  # its methods, without the dataset download
    theirs.dataset = {"test": data}
    theirs.stop_words = data[0]["stop_tokens"] + ["<file_sep>"]
    ours = task(code)
    problems = ours.problems()
    assert [p.task_id for p in problems] == [r["name"] for r in data]
    assert ours.name == f"multiple-{code}" and all(p.language == CODES[code] for p in problems)
    for i, (p, row) in enumerate(zip(problems, data)):
        assert p.prompt == theirs.get_prompt(row)
        assert p.tests == theirs.get_reference(row)
        assert list(p.stop_words) == theirs.stop_words
        generation = p.prompt + "\n  x = 1;\n}\n\n//\nfunction f() {}\n    }\n def\n"
        completion = Completion(GenerationRequest(p, 0), generation[len(p.prompt) :])
        assert ours.postprocess(p, completion) == theirs.postprocess_generation(generation, i)
        # a loaded program (BigCode generations file) is used as it is, as BigCode does
        program = Completion(GenerationRequest(p, 0), "anything", kind=CompletionKind.PROGRAM)
        assert ours.postprocess(p, program) == "anything"
        assert ours.program(p, "CODE", 2).source == "CODE\n" + row["tests"]  # completion + "\n" + tests


def test_registry_names_timeouts_and_entry_points():
    reg = task_registry()
    assert {"multiple-js", "multiple-java", "multiple-cpp", "multiple-py"} <= set(reg)
    # MultiPL-E's evaluators: node with timeout=5, the others safe_subprocess's 15 s
    assert {c: reg[f"multiple-{c}"].timeout for c in CODES} == {"js": 5.0, "java": 15.0, "cpp": 15.0, "py": 15.0}
    py = task("py").problems()
    assert [p.entry_point for p in py][:2] == ["add", "count_vowels"]  # the function the tests hand to check
    assert all(p.entry_point is None for p in task("java").problems())


def test_reference_continues_the_raw_prompt():
    for code in CODES:
        p, row = task(code).problems()[0], rows(code)[0]
        assert p.canonical_solution == row["prompt"] + row["canonical_solution"]
    no_solution = [{k: v for k, v in r.items() if k != "canonical_solution"} for r in rows("js")]
    assert all(p.canonical_solution is None for p in _from_rows("js", no_solution))


def _from_rows(code, data, tmp=None):
    import tempfile

    d = Path(tmp or tempfile.mkdtemp())
    path = d / "rows.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in data))
    return task(code, str(path)).problems()


# ------------------------------------------------------------------------------ data errors
def test_missing_file_names_the_expected_file_and_layout(tmp_path):
    with pytest.raises(AibenchError) as e:
        task("js", str(tmp_path / "nope.jsonl")).problems()
    msg = str(e.value)
    assert "\n" not in msg and "dataset file not found" in msg
    assert "harness.data_paths.multiple-js=FILE" in msg and "humaneval-js" in msg and "stop_tokens" in msg


def test_rows_of_another_language_or_without_fields_are_refused(tmp_path):
    with pytest.raises(AibenchError, match=r"row 0 of .* is language 'java', not 'js'"):
        _from_rows("js", rows("java"), tmp_path)
    with pytest.raises(AibenchError, match="lacks tests"):
        _from_rows("cpp", [{k: v for k, v in r.items() if k != "tests"} for r in rows("cpp")], tmp_path)


@with_marks(DATASETS)
def test_online_load_failure_is_one_line_naming_the_local_file_route(monkeypatch):
    import datasets

    seen = {}

    def offline(path, name=None, **kw):
        seen.update(path=path, name=name, **kw)
        raise ConnectionError("Couldn't reach 'nuprl/MultiPL-E' on the Hub (LocalEntryNotFoundError)\nmore")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    monkeypatch.setattr("aibench.harnesses.hub.unreachable", lambda dataset: None)  # the Hub answers, the load fails
    with pytest.raises(AibenchError) as e:
        task_registry()["multiple-java"]().problems()
    assert seen == {"path": "nuprl/MultiPL-E", "name": "humaneval-java", "split": "test", "revision": multiple.REVISION}
    msg = str(e.value)
    assert "\n" not in msg and "ConnectionError" in msg
    assert "harness.data_paths.multiple-java=FILE" in msg and "name, language, prompt" in msg


def test_no_data_offline_is_one_line_from_the_cli(tmp_path):
    offline = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    proc = aibench_cli(tmp_path, "harness.tasks=[multiple-cpp]", "model=reference", env=offline, timeout=120)
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr  # no warnings of the hub client before it
    assert lines[0].startswith("aibench: error: multiple-cpp: could not load the dataset nuprl/MultiPL-E")
    assert "harness.data_paths.multiple-cpp=FILE" in lines[0]


# ------------------------------------------------------------------------------ end to end
def _metrics(tmp: Path) -> dict:
    return json.loads((tmp / "run" / "metrics.json").read_text())


def _results(tmp: Path) -> dict:
    out = {}
    for line in (tmp / "run" / "results.jsonl").read_text().splitlines():
        r = json.loads(line)
        out[(r["task_id"], r["sample_index"])] = r
    return out


@pytest.mark.parametrize("code", [pytest.param(c, marks=toolchain(c)) for c in CODES])
def test_reference_end_to_end_scores_one(tmp_path, code):
    data = str(DATA / f"humaneval-{code}.jsonl")
    proc = aibench_cli(
        tmp_path,
        f"harness.tasks=[multiple-{code}]",
        f"harness.data_paths.multiple-{code}={data}",
        "model=reference",
        *SLOW_HOST,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    m = _metrics(tmp_path)
    res = m["tasks"][f"multiple-{code}"]
    failures = [(r["task_id"], r["status"], r["error"]) for r in _results(tmp_path).values() if not r["passed"]]
    assert not failures
    assert res["pass@k"] == {"pass@1": 1.0} and res["n_problems"] == len(rows(code)) == 6
    assert res["status_counts"] == {"passed": 6}
    lang = m["languages"][CODES[code]]
    assert lang["pass@k"] == {"pass@1": 1.0} and lang["tasks"] == [f"multiple-{code}"]
    if code != "py":
        assert res["pass@k_exit0_rule"] == {"pass@1_exit0_rule": 1.0} and res["exit0_rule_only"] == 0
        assert m["extra_metrics"][f"multiple-{code}/pass_at_1_exit0_rule"] == 1.0
        assert "MultiPL-E's exit-0 rule: pass@1_exit0_rule 1.0000" in proc.stdout
    else:
        assert "pass@k_exit0_rule" not in res  # the Python judge has no exit-0 rule figure
    assert m["extra_metrics"][f"language/{CODES[code]}/pass_at_1"] == 1.0
    from aibench.tracking.mlflow_logger import flatten_metrics  # what MLflow is sent

    flat = flatten_metrics(m)
    assert flat[f"multiple-{code}/pass_at_1"] == flat[f"language/{CODES[code]}/pass_at_1"] == 1.0
    assert (f"multiple-{code}/pass_at_1_exit0_rule" in flat) is (code != "py")


# Mixed samples per language (problems Tiny_0_add and Tiny_1_count_vowels): body texts that
# continue the raw prompt. "cheat" exits 0 before the tests complete (MultiPL-E counts it),
# "broken" does not compile/parse, "foreign" is Python (JavaScript for the Python task).
MIXED = {
    "js": {
        "wrong0": "  return x - y;\n}\n",
        "cheat": "  return x + 1;\n}\nprocess.exit(0);\n",
        "broken": "  return (s;\n}\n",
        "wrong1": "  return 0;\n}\n",
    },
    "java": {
        "wrong0": "        return x - y;",
        "cheat": "        System.exit(0);\n        return 0;",
        "broken": "        return s +;",
        "wrong1": "        return 0;",
    },
    "cpp": {
        "wrong0": "    return x - y;",
        "cheat": "    exit(0);\n    return 0;",
        "broken": "    return s +;",
        "wrong1": "    return 0;",
    },
    "py": {
        "wrong0": "    return x - y\n",
        "cheat": "    import sys\n    sys.exit(0)\n",
        "broken": "    return (s\n",
        "wrong1": "    return 0\n",
    },
}
FOREIGN = {
    "python": "def count_vowels(s):\n    total = 0\n    for ch in s.lower():\n        if ch in 'aeiou':\n            total += 1\n    return total\n",
    "javascript": "function count_vowels(s) {\n  const v = 'aeiou';\n  return [...s].filter((c) => v.includes(c)).length;\n}\n",
}


def mixed_generations(code: str) -> list[list[str]]:
    r0, r1 = rows(code)[:2]
    good0, good1 = r0["prompt"] + r0["canonical_solution"], r1["prompt"] + r1["canonical_solution"]
    m = MIXED[code]
    foreign = FOREIGN["javascript" if code == "py" else "python"]
    return [
        [good0, r0["prompt"] + m["wrong0"], r0["prompt"] + m["cheat"], good0],  # honest c=2, exit-0 rule c=3
        [good1, r1["prompt"] + m["broken"], foreign, r1["prompt"] + m["wrong1"]],  # c=1 under both rules
    ]


def pass_at(n: int, c: int, k: int) -> float:
    return 1.0 - comb(n - c, k) / comb(n, k)


_MIXED_RUNS: dict[str, Path] = {}


def mixed_run(code: str, tmp_path_factory) -> Path:
    """The mixed generations of ``code`` replayed through the CLI once per session (n=4, 2 problems)."""
    if code not in _MIXED_RUNS:
        tmp = tmp_path_factory.mktemp(f"mixed-{code}")
        gens = tmp / "gens.json"
        gens.write_text(json.dumps(mixed_generations(code)))
        data = str(DATA / f"humaneval-{code}.jsonl")
        proc = aibench_cli(
            tmp,
            f"harness.tasks=[multiple-{code}]",
            f"harness.data_paths.multiple-{code}={data}",
            "model=replay",
            f"model.path={gens}",
            "run.n_samples=4",
            "run.limit=2",
            "metrics.k=[1,2]",
            *SLOW_HOST,
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        _MIXED_RUNS[code] = tmp
    return _MIXED_RUNS[code]


@pytest.mark.parametrize("code", [pytest.param(c, marks=toolchain(c)) for c in CODES])
def test_mixed_replay_known_pass_at_k_exit0_rule_and_mismatch_reason(tmp_path_factory, code):
    tmp_path = mixed_run(code, tmp_path_factory)
    res = _metrics(tmp_path)["tasks"][f"multiple-{code}"]
    honest = {f"pass@{k}": (pass_at(4, 2, k) + pass_at(4, 1, k)) / 2 for k in (1, 2)}
    assert res["pass@k"] == pytest.approx(honest)
    assert res["pass@k"]["pass@1"] == pytest.approx(0.375)
    results = _results(tmp_path)
    name0, name1 = rows(code)[0]["name"], rows(code)[1]["name"]
    assert [results[(name0, i)]["passed"] for i in range(4)] == [True, False, False, True]
    assert [results[(name1, i)]["passed"] for i in range(4)] == [True, False, False, False]
    foreign = results[(name1, 2)]
    assert foreign["detail"]["reason"] == "language_mismatch", foreign
    detected = "javascript" if code == "py" else "python"
    assert foreign["error"].startswith(f"language mismatch: the program looks like {detected}")
    assert foreign["status"] in ("failed", "compile_error")
    if code == "py":
        assert "pass@k_exit0_rule" not in res  # sys.exit(0) in the function fails; no exit-0 figure
        return
    exit0 = {f"pass@{k}_exit0_rule": (pass_at(4, 3, k) + pass_at(4, 1, k)) / 2 for k in (1, 2)}
    assert res["pass@k_exit0_rule"] == pytest.approx(exit0) and res["exit0_rule_only"] == 1
    cheat = results[(name0, 2)]
    assert cheat["detail"]["exit0_rule_passed"] is True and cheat["detail"]["reason"] == "exited_before_tests_completed"
    if code in ("java", "cpp"):
        assert results[(name1, 1)]["status"] == "compile_error"
        assert foreign["status"] == "compile_error" and foreign["detail"]["execution_reason"] == "compile_error"


@with_marks(BIGCODE + requires("toolchains", ready("javascript", "cpp"), HOW))
def test_exit0_rule_agrees_with_multiple_e_own_evaluators(tmp_path_factory):
    """MultiPL-E's eval_javascript/eval_cpp (run here directly on our own test programs) count
    exactly the samples aibench's detail.exit0_rule_passed counts."""
    for code, module, ext in (("js", "javascript", ".js"), ("cpp", "cpp", ".cpp")):
        eval_script = multiple_e_evaluator(module)
        out = mixed_run(code, tmp_path_factory)
        results = _results(out)
        for i, (row, programs) in enumerate(zip(rows(code), mixed_generations(code))):
            for j, program in enumerate(programs):
                src = out / f"p{i}_{j}{ext}"  # containerized_eval.eval_string_script: program + "\n" + tests
                src.write_text(program + "\n" + row["tests"])
                theirs = eval_script(src)
                multiple_e = theirs["status"] == "OK" and theirs["exit_code"] == 0
                detail = results[(row["name"], j)]["detail"]
                ours = detail.get("exit0_rule_passed", False)  # a compile error never ran
                assert ours == multiple_e, (code, i, j, theirs["status"], detail)


# ------------------------------------------------------------------------------ per language
def test_language_scores_per_language_and_exit0_rule():
    from aibench.metrics.pass_at_k import PassAtK, language_scores
    from aibench.types import SampleResult

    def r(task, tid, i, passed, exit0=None):
        return SampleResult(task, tid, i, "passed" if passed else "failed", passed, exit0_rule_passed=exit0)

    results = [
        r("multiple-js", "a", 0, True, True),
        r("multiple-js", "a", 1, False, True),  # passes only by exiting 0
        r("multiple-js", "b", 0, False, False),
        r("multiple-js", "b", 1, False, None),  # never ran (compile error): fails both rules
        r("humaneval", "x", 0, True),
        r("humaneval", "x", 1, True),
        r("mbpp", "y", 0, False),
        r("mbpp", "y", 1, True),
    ]
    tasks = {t: {"pass@k": {}} for t in ("multiple-js", "humaneval", "mbpp")}
    langs = {"multiple-js": "javascript", "humaneval": "python", "mbpp": "python"}
    out = language_scores(PassAtK(k=[1, 2]), results, langs, tasks)
    assert tasks["multiple-js"]["pass@k_exit0_rule"] == {"pass@1_exit0_rule": 0.5, "pass@2_exit0_rule": 0.5}
    assert tasks["multiple-js"]["exit0_rule_only"] == 1
    assert "pass@k_exit0_rule" not in tasks["humaneval"]
    py = out["languages"]["python"]
    assert py["tasks"] == ["humaneval", "mbpp"] and py["n_problems"] == 2 and py["n_samples"] == 4
    assert py["pass@k"] == {"pass@1": 0.75, "pass@2": 1.0}
    js = out["languages"]["javascript"]
    assert js["pass@k"] == {"pass@1": 0.25, "pass@2": 0.5} and js["pass@k_exit0_rule"]["pass@1_exit0_rule"] == 0.5
    assert out["extra_metrics"]["language/python/pass_at_2"] == 1.0
    assert out["extra_metrics"]["multiple-js/pass_at_1_exit0_rule"] == 0.5
    assert "pass_at_1_exit0_rule" not in out["extra_metrics"]  # overall name only for a one-task run


# ------------------------------------------------------------------------------ preflight
def test_missing_toolchain_stops_before_generation_with_one_line(tmp_path):
    empty = tmp_path / "bin"
    empty.mkdir()
    proc = aibench_cli(
        tmp_path,
        "harness.tasks=[multiple-js]",
        f"harness.data_paths.multiple-js={DATA / 'humaneval-js.jsonl'}",
        "model=reference",
        env={"PATH": str(empty)},
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("aibench: error: toolchain missing for javascript")
    assert "node not found (needed for javascript): apt-get install nodejs" in lines[0]
    run = tmp_path / "run"
    assert not (run / "generations.jsonl").exists() and not (run / "results.jsonl").exists()


class _NoRequests:
    name = "guard"
    stats: dict = {}

    def prepare(self, problems):
        raise AssertionError("the model was prepared before the preflight")

    def generate(self, requests):
        raise AssertionError("a model request before the preflight")

    def samples_available(self, problem):
        return None


class _Sandbox:
    name = "docker"

    def __init__(self, missing):
        self.missing, self.asked = missing, []

    def preflight(self, languages):
        self.asked.append(languages)
        return self.missing


def _runner(tmp_path, sandbox, tasks=("multiple-java", "multiple-cpp", "humaneval")):
    from types import SimpleNamespace

    from aibench.harnesses.bigcode.harness import BigCodeHarness
    from aibench.metrics.pass_at_k import PassAtK
    from aibench.runner import Runner

    paths = {f"multiple-{c}": str(DATA / f"humaneval-{c}.jsonl") for c in CODES}
    suite = BigCodeHarness(tasks=list(tasks), data_paths=paths)
    run = SimpleNamespace(n_samples=1, limit=1, workers=1, seed=0, resume=False, progress=False, shard=None)
    return Runner(suite, _NoRequests(), sandbox, PassAtK(k=[1]), run)


def test_mlflow_params_name_the_languages(tmp_path):
    assert _runner(tmp_path, None).suite.params()["languages"] == "cpp,java,python"


def test_the_sandbox_own_preflight_is_asked_for_every_language_first(tmp_path):
    from aibench.outputs import RunDir

    sandbox = _Sandbox(["g++ not found in the sandbox image: rebuild it with toolchains"])
    with pytest.raises(AibenchError) as e:
        _runner(tmp_path, sandbox).run(RunDir(tmp_path), resume=False)
    assert sandbox.asked == [["cpp", "java", "python"]]
    assert str(e.value) == (
        "toolchain missing for cpp, java, python (sandbox=docker): "
        "g++ not found in the sandbox image: rebuild it with toolchains"
    )
