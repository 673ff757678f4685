"""harness=lm_eval: the real lm_eval package (simple_evaluate) through aibench's model adapters.

Offline: the tasks are local YAMLs under ./tasks reading ./tasks/data (relative data_files resolve
against the working directory, so every run starts there), plus aibench's shipped code tasks.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from support import requires

HERE = Path(__file__).resolve().parent
TASKS = HERE / "tasks"
REPO = HERE.parents[2]

pytestmark = requires("lm_eval", importlib.util.find_spec("lm_eval") is not None, "pip install -e '.[lm-eval]'")
HAS_TORCH = importlib.util.find_spec("torch") is not None and importlib.util.find_spec("transformers") is not None


@pytest.fixture
def in_tasks_dir(monkeypatch):
    monkeypatch.chdir(TASKS)


def compose_run(tmp_path, overrides, run_dir="run"):
    from hydra import compose

    from aibench.components import register_configs
    from aibench.config import initialize_config
    from aibench.executor import run

    register_configs()
    base = [
        "harness=lm_eval",
        f"harness.include_path=[{TASKS}]",
        "tracking.enabled=false",
        "run.progress=false",
        f"paths.output_root={tmp_path}",
    ]
    with initialize_config():
        cfg = compose("config", overrides=base + list(overrides))
    return run(cfg, run_dir=str(tmp_path / run_dir)).to_dict()


def metric_values(report, task):
    return {f"{m},{f}": v for f, ms in report["tasks"][task]["metrics"].items() for m, v in ms.items()}


def read_jsonl(path):
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def humaneval_rows():
    return read_jsonl(TASKS / "data" / "humaneval.jsonl")


# ------------------------------------------------------------------------------ Ollama, end to end
@pytest.fixture
def ollama_run(tmp_path, in_tasks_dir):
    from aibench.models.fakes import FakeOllama

    rows = humaneval_rows()
    with FakeOllama() as srv:
        srv.answers.wrong.add(rows[1]["task_id"])
        overrides = [
            "harness.tasks=[tiny_humaneval]",
            "harness.log_samples=true",
            "model=ollama/base",
            "model.name=llama3",
            f"model.host={srv.url}",
            f"model.cache_dir={tmp_path / 'cache'}",
        ]
        report = compose_run(tmp_path, overrides)
        first = srv.generation_requests()
        srv.reset()
        again = compose_run(tmp_path, overrides, run_dir="again")
        yield {
            "report": report,
            "requests": first,
            "again": again,
            "again_requests": srv.generation_requests(),
            "rows": rows,
            "wrong": set(srv.answers.wrong),
            "tmp": tmp_path,
        }


def test_ollama_generate_until_sends_lm_eval_requests_and_scores_in_the_sandbox(ollama_run):
    rows, requests = ollama_run["rows"], ollama_run["requests"]
    # one /api/generate per problem: the raw (unstripped) lm-eval prompt, lm-eval's until as stop
    # words, greedy (do_sample: false) and the task's max_gen_toks
    assert [r["path"] for r in requests] == ["/api/generate"] * len(rows)
    assert sorted(r["body"]["prompt"] for r in requests) == sorted(row["prompt"] for row in rows)
    for r in requests:
        assert r["body"]["raw"] is True
        opts = r["body"]["options"]
        assert opts["stop"] == ["\nclass", "\ndef", "\n#", "\nif", "\nprint"]
        assert opts["temperature"] == 0.0 and opts["num_predict"] == 1024
    assert len({r["body"]["options"]["seed"] for r in requests}) == len(rows)  # a seed per sample

    report = ollama_run["report"]
    expected = (len(rows) - len(ollama_run["wrong"])) / len(rows)
    assert metric_values(report, "tiny_humaneval")["pass@1,create_test"] == pytest.approx(expected)
    assert report["status_counts"] == {"passed": len(rows) - 1, "failed": 1}
    run_dir = Path(report["run_dir"])
    results = read_jsonl(run_dir / "results.jsonl")
    assert {(r["task"], r["task_id"], r["status"]) for r in results} == {
        ("tiny_humaneval", row["task_id"], "failed" if row["task_id"] in ollama_run["wrong"] else "passed")
        for row in rows
    }
    samples = read_jsonl(run_dir / "lm_eval_samples_tiny_humaneval.jsonl")
    assert [s["filter"] for s in samples] == ["create_test"] * len(rows)
    lm_results = json.loads((run_dir / "lm_eval_results.json").read_text())
    assert lm_results["versions"]["tiny_humaneval"] == 1.0
    # lm-eval's environment record (collected ahead of time by envinfo.EnvInfo) is in its results
    assert lm_results["pretty_env_info"] and lm_results["lm_eval_version"] and "transformers_version" in lm_results
    assert set(report["artifacts"]) == {"lm_eval_results.json", "lm_eval_samples_tiny_humaneval.jsonl"}


def test_a_rerun_is_answered_from_the_generation_cache(ollama_run):
    assert ollama_run["again_requests"] == []
    again = ollama_run["again"]
    assert again["samples"]["cached"] == len(ollama_run["rows"]) and again["samples"]["generated"] == 0
    assert metric_values(again, "tiny_humaneval") == metric_values(ollama_run["report"], "tiny_humaneval")


def test_replaying_the_generations_gives_the_same_metrics(ollama_run, tmp_path):
    gens = Path(ollama_run["report"]["run_dir"]) / "generations.jsonl"
    replayed = compose_run(
        tmp_path, ["harness.tasks=[tiny_humaneval]", "model=replay", f"model.path={gens}"], run_dir="replayed"
    )
    assert metric_values(replayed, "tiny_humaneval") == metric_values(ollama_run["report"], "tiny_humaneval")


def test_metrics_reach_mlflow_with_lm_eval_artifacts(ollama_run):
    from aibench.tracking import mlflow_logger as ml

    report = ollama_run["report"]
    flat = ml.flatten_metrics(report)
    assert (
        flat["lm_eval/tiny_humaneval/pass_at_1/create_test"]
        == metric_values(report, "tiny_humaneval")["pass@1,create_test"]
    )
    assert "lm_eval/tiny_humaneval/pass_at_1_stderr/create_test" in flat

    class Client:
        def __init__(self):
            self.artifacts, self.params = [], {}

        def log_batch(self, run_id, metrics, params):
            self.params = {p.key: p.value for p in params}

        def log_artifact(self, run_id, path):
            self.artifacts.append(Path(path).name)

        def log_table(self, run_id, data, artifact_file):
            self.tables[artifact_file] = data

        def set_terminated(self, run_id, status, end_time):
            pass

    client = Client()
    client.tables = {}
    manifest = json.loads((Path(report["run_dir"]) / "run_manifest.json").read_text())
    params = {"task_version/tiny_humaneval": 1.0}
    ml.finish_run(client, "r", params=params, report=report, run_dir=Path(report["run_dir"]), end_ms=0)
    assert {"lm_eval_results.json", "lm_eval_samples_tiny_humaneval.jsonl", "metrics.json"} <= set(client.artifacts)
    (table,) = client.tables.values()  # the per-sample table: every scored code sample, failures first
    assert set(table["task"]) == {"tiny_humaneval"} and len(table["task"]) == 3
    assert sorted(table["passed"]) == [False, True, True]
    assert manifest["harness"]["output_types"] == {"tiny_humaneval": "generate_until"}
    assert manifest["sandbox"]["isolation"]["fresh_process_per_sample"]  # a code task: the sandbox ran it


def test_a_loglikelihood_task_on_ollama_fails_before_any_request(tmp_path, in_tasks_dir):
    from aibench.models.fakes import FakeOllama

    from aibench.errors import AibenchError

    with FakeOllama() as srv:
        with pytest.raises(AibenchError) as err:
            compose_run(
                tmp_path,
                [
                    "harness.tasks=[tiny_gen,tiny_mc]",
                    "model=ollama/base",
                    "model.name=llama3",
                    f"model.host={srv.url}",
                    "model.cache_dir=null",
                ],
            )
        assert srv.requests == []
    message = str(err.value)
    assert "\n" not in message
    assert "tiny_mc (multiple_choice)" in message and "tiny_gen" not in message
    assert "model=hf/" in message and "echo+logprobs" in message


# ------------------------------------------------------------------------------ OpenAI: logprobs, MBPP
def expected_loglikelihood(context: str, continuation: str) -> tuple[float, bool]:
    """Independently of aibench: the fake's tokens of context+continuation from the context's end
    (its trailing spaces belong to the continuation), scored by the fake's own function."""
    from aibench.models.fakes.openai import ALT_LOGPROB, ALT_TOKEN, token_logprob
    from aibench.models.fakes.server import tokenize

    toks = tokenize(context + continuation)
    start, pos, total, greedy = len(context.rstrip()), 0, 0.0, True
    for i, tok in enumerate(toks):
        if pos + len(tok) > start and i > 0:
            lp = token_logprob(toks[i - 1], tok)
            total += lp
            greedy = greedy and (tok == ALT_TOKEN or lp >= ALT_LOGPROB)
        pos += len(tok)
    return total, greedy


