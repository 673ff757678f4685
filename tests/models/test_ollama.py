"""OllamaModel against the fake Ollama server: requests as sent, responses as parsed, errors."""

from __future__ import annotations

import pytest
from aibench.models.fakes import DIGEST, FakeOllama
from support import make_requests

from aibench.errors import AibenchError
from aibench.models.ollama import OllamaModel, resolve_host
from aibench.types import CompletionKind


def model(srv, **kw) -> OllamaModel:
    base = {"backoff": 0.001, "retries": 3, "cache_dir": None, "timeout": 5.0}
    base.update(kw)
    return OllamaModel(name="llama3", host=srv.url, **base)


def by_key(completions):
    return {c.request.key: c for c in completions}


def test_raw_completion_requests_carry_options_and_per_sample_seeds(ollama_server, problems):
    m = model(ollama_server, num_ctx=8192, temperature=0.4, top_k=20, max_tokens=300, seed=7)
    reqs = make_requests(problems[:3], n=4)
    out = by_key(m.generate(reqs))
    assert len(out) == 12 and all(c.error is None for c in out.values())
    sent = ollama_server.generation_requests()
    assert len(sent) == 12
    for r in sent:
        body = r["body"]
        assert r["path"] == "/api/generate"
        assert body["raw"] is True and body["model"] == "llama3"
        assert "template" not in body and "system" not in body
        opts = body["options"]
        assert opts["num_ctx"] == 8192 and opts["num_predict"] == 300
        assert opts["temperature"] == 0.4 and opts["top_p"] == 0.95 and opts["top_k"] == 20
        assert opts["stop"][:2] == ["\nclass", "\ndef"]
    seeds = [r["body"]["options"]["seed"] for r in sent]
    assert len(set(seeds)) == 12  # never one fixed seed for all n samples
    # the prompt is continued as sent: prompt + text is the canonical program
    c = out[("humaneval", "HumanEval/0", 0)]
    assert c.kind is CompletionKind.COMPLETION
    assert (problems[0].prompt + c.text).startswith(problems[0].canonical_solution.rstrip())
    assert c.finish_reason == "stop"
    assert c.usage["prompt_tokens"] > 0 and c.usage["completion_tokens"] > 0
    assert c.usage["latency_s"] >= 0 and c.usage["cached"] is False


def test_seeds_are_stable_across_runs_and_none_sends_no_seed(ollama_server, problems):
    reqs = make_requests(problems[:2], n=2)
    list(model(ollama_server, seed=1).generate(reqs))
    first = sorted(r["body"]["options"]["seed"] for r in ollama_server.generation_requests())
    ollama_server.reset()
    list(model(ollama_server, seed=1).generate(reqs))
    again = sorted(r["body"]["options"]["seed"] for r in ollama_server.generation_requests())
    assert first == again
    ollama_server.reset()
    list(model(ollama_server, seed=None).generate(reqs))
    assert all("seed" not in r["body"]["options"] for r in ollama_server.generation_requests())


@pytest.mark.parametrize("stream", [True, False])
def test_chat_mode_uses_api_chat_template_and_no_task_stop_words(ollama_server, problems, stream):
    m = model(
        ollama_server,
        chat=True,
        stream=stream,
        stop=["<|eot_id|>"],
        system_prompt="SYS",
        user_template="Solve in {language}:\n{prompt}",
    )
    out = list(m.generate(make_requests(problems[:2])))
    assert all(c.kind is CompletionKind.CHAT and c.error is None for c in out)
    assert all("```python" in c.text for c in out)
    for r in ollama_server.generation_requests():
        body = r["body"]
        assert r["path"] == "/api/chat" and body["stream"] is stream
        assert "raw" not in body
        assert body["messages"][0] == {"role": "system", "content": "SYS"}
        assert body["messages"][1]["content"].startswith("Solve in python:\nfrom typing import List")
        assert body["options"]["stop"] == ["<|eot_id|>"]  # never "\ndef" & co in chat mode
        assert body["options"]["num_ctx"] == 4096


def test_non_streaming_body_is_parsed(ollama_server, problems):
    out = list(model(ollama_server, stream=False).generate(make_requests(problems[:1])))
    assert out[0].error is None and "enumerate(numbers)" in out[0].text
    assert ollama_server.generation_requests()[0]["body"]["stream"] is False


def test_token_limit_gives_finish_reason_length(ollama_server, problems):
    out = list(model(ollama_server, max_tokens=5).generate(make_requests(problems[:1])))
    assert out[0].finish_reason == "length"
    assert out[0].usage["completion_tokens"] == 5


