"""OpenAICompatModel against the fake OpenAI-compatible server."""

from __future__ import annotations

import pytest
from aibench.models.fakes import FakeOpenAI
from support import humaneval_problems, make_requests

from aibench.errors import AibenchError
from aibench.models.openai_compat import OpenAICompatModel
from aibench.types import CompletionKind


def model(srv, **kw) -> OpenAICompatModel:
    base = {"backoff": 0.001, "retries": 3, "cache_dir": None, "timeout": 5.0, "api_key_env": None}
    base.update(kw)
    return OpenAICompatModel(
        name=kw.pop("name", "gpt-test"), base_url=srv.url + "/v1", **{k: v for k, v in base.items() if k != "name"}
    )


@pytest.mark.parametrize("stream", [False, True])
def test_completions_endpoint_body_and_parse(openai_server, problems, stream):
    m = model(openai_server, stream=stream, top_k=10, max_stop=4, seed=3, extra_body={"min_p": 0.05})
    m.check()
    out = list(m.generate(make_requests(problems[:2], n=2)))
    assert len(out) == 4 and all(c.error is None for c in out)
    assert all(c.kind is CompletionKind.COMPLETION and c.finish_reason == "stop" for c in out)
    c = next(c for c in out if c.request.problem.task_id == "HumanEval/0")
    assert (problems[0].prompt + c.text).startswith(problems[0].canonical_solution.rstrip())
    assert c.usage["prompt_tokens"] > 0 and c.usage["completion_tokens"] > 0
    sent = openai_server.generation_requests()
    assert len(sent) == 4 and {r["path"] for r in sent} == {"/v1/completions"}
    # requests run concurrently: find the first problem's, whatever order they arrived in
    body = next(r["body"] for r in sent if r["body"]["prompt"] == problems[0].prompt)
    assert body["model"] == "gpt-test"
    assert body["stop"] == ["\nclass", "\ndef", "\n#", "\n@"]  # max_stop
    assert body["top_k"] == 10 and body["min_p"] == 0.05 and body["max_tokens"] == 512
    assert len({r["body"]["seed"] for r in sent}) == 4
    if stream:
        assert body["stream"] is True and body["stream_options"] == {"include_usage": True}


@pytest.mark.parametrize("stream", [False, True])
def test_chat_endpoint(openai_server, problems, stream):
    out = list(model(openai_server, chat=True, stream=stream).generate(make_requests(problems[:1])))
    assert out[0].kind is CompletionKind.CHAT and "```python" in out[0].text
    body = openai_server.generation_requests()[0]["body"]
    assert openai_server.generation_requests()[0]["path"] == "/v1/chat/completions"
    assert body["messages"][0]["role"] == "system" and "stop" not in body


def test_n_samples_per_request(openai_server, problems):
    m = model(openai_server, samples_per_request=4)
    out = list(m.generate(make_requests(problems[:2], n=6)))
    assert sorted(c.request.key for c in out) == sorted(r.key for r in make_requests(problems[:2], n=6))
    sent = openai_server.generation_requests()
    assert sorted(r["body"].get("n", 1) for r in sent) == [2, 2, 4, 4]


def test_server_ignoring_n_is_asked_again():
    with FakeOpenAI(supports_n=False) as srv:  # like Ollama's /v1 and llama.cpp
        out = list(model(srv, samples_per_request=3).generate(make_requests(humaneval_problems(1), n=3)))
        assert len(out) == 3 and all(c.error is None for c in out)
        assert [r["body"].get("n", 1) for r in srv.generation_requests()] == [3, 2, 1]


def test_api_key_from_env_and_bad_key(monkeypatch, problems):
    with FakeOpenAI(api_key="sk-good") as srv:
        monkeypatch.setenv("MY_KEY", "sk-good")
        m = model(srv, api_key_env="MY_KEY")
        m.check()
        list(m.generate(make_requests(problems[:1])))
        assert srv.generation_requests()[0]["headers"]["Authorization"] == "Bearer sk-good"
        monkeypatch.setenv("MY_KEY", "sk-bad")
        with pytest.raises(AibenchError) as e:
            model(srv, api_key_env="MY_KEY").check()
        assert "rejected the API key (HTTP 401" in str(e.value) and "$MY_KEY" in str(e.value)
        monkeypatch.delenv("MY_KEY")
        with pytest.raises(AibenchError, match=r"\$MY_KEY is not set"):
            model(srv, api_key_env="MY_KEY").check()


def test_unknown_model_and_unreachable_server(openai_server):
    with pytest.raises(AibenchError, match=r"model 'nope' is not served by .* \(available: gpt-test\)"):
        model(openai_server, name="nope").check()
    srv = FakeOpenAI().start()
    url = srv.url
    srv.stop()
    with pytest.raises(AibenchError, match="cannot reach the OpenAI-compatible server at"):
        OpenAICompatModel(name="m", base_url=url + "/v1", cache_dir=None).check()


@pytest.mark.parametrize(
    "fault,stream",
    [
        ("429", False),
        ("500", False),
        ("drop", False),
        ("truncate", False),
        ("truncate", True),
        ("midstream_error", True),
    ],
)
def test_transient_failures_are_retried(openai_server, problems, fault, stream):
    openai_server.inject(fault, times=2)
    out = list(model(openai_server, stream=stream, concurrency=1).generate(make_requests(problems[:1])))
    assert out[0].error is None and out[0].text
    assert len(openai_server.generation_requests()) == 3


def test_malformed_body_is_fatal(openai_server, problems):
    openai_server.inject("malformed")
    with pytest.raises(AibenchError, match="malformed response .* no 'choices' list"):
        list(model(openai_server).generate(make_requests(problems[:1])))


def test_openai_error_shape_becomes_the_sample_error(openai_server, problems):
    openai_server.inject("400")
    out = list(model(openai_server).generate(make_requests(problems[:1])))
    assert out[0].error == "HTTP 400: injected 400"


def test_length_finish_reason(openai_server, problems):
    out = list(model(openai_server, max_tokens=3).generate(make_requests(problems[:1])))
    assert out[0].finish_reason == "length"