def test_openai_completions_serve_loglikelihood_tasks_through_echo_logprobs(tmp_path, in_tasks_dir):
    from aibench.models.fakes import FakeOpenAI

    with FakeOpenAI(models=("tiny",)) as srv:
        report = compose_run(
            tmp_path,
            [
                "harness.tasks=[tiny_mc,tiny_ll,tiny_rolling]",
                "harness.log_samples=true",
                "model=openai/base",
                "model.name=tiny",
                f"model.base_url={srv.url}/v1",
                "model.cache_dir=null",
                "model.concurrency=4",
            ],
        )
        bodies = [r["body"] for r in srv.generation_requests()]
    assert bodies and all(b["echo"] is True and b["logprobs"] == 1 and b["max_tokens"] == 1 for b in bodies)
    mc = read_jsonl(Path(report["run_dir"]) / "lm_eval_samples_tiny_mc.jsonl")
    assert len(mc) == 4
    hits = 0
    for sample in mc:
        ctx = sample["arguments"][0][0]
        got = [r[0] for r in sample["resps"]]
        choices = sample["doc"]["choices"]
        want = [expected_loglikelihood(ctx, " " + c) for c in choices]
        assert [tuple(g) for g in got] == [pytest.approx(w) for w in want]
        hits += max(range(len(choices)), key=lambda i: want[i][0]) == sample["doc"]["label"]
    assert metric_values(report, "tiny_mc")["acc,none"] == pytest.approx(hits / len(mc))
    rolling = read_jsonl(Path(report["run_dir"]) / "lm_eval_samples_tiny_rolling.jsonl")
    for sample in rolling:
        assert sample["resps"][0][0] == pytest.approx(expected_loglikelihood("", sample["doc"]["text"])[0])
    assert set(metric_values(report, "tiny_ll")) >= {"perplexity,none", "acc,none"}
    # no task executes code (none has lm-eval's unsafe_code): the sandbox was never started
    manifest = json.loads((Path(report["run_dir"]) / "run_manifest.json").read_text())
    assert manifest["sandbox"]["used"] is False and "isolation" not in manifest["sandbox"]


