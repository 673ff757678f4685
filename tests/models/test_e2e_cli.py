"""End to end: ``python -m aibench model=ollama/... model.host=<fake server>`` as a subprocess,
checking pass@k in metrics.json, what the server saw, retries, the cache and resume."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest
from aibench.models.fakes import FakeOllama, FakeOpenAI
from support import aibench_cli

from aibench.outputs import read_jsonl

REPO = Path(__file__).resolve().parents[2]
DIGEST = "a" * 64


def aibench(tmp: Path, *args: str, run: str = "run", wait: bool = True, extra_env=None):
    return aibench_cli(tmp, *args, "model.backoff=0.01", run=run, env=extra_env, timeout=300, wait=wait)


def metrics(tmp: Path, run: str = "run") -> dict:
    return json.loads((tmp / run / "metrics.json").read_text())["tasks"]["humaneval"]


def results(tmp: Path, run: str = "run") -> list[dict]:
    return list(read_jsonl(tmp / run / "results.jsonl"))


@pytest.fixture
def server():
    with FakeOllama(models={"llama3:latest": DIGEST, "codellama:latest": DIGEST}) as srv:
        yield srv


def test_chat_model_end_to_end_with_retries_and_cache(server, tmp_path):
    server.answers.wrong.add("HumanEval/1")
    server.inject("500", times=2)
    r = aibench(tmp_path, "model=ollama/llama3", f"model.host={server.url}", "run.limit=3", "run.n_samples=2")
    assert r.returncode == 0, r.stderr
    m = metrics(tmp_path)
    assert m["pass@k"]["pass@1"] == pytest.approx(2 / 3)
    assert m["per_problem"]["HumanEval/1"]["c"] == 0 and m["per_problem"]["HumanEval/0"]["c"] == 2
    sent = server.generation_requests()
    assert len(sent) == 6 + 2  # 3 problems x 2 samples, plus the 2 failed attempts
    assert {s["path"] for s in sent} == {"/api/chat"}
    ok = sent[2:]
    assert len({s["body"]["options"]["seed"] for s in ok}) == 6
    assert all(s["body"]["options"]["num_ctx"] == 4096 and "stop" not in s["body"]["options"] for s in ok)
    manifest = json.loads((tmp_path / "run" / "run_manifest.json").read_text())
    assert manifest["model"]["server_version"] == "0.12.11" and manifest["model"]["model_digest"] == DIGEST

    server.reset()  # a rerun of the same config into a new run dir: answered from the cache
    r = aibench(
        tmp_path, "model=ollama/llama3", f"model.host={server.url}", "run.limit=3", "run.n_samples=2", run="rerun"
    )
    assert r.returncode == 0, r.stderr
    assert server.generation_requests() == []
    assert metrics(tmp_path, "rerun")["pass@k"] == m["pass@k"]


def test_raw_completion_model_stop_words_truncation_and_more_samples(server, tmp_path):
    r = aibench(
        tmp_path,
        "model=ollama/codellama",
        f"model.host={server.url}",
        "run.limit=2",
        "run.n_samples=1",
        "model.num_ctx=8192",
    )
    assert r.returncode == 0, r.stderr
    assert metrics(tmp_path)["pass@k"]["pass@1"] == 1.0
    body = server.generation_requests()[0]["body"]
    assert server.generation_requests()[0]["path"] == "/api/generate"
    assert body["raw"] is True and body["options"]["num_ctx"] == 8192
    assert "\ndef" in body["options"]["stop"] and "\nif" in body["options"]["stop"]

    server.reset()  # n_samples 1 -> 3: only the 2 new samples per task are requested
    r = aibench(
        tmp_path,
        "model=ollama/codellama",
        f"model.host={server.url}",
        "run.limit=2",
        "run.n_samples=3",
        "model.num_ctx=8192",
        run="more",
    )
    assert r.returncode == 0, r.stderr
    assert len(server.generation_requests()) == 4

    r = aibench(
        tmp_path,
        "model=ollama/codellama",
        f"model.host={server.url}",
        "run.limit=1",
        "model.max_tokens=5",
        "model.cache_dir=null",
        run="short",
    )
    assert r.returncode == 0, r.stderr
    rows = results(tmp_path, "short")
    assert [row["status"] for row in rows] == ["generation_truncated"]


def test_unreachable_server_and_missing_model_are_one_line_errors(server, tmp_path):
    dead = FakeOllama().start()
    url = dead.url
    dead.stop()
    r = aibench(tmp_path, "model=ollama/llama3", f"model.host={url}", "run.limit=1")
    assert r.returncode != 0
    assert f"cannot reach Ollama at {url}: is `ollama serve` running?" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    r = aibench(
        tmp_path, "model=ollama/base", "model.name=mistral", f"model.host={server.url}", "run.limit=1", run="missing"
    )
    assert r.returncode != 0
    assert "model 'mistral' is not available on this server: run `ollama pull mistral`" in r.stderr


def test_openai_compatible_server_end_to_end(tmp_path):
    with FakeOpenAI(models=("coder",), api_key="sk-x") as srv:
        r = aibench(
            tmp_path,
            "model=openai/vllm",
            "model.name=coder",
            f"model.base_url={srv.url}/v1",
            "run.limit=2",
            "run.n_samples=3",
            "model.samples_per_request=3",
            extra_env={"VLLM_API_KEY": "sk-x"},
        )
        assert r.returncode == 0, r.stderr
        assert metrics(tmp_path)["pass@k"]["pass@1"] == 1.0
        assert [s["body"]["n"] for s in srv.generation_requests()] == [3, 3]


def test_resume_after_kill_mid_run(tmp_path):
    with FakeOllama(latency=0.05, models={"llama3:latest": DIGEST}) as srv:
        total = 10 * 2
        proc = aibench(
            tmp_path,
            "model=ollama/llama3",
            f"model.host={srv.url}",
            "run.limit=10",
            "run.n_samples=2",
            "model.concurrency=1",
            "model.cache_dir=null",
            wait=False,
        )
        gens = tmp_path / "run" / "generations.jsonl"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if gens.exists() and len(gens.read_text().splitlines()) >= 5:
                break
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
        done = len([ln for ln in gens.read_text().splitlines() if ln.strip()])
        assert 5 <= done < total
        srv.reset()
        r = aibench(
            tmp_path,
            "model=ollama/llama3",
            f"model.host={srv.url}",
            "run.limit=10",
            "run.n_samples=2",
            "model.concurrency=1",
            "model.cache_dir=null",
            "run.resume=true",
        )
        assert r.returncode == 0, r.stderr
        assert len(srv.generation_requests()) <= total - done + 1  # a line may be cut by the kill
        m = metrics(tmp_path)
        assert m["n_samples"] == total and m["pass@k"]["pass@1"] == 1.0


def test_server_failing_mid_run_stops_with_one_line_and_keeps_finished_samples(server, tmp_path):
    server.inject("503", times=1000, after=3)  # the first 3 requests succeed, then only 503s
    r = aibench(
        tmp_path,
        "model=ollama/codellama",
        f"model.host={server.url}",
        "run.limit=6",
        "model.concurrency=1",
        "model.retries=2",
    )
    assert r.returncode != 0
    err = r.stderr.strip().splitlines()
    assert len(err) == 1 and "request failed after 2 retries" in err[0] and "HTTP 503" in err[0], r.stderr
    gens = (tmp_path / "run" / "generations.jsonl").read_text().splitlines()
    assert len(gens) == 3
    assert len(server.generation_requests()) == 3 + 3  # the 4th request: 1 try + 2 retries
