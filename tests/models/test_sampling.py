"""The shared layer: per-sample seeds, the temperature-0 warning, the generation cache and
concurrency -- exercised through the Ollama backend and the fake server."""

from __future__ import annotations

import logging

from aibench.models.fakes import FakeOllama
from support import make_requests

from aibench.models.cache import GenerationCache
from aibench.models.ollama import OllamaModel
from aibench.models.sampling import derive_seed


def model(srv, **kw) -> OllamaModel:
    base = {"backoff": 0.001, "retries": 3, "timeout": 5.0}
    base.update(kw)
    return OllamaModel(name=kw.pop("name", "llama3"), host=srv.url, **{k: v for k, v in base.items() if k != "name"})


def test_derived_seeds_are_distinct_stable_and_31_bit():
    seeds = {derive_seed(0, "humaneval", f"HumanEval/{t}", i) for t in range(50) for i in range(20)}
    assert len(seeds) == 1000
    assert all(0 <= s < 2**31 for s in seeds)
    assert derive_seed(0, "humaneval", "HumanEval/1", 3) == derive_seed(0, "humaneval", "HumanEval/1", 3)
    assert derive_seed(1, "humaneval", "HumanEval/1", 3) != derive_seed(0, "humaneval", "HumanEval/1", 3)


def test_temperature_zero_with_several_samples_warns(ollama_server, problems, caplog):
    with caplog.at_level(logging.WARNING, logger="aibench.models.sampling"):
        list(model(ollama_server, cache_dir=None, temperature=0).generate(make_requests(problems[:1], n=3)))
    assert any("temperature=0 with n_samples=3" in r.getMessage() for r in caplog.records)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="aibench.models.sampling"):
        list(model(ollama_server, cache_dir=None, temperature=0).generate(make_requests(problems[:1], n=1)))
        list(model(ollama_server, cache_dir=None, temperature=0.8).generate(make_requests(problems[:1], n=3)))
    assert not [r for r in caplog.records if "temperature=0" in r.getMessage()]


def test_cache_rerun_makes_zero_requests(ollama_server, problems, tmp_path):
    reqs = make_requests(problems[:3], n=2)
    first = {c.request.key: c for c in model(ollama_server, cache_dir=str(tmp_path)).generate(reqs)}
    assert len(ollama_server.generation_requests()) == 6
    ollama_server.reset()
    m = model(ollama_server, cache_dir=str(tmp_path))
    again = {c.request.key: c for c in m.generate(reqs)}
    assert ollama_server.generation_requests() == []
    assert m.stats["cached"] == 6 and m.stats["requests"] == 0
    for k, c in again.items():
        assert c.text == first[k].text and c.finish_reason == first[k].finish_reason
        assert c.usage["cached"] is True and c.usage["completion_tokens"] == first[k].usage["completion_tokens"]


def test_raising_n_samples_requests_only_new_indices(ollama_server, problems, tmp_path):
    list(model(ollama_server, cache_dir=str(tmp_path)).generate(make_requests(problems[:3], n=1)))
    ollama_server.reset()
    out = list(model(ollama_server, cache_dir=str(tmp_path)).generate(make_requests(problems[:3], n=10)))
    assert len(out) == 30
    sent = ollama_server.generation_requests()
    assert len(sent) == 27  # 9 new per task
    assert sum(c.usage["cached"] for c in out) == 3


def test_any_sampling_change_misses_the_cache(ollama_server, problems, tmp_path):
    reqs = make_requests(problems[:2])
    list(model(ollama_server, cache_dir=str(tmp_path)).generate(reqs))
    for change in (
        {"temperature": 0.7},
        {"top_p": 0.5},
        {"top_k": 5},
        {"max_tokens": 100},
        {"seed": 9},
        {"num_ctx": 2048},
        {"chat": True},
        {"stop": ["\n\n"]},
        {"name": "llama3:latest"},
    ):
        ollama_server.reset()
        list(model(ollama_server, cache_dir=str(tmp_path), **change).generate(reqs))
        assert len(ollama_server.generation_requests()) == 2, change
    ollama_server.reset()  # but concurrency or the host do not matter
    list(model(ollama_server, cache_dir=str(tmp_path), concurrency=1).generate(reqs))
    assert ollama_server.generation_requests() == []


def test_a_new_model_digest_invalidates_the_cache(problems, tmp_path):
    reqs = make_requests(problems[:1])
    with FakeOllama() as srv:
        list(model(srv, cache_dir=str(tmp_path)).generate(reqs))
    with FakeOllama(models={"llama3:latest": "f" * 64}) as srv:  # re-pulled: other weights
        list(model(srv, cache_dir=str(tmp_path)).generate(reqs))
        assert len(srv.generation_requests()) == 1


def test_failed_samples_are_not_cached(ollama_server, problems, tmp_path):
    ollama_server.inject("400")
    out = list(model(ollama_server, cache_dir=str(tmp_path), concurrency=1).generate(make_requests(problems[:1])))
    assert out[0].error
    assert len(GenerationCache(tmp_path)) == 0
    out = list(model(ollama_server, cache_dir=str(tmp_path)).generate(make_requests(problems[:1])))
    assert out[0].error is None and len(GenerationCache(tmp_path)) == 1


def test_concurrency_bounds_requests_in_flight(problems):
    with FakeOllama(latency=0.05) as srv:
        list(model(srv, cache_dir=None, concurrency=4).generate(make_requests(problems, n=4)))
        assert srv.max_in_flight == 4
        srv.reset()
        list(model(srv, cache_dir=None, concurrency=1).generate(make_requests(problems[:2], n=2)))
        assert srv.max_in_flight == 1


def test_completions_stream_out_as_they_finish(problems):
    """The consumer gets the first completion before the last request is even sent."""
    with FakeOllama(latency=0.02) as srv:
        gen = model(srv, cache_dir=None, concurrency=2).generate(make_requests(problems, n=5))
        next(gen)
        assert len(srv.generation_requests()) < 30
        rest = list(gen)
        assert len(rest) == 29