def test_check_records_version_digest_and_context(ollama_server):
    m = model(ollama_server)
    m.check()
    d = m.describe()
    assert d["server_version"] == "0.12.11"
    assert d["model_digest"] == DIGEST
    assert d["num_ctx"] == 4096 and d["model_context_length"] == 8192
    assert d["params"]["temperature"] == 0.2
    assert m.params()["num_ctx"] == 4096 and m.name == "ollama/llama3"


def test_check_fails_fast_when_server_unreachable():
    srv = FakeOllama().start()
    url = srv.url
    srv.stop()
    with pytest.raises(AibenchError) as e:
        OllamaModel(name="llama3", host=url, backoff=0.001, cache_dir=None).check()
    assert str(e.value) == f"cannot reach Ollama at {url}: is `ollama serve` running?"


def test_check_names_the_pull_command_for_a_missing_model(ollama_server):
    with pytest.raises(AibenchError) as e:
        OllamaModel(name="codellama", host=ollama_server.url, cache_dir=None).check()
    assert str(e.value) == "model 'codellama' is not available on this server: run `ollama pull codellama`"
    # a tag is matched as given, "name" as "name:latest"
    OllamaModel(name="llama3:latest", host=ollama_server.url, cache_dir=None).check()


def test_check_rejects_a_server_that_is_not_ollama(openai_server):
    with pytest.raises(AibenchError, match="does not answer like an Ollama server"):
        OllamaModel(name="llama3", host=openai_server.url, cache_dir=None).check()


@pytest.mark.parametrize("fault", ["500", "503", "429", "drop", "truncate", "midstream_error"])
def test_transient_failures_are_retried(ollama_server, problems, fault):
    ollama_server.inject(fault, times=2)
    m = model(ollama_server, concurrency=1)
    out = list(m.generate(make_requests(problems[:2])))
    assert [c.error for c in out] == [None, None]
    assert all(c.text for c in out)
    assert len(ollama_server.generation_requests()) == 4  # 2 failures + 2 successes


def test_truncated_non_streaming_body_is_retried(ollama_server, problems):
    ollama_server.inject("truncate")
    out = list(model(ollama_server, stream=False).generate(make_requests(problems[:1])))
    assert out[0].error is None and len(ollama_server.generation_requests()) == 2


def test_retries_exhausted_stop_the_run_after_yielding_finished_samples(ollama_server, problems):
    m = model(ollama_server, concurrency=1, retries=2)
    reqs = make_requests(problems[:3])
    got = []
    gen = m.generate(reqs)
    got.append(next(gen))  # first sample done
    ollama_server.inject("500", times=50)
    with pytest.raises(AibenchError) as e:
        for c in gen:
            got.append(c)
    msg = str(e.value)
    assert "\n" not in msg and "after 2 retries" in msg and "HTTP 500" in msg
    assert got[0].error is None


def test_bad_request_is_a_per_sample_error(ollama_server, problems):
    ollama_server.inject("400")
    out = by_key(model(ollama_server, concurrency=1).generate(make_requests(problems[:2])))
    errors = [c for c in out.values() if c.error]
    assert len(errors) == 1 and errors[0].error == "HTTP 400: bad request" and errors[0].text == ""
    assert len(out) == 2


def test_model_deleted_mid_run_is_fatal(ollama_server, problems):
    m = model(ollama_server)
    m.check()
    ollama_server.models.clear()
    with pytest.raises(AibenchError, match=r"run `ollama pull llama3`"):
        list(m.generate(make_requests(problems[:1])))


def test_malformed_response_is_fatal_one_line(ollama_server, problems):
    ollama_server.inject("malformed")
    with pytest.raises(AibenchError) as e:
        list(model(ollama_server, stream=False).generate(make_requests(problems[:1])))
    assert "malformed response" in str(e.value) and "\n" not in str(e.value)


def test_host_resolution(monkeypatch):
    monkeypatch.delenv("OLLAMA_HOST", raising=False)
    assert resolve_host(None) == "http://localhost:11434"
    monkeypatch.setenv("OLLAMA_HOST", "0.0.0.0:11500")
    assert resolve_host(None) == "http://127.0.0.1:11500"
    assert resolve_host("http://gpu-box:11434") == "http://gpu-box:11434"  # model.host wins
    monkeypatch.setenv("OLLAMA_HOST", "https://ollama.example.org/proxy")
    assert resolve_host(None) == "https://ollama.example.org:443/proxy"
    assert resolve_host("gpu-box") == "http://gpu-box:11434"
