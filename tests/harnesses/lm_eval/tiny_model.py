"""A tiny causal LM made on the spot (no download): a byte-level BPE tokenizer trained on a few
sentences and a 2-layer GPT-2 with random weights (seeded), saved as a local HF model dir."""

from __future__ import annotations

from pathlib import Path

CORPUS = [
    "Q: What is the capital of France?\nA: Paris",
    "The quick brown fox jumps over the lazy dog.",
    "A journey of a thousand miles begins with a single step.",
    "Question: Which is a fruit?\nAnswer: apple chair river bird water green",
    "The cat sat on the mat. One, two, three, four, five. Hot and cold. Celsius.",
]


def make_tiny_model(path: Path, seed: int = 0, n_positions: int = 64) -> Path:
    """``path`` holds the tokenizer and model; ``n_positions`` small enough that rolling
    log-likelihood needs several windows."""
    import torch
    from tokenizers import ByteLevelBPETokenizer
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(CORPUS * 4, vocab_size=400, min_frequency=1, special_tokens=["<|endoftext|>"])
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token="<|endoftext|>", eos_token="<|endoftext|>")
    eos = tok.convert_tokens_to_ids("<|endoftext|>")
    config = GPT2Config(
        vocab_size=len(tok), n_positions=n_positions, n_embd=32, n_layer=2, n_head=2, bos_token_id=eos, eos_token_id=eos
    )
    torch.manual_seed(seed)
    model = GPT2LMHeadModel(config)
    path.mkdir(parents=True, exist_ok=True)
    tok.save_pretrained(path)
    model.save_pretrained(path)
    return path
