"""HFModel with a tiny random-weights GPT-2 and a byte-level BPE tokenizer built in the test
(nothing is downloaded)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from support import requires
from support import humaneval_problems, make_requests

from aibench.models.hf import HFModel
from aibench.types import CompletionKind

HF_AVAILABLE = all(importlib.util.find_spec(m) is not None for m in ("torch", "transformers", "tokenizers"))
pytestmark = requires("hf", HF_AVAILABLE, how="pip install torch==2.13.0 && pip install -e '.[hf]'")


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    path = tmp_path_factory.mktemp("tiny-gpt2")
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400, special_tokens=["<|endoftext|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator([p.prompt for p in humaneval_problems(40)], trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>", pad_token="<|endoftext|>")
    fast.save_pretrained(path)
    import torch

    torch.manual_seed(0)
    config = GPT2Config(
        vocab_size=len(fast),
        n_positions=1024,
        n_embd=32,
        n_layer=2,
        n_head=2,
        bos_token_id=fast.eos_token_id,
        eos_token_id=fast.eos_token_id,
    )
    GPT2LMHeadModel(config).save_pretrained(path)
    return str(path)


def hf(path, **kw) -> HFModel:
    base = {"device": "cpu", "cache_dir": None, "max_tokens": 12, "local_files_only": True}
    base.update(kw)
    return HFModel(name=path, **base)


def test_greedy_batched_generation_matches_unbatched(tiny_model_dir, problems):
    reqs = make_requests(problems[:4])
    batched = {
        c.request.key: c for c in hf(tiny_model_dir, temperature=0, batch_size=4, use_stop_words=False).generate(reqs)
    }
    single = {
        c.request.key: c for c in hf(tiny_model_dir, temperature=0, batch_size=1, use_stop_words=False).generate(reqs)
    }
    assert len(batched) == 4
    for k, c in batched.items():
        assert c.error is None and c.kind is CompletionKind.COMPLETION
        assert c.text == single[k].text  # left padding does not change greedy output
        assert c.usage["completion_tokens"] <= 12 and c.usage["prompt_tokens"] > 0


def test_stop_words_stop_generation_and_cut_the_text(tiny_model_dir, problems):
    req = make_requests(problems[:1])
    free = next(iter(hf(tiny_model_dir, temperature=0, max_tokens=30, use_stop_words=False).generate(req)))
    assert free.finish_reason == "length" and len(free.text) > 6
    stop = free.text[4:7]  # a string the model is known to produce
    out = next(iter(hf(tiny_model_dir, temperature=0, max_tokens=30, use_stop_words=False, stop=[stop]).generate(req)))
    assert out.finish_reason == "stop"
    assert out.text == free.text[: free.text.find(stop)]
    assert out.usage["completion_tokens"] < 30


def test_sampling_seeds_and_params(tiny_model_dir, problems):
    m = hf(tiny_model_dir, temperature=1.0, top_p=0.9, top_k=50, batch_size=1, use_stop_words=False)
    assert m.gen_kwargs() == {"max_new_tokens": 12, "do_sample": True, "temperature": 1.0, "top_p": 0.9, "top_k": 50}
    reqs = make_requests(problems[:1], n=4)
    a = [c.text for c in sorted(m.generate(reqs), key=lambda c: c.request.sample_index)]
    b = [
        c.text
        for c in sorted(
            hf(tiny_model_dir, temperature=1.0, top_p=0.9, top_k=50, batch_size=1, use_stop_words=False).generate(reqs),
            key=lambda c: c.request.sample_index,
        )
    ]
    assert a == b  # same per-sample seeds, same samples
    assert len(set(a)) > 1  # and the samples differ from each other
    c = [
        c.text
        for c in sorted(
            hf(
                tiny_model_dir, temperature=1.0, top_p=0.9, top_k=50, batch_size=1, seed=123, use_stop_words=False
            ).generate(reqs),
            key=lambda c: c.request.sample_index,
        )
    ]
    assert c != a


def test_chat_mode_without_a_template_and_describe(tiny_model_dir, problems):
    m = hf(tiny_model_dir, chat=True, temperature=0)
    m.check()
    out = list(m.generate(make_requests(problems[:1])))
    assert out[0].kind is CompletionKind.CHAT and out[0].error is None
    d = m.describe()
    assert d["device"] == "cpu" and d["dtype"] == "float32" and d["n_parameters"] > 0
    assert m.params()["batch_size"] == 8


def test_cache_and_missing_model(tiny_model_dir, problems, tmp_path):
    reqs = make_requests(problems[:2])
    m = hf(tiny_model_dir, temperature=0, cache_dir=str(tmp_path))
    list(m.generate(reqs))
    m2 = hf(tiny_model_dir, temperature=0, cache_dir=str(tmp_path))
    out = list(m2.generate(reqs))
    assert all(c.usage["cached"] for c in out) and m2.stats["requests"] == 0
    from aibench.errors import AibenchError

    with pytest.raises(AibenchError, match="no such directory"):
        hf(str(tmp_path / "nope"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(AibenchError, match="no config.json in that directory"):
        hf(str(tmp_path / "empty"))
    broken = tmp_path / "broken"  # a config but no tokenizer: transformers' ValueError, one line
    broken.mkdir()
    (broken / "config.json").write_text((Path(tiny_model_dir) / "config.json").read_text())
    with pytest.raises(AibenchError, match="cannot load Hugging Face model"):
        hf(str(broken)).check()