def test_openai_chat_models_cannot_serve_loglikelihood(tmp_path, in_tasks_dir):
    from aibench.errors import AibenchError

    with pytest.raises(AibenchError, match="tiny_ll \\(loglikelihood\\)"):
        compose_run(
            tmp_path,
            [
                "harness.tasks=[tiny_ll]",
                "model=openai/base",
                "model.name=tiny",
                "model.base_url=http://127.0.0.1:9/v1",
                "model.chat=true",
            ],
        )


def test_mbpp_programs_run_in_the_sandbox_with_lm_eval_prompts(tmp_path, in_tasks_dir):
    from aibench.models.fakes import FakeOpenAI

    rows = read_jsonl(TASKS / "data" / "mbpp.jsonl")
    by_text = {r["text"]: r for r in rows}
    wrong = rows[0]["task_id"]

    def completion(prompt, body):
        row = next(r for t, r in by_text.items() if t in prompt.rsplit("[DONE]", 1)[-1])
        code = "def remove_Occ(s, ch):\n    return s\n" if row["task_id"] == wrong else row["code"]
        return "\n" + code + "\n[DONE]\nmore text"

    with FakeOpenAI(models=("coder",)) as srv:
        srv.answers.completion = completion
        report = compose_run(
            tmp_path,
            [
                "harness.tasks=[tiny_mbpp]",
                "model=openai/base",
                "model.name=coder",
                f"model.base_url={srv.url}/v1",
                "model.cache_dir=null",
            ],
        )
        bodies = [r["body"] for r in srv.generation_requests()]
    assert len(bodies) == len(rows)
    for b in bodies:
        assert b["stop"] == ["[DONE]"] and b["temperature"] == 0.0
        assert b["prompt"].count("[BEGIN]") == 4  # lm-eval's 3-shot prompt plus the task
    assert metric_values(report, "tiny_mbpp")["pass_at_1,none"] == pytest.approx((len(rows) - 1) / len(rows))
    results = read_jsonl(Path(report["run_dir"]) / "results.jsonl")
    assert {r["task_id"]: r["status"] for r in results} == {
        str(r["task_id"]): "failed" if r["task_id"] == wrong else "passed" for r in rows
    }


# ------------------------------------------------------------------------------ model=reference: the self-check
@pytest.mark.parametrize(
    ("task", "rows", "metric"),
    [("tiny_humaneval", "humaneval.jsonl", "pass@1,create_test"), ("tiny_mbpp", "mbpp.jsonl", "pass_at_1,none")],
)
def test_reference_model_self_checks_the_lm_eval_path(tmp_path, in_tasks_dir, task, rows, metric):
    """model=reference (the default model) answers each lm-eval request with the document's reference
    continuation (HumanEval's canonical_solution, MBPP's code) through lm-eval's real prompts, stop
    strings and filters: every program passes in the sandbox, as harness=bigcode's self-check."""
    report = compose_run(tmp_path, [f"harness.tasks=[{task}]", "model=reference"])
    n = len(read_jsonl(TASKS / "data" / rows))
    assert metric_values(report, task)[metric] == 1.0
    results = read_jsonl(Path(report["run_dir"]) / "results.jsonl")
    assert len(results) == n and all(r["status"] == "passed" for r in results)
    gens = read_jsonl(Path(report["run_dir"]) / "generations.jsonl")
    assert len(gens) == n and all(g["output"].strip() and g["error"] is None for g in gens)


def test_reference_model_on_a_task_without_references_says_what_to_do(tmp_path, in_tasks_dir):
    from aibench.errors import AibenchError

    with pytest.raises(AibenchError) as err:
        compose_run(tmp_path, ["harness.tasks=[tiny_gen]", "model=reference"])
    message = str(err.value)
    assert "\n" not in message
    assert "tiny_gen" in message and "model=ollama/llama3" in message and "aibench_reference" in message


def test_lm_evals_notes_and_bar_stay_off_the_console(tmp_path, in_tasks_dir):
    """A shipped task (custom_dataset) makes lm-eval log a hint about its CLI's --metadata, and its
    git lookup prints git's "fatal: not a git repository" outside a checkout: neither reaches the user."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-m", "aibench", "harness=lm_eval", "harness.limit=2", "tracking.enabled=false",
         "run.progress=false", f"paths.output_root={tmp_path}"],
        cwd=tmp_path, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "pass@1" in proc.stdout and "1.0000" in proc.stdout
    assert "--metadata" not in proc.stderr and "not a git repository" not in proc.stderr, proc.stderr
    assert "it/s" not in proc.stderr, proc.stderr  # run.progress=false: lm-eval's own bar is off too


# ------------------------------------------------------------------------------ fidelity with lm-eval's hf
@pytest.mark.skipif(not HAS_TORCH, reason="needs torch and transformers: pip install -e '.[hf]'")
def test_hf_adapter_gives_exactly_lm_evals_own_hf_metrics(tmp_path, in_tasks_dir):
    import lm_eval
    from lm_eval.tasks import TaskManager
    from tiny_model import make_tiny_model

    model_dir = make_tiny_model(tmp_path / "tiny")
    tasks = ["tiny_gen", "tiny_ll", "tiny_mc", "tiny_rolling"]
    ref = lm_eval.simple_evaluate(
        model="hf",
        model_args={"pretrained": str(model_dir), "dtype": "float32", "device": "cpu"},
        tasks=tasks,
        batch_size=1,
        task_manager=TaskManager(include_path=str(TASKS), include_defaults=False),
    )
    ours = compose_run(
        tmp_path,
        [
            f"harness.tasks=[{','.join(tasks)}]",
            "harness.log_samples=true",
            "model=hf/base",
            f"model.name={model_dir}",
            "model.batch_size=1",
            "model.cache_dir=null",
            "model.device=cpu",
        ],
    )
    for task in tasks:
        theirs = {k: v for k, v in ref["results"][task].items() if "," in k and v != "N/A"}
        assert metric_values(ours, task) == theirs, task
        mine = read_jsonl(Path(ours["run_dir"]) / f"lm_eval_samples_{task}.jsonl")
        assert [s["filtered_resps"] for s in mine] == json.loads(
            json.dumps([s["filtered_resps"] for s in ref["samples"][task]])
        ), task
    # the generations are the random model's own, not empty strings
    assert any(s["filtered_resps"][0] for s in ref["samples"]["tiny_gen"])


# ------------------------------------------------------------------------------ errors, discovery
def test_unknown_task_names_the_close_ones(tmp_path, in_tasks_dir):
    from aibench.errors import AibenchError

    with pytest.raises(AibenchError, match="unknown lm-eval task tiny_gne \\(did you mean tiny_gen"):
        compose_run(tmp_path, ["harness.tasks=[tiny_gne]"])


def test_offline_hub_dataset_names_the_task_and_the_include_path(tmp_path):
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "aibench",
            "harness=lm_eval",
            "harness.tasks=[aibench_mbpp]",
            "tracking.enabled=false",
            f"paths.output_root={tmp_path}",
            "model=openai/base",
            "model.name=x",
            "model.base_url=http://127.0.0.1:9/v1",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("aibench: error:")]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "aibench_mbpp" in lines[0] and "google-research-datasets/mbpp" in lines[0]
    assert "harness.include_path" in lines[0]


def test_config_discovery_does_not_import_lm_eval_torch_or_datasets():
    code = (
        "import sys; from aibench.components import register_configs; register_configs(); "
        "import aibench.harnesses.lm_eval.harness, aibench.harnesses.lm_eval.adapter; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('lm_eval', 'torch', 'datasets')))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
