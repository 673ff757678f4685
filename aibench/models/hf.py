"""Local Hugging Face models through transformers ``generate`` (the ``aibench[hf]`` extra).

``name`` is a local directory or a hub id (loaded the usual transformers way; set
``local_files_only: true`` to never touch the network). Requests are run in batches of
``batch_size`` with left padding; sampling uses the shared params (``temperature`` 0 = greedy);
generation of a row stops at the tokenizer's EOS or at the first stop word (a stopping criterion
that decodes only the new tokens), and the returned text is cut at that stop word. With a seed,
each batch is seeded from its first sample's per-sample seed, so with ``batch_size: 1`` every
sample has its own seed exactly as with the remote backends.

torch and transformers are imported only when the model is built.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from typing import Any, Iterator, Optional

from aibench.errors import AibenchError
from aibench.models.sampling import SamplingConfig, SamplingModel
from aibench.registry import register, transport
from aibench.types import Completion, GenerationRequest

log = logging.getLogger(__name__)


@dataclass
class HFConfig(SamplingConfig):
    device: str = "auto"  # "cpu", "cuda", "cuda:1", "mps" or "auto" (cuda if available)
    dtype: str = "auto"  # "float32", "bfloat16", "float16" or "auto" (fp32 on cpu, bf16 on gpu)
    batch_size: int = 8  # sequences per generate() call
    concurrency: int = transport(1)  # batches in flight (one model: keep 1)
    trust_remote_code: bool = False
    local_files_only: bool = False  # true: never download, the model must be on disk
    revision: Optional[str] = None


def _stopping_criteria_class():
    from transformers import StoppingCriteria

    class StopOnWords(StoppingCriteria):
        """Per-row: done once the decoded new tokens contain any stop word."""

        def __init__(self, tokenizer, prompt_len: int, stops: list[list[str]]):
            self.tokenizer = tokenizer
            self.prompt_len = prompt_len
            self.stops = stops

        def __call__(self, input_ids, scores, **kwargs):
            import torch

            new = input_ids[:, self.prompt_len :]
            texts = self.tokenizer.batch_decode(new, skip_special_tokens=True)
            done = [any(w in t for w in stops) for t, stops in zip(texts, self.stops)]
            return torch.tensor(done, dtype=torch.bool, device=input_ids.device)

    return StopOnWords


def _dtype_kwarg() -> str:
    """``dtype`` since transformers 4.56; ``torch_dtype`` before (and deprecated after)."""
    import transformers

    try:
        major, minor = (int(x) for x in transformers.__version__.split(".")[:2])
    except ValueError:
        return "dtype"
    return "dtype" if (major, minor) >= (4, 56) else "torch_dtype"


def cut_at_first(text: str, words: list[str]) -> tuple[str, bool]:
    pos = min((i for i in (text.find(w) for w in words if w) if i >= 0), default=-1)
    return (text[:pos], True) if pos >= 0 else (text, False)


def _not_a_local_model(name: str) -> str | None:
    """Why ``name``, a local path (a hub id cannot start with / . ~) or an existing directory, is not
    a model directory; None when it is one or names a hub model."""
    local = os.path.expanduser(name)
    if not os.path.isdir(local):
        return "no such directory" if name.startswith(("/", ".", "~")) else None
    return None if os.path.isfile(os.path.join(local, "config.json")) else "no config.json in that directory"


@register("model", "hf", HFConfig)
class HFModel(SamplingModel):
    backend = "hf"

    def __init__(self, cfg: HFConfig | None = None, /, **settings: Any):
        from aibench.config import configure

        cfg = configure(self, cfg, settings)
        super().__init__(cfg)
        self.device_name = cfg.device
        self.dtype_name = cfg.dtype
        self.batch_size = max(1, cfg.batch_size)
        self.trust_remote_code = cfg.trust_remote_code
        self.local_files_only = cfg.local_files_only
        self.revision = cfg.revision
        self._model = None
        self._tok = None
        self.device = None
        self.dtype = None
        if why := _not_a_local_model(self.model):  # said now, before torch is imported (~6 s)
            raise AibenchError(
                f"model.name={self.model}: {why} (a local model is a directory holding config.json "
                "and the weights; a hub model is named org/name)"
            )

    # -- loading --------------------------------------------------------------------------------
    def check(self) -> None:
        try:
            import torch  # noqa: F401
            import transformers  # noqa: F401
        except ImportError as e:
            raise AibenchError(
                f"the hf backend needs torch and transformers ({e.name} is missing): "
                "pip install torch==2.13.0 && pip install -e '.[hf]' (torch first: the CPU build; "
                "a bare torch pulls the CUDA one)"
            ) from None
        self._load()
        self._checked = True

    def _load(self) -> None:
        if self._model is not None:
            return
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        dev = self.device_name
        if dev == "auto":
            dev = "cuda" if torch.cuda.is_available() else "cpu"
        dtype_name = self.dtype_name
        if dtype_name == "auto":
            dtype_name = "float32" if dev == "cpu" else "bfloat16"
        dtype = getattr(torch, dtype_name, None)
        if not isinstance(dtype, torch.dtype):
            raise AibenchError(
                f"model.dtype={self.dtype_name!r} is not a torch dtype (float32, bfloat16, float16, auto)"
            )
        kw = {
            "trust_remote_code": self.trust_remote_code,
            "local_files_only": self.local_files_only,
            "revision": self.revision,
        }
        try:
            tok = AutoTokenizer.from_pretrained(self.model, **kw)
            model = AutoModelForCausalLM.from_pretrained(self.model, **{_dtype_kwarg(): dtype}, **kw)
        except (OSError, ValueError) as e:  # missing files, a tokenizer it cannot build, ...
            raise AibenchError(f"cannot load Hugging Face model '{self.model}': {str(e).splitlines()[0]}") from None
        tok.padding_side = "left"
        if tok.pad_token is None:
            tok.pad_token = tok.eos_token if tok.eos_token is not None else tok.unk_token
        model.to(dev)
        model.eval()
        self._tok, self._model, self.device, self.dtype = tok, model, dev, dtype_name

    # -- generation -----------------------------------------------------------------------------
    def _units(self, misses: list[GenerationRequest]) -> Iterator[list[GenerationRequest]]:
        for i in range(0, len(misses), self.batch_size):
            yield misses[i : i + self.batch_size]

    def prompt_text(self, request: GenerationRequest) -> str:
        if not self.chat:
            return request.prompt
        msgs = self.template.messages(request.problem)
        if getattr(self._tok, "chat_template", None):
            return self._tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
        # no template: a plain transcript, so chat still works with base models
        return "\n\n".join(m["content"] for m in msgs) + "\n\n"

    def gen_kwargs(self) -> dict[str, Any]:
        kw: dict[str, Any] = {"max_new_tokens": self.max_tokens}
        if self.temperature > 0:
            kw.update(
                do_sample=True,
                temperature=self.temperature,
                top_p=1.0 if self.top_p is None else self.top_p,
                top_k=0 if self.top_k is None else self.top_k,
            )
        else:
            kw.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        return kw

    def _run_unit(self, unit: list[GenerationRequest]) -> list[Completion]:
        import torch
        from transformers import StoppingCriteriaList

        self._load()
        started = time.monotonic()
        tok, model = self._tok, self._model
        prompts = [self.prompt_text(r) for r in unit]
        # raw prompts get the tokenizer's special tokens (BOS for Llama-family), as in the BigCode
        # harness; a chat template already contains them
        enc = tok(prompts, return_tensors="pt", padding=True, add_special_tokens=not self.chat).to(self.device)
        prompt_len = enc["input_ids"].shape[1]
        stops = [self.stop_words(r) for r in unit]
        kw = self.gen_kwargs()
        if any(stops):
            kw["stopping_criteria"] = StoppingCriteriaList([_stopping_criteria_class()(tok, prompt_len, stops)])
        seed = self.sample_seed(unit[0])
        if seed is not None:
            torch.manual_seed(seed)
        self.count("requests")
        with torch.inference_mode():
            out = model.generate(**enc, pad_token_id=tok.pad_token_id, **kw)
        new = out[:, prompt_len:]
        out_list = []
        for row, r, words in zip(range(len(unit)), unit, stops):
            ids = new[row]
            n_real = int((ids != tok.pad_token_id).sum()) if tok.pad_token_id is not None else len(ids)
            text = tok.decode(ids, skip_special_tokens=True)
            text, stopped = cut_at_first(text, words)
            hit_eos = tok.eos_token_id is not None and bool((ids == tok.eos_token_id).any())
            reason = "stop" if stopped or hit_eos or n_real < self.max_tokens else "length"
            n_prompt = int(enc["attention_mask"][row].sum())
            out_list.append(self._completion(r, text, reason, n_prompt, n_real, started, batch_size=len(unit)))
        return out_list

    # -- prompt log-probabilities (lm-eval's HFLM semantics: encoding, prefix token, windows) --------
    supports_loglikelihood = True

    def _prefix_token_id(self) -> int:
        tok = self._tok
        return tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id

    def _encode(self, text: str, add_special_tokens: Optional[bool] = None) -> list[int]:
        kw = {} if add_special_tokens is None else {"add_special_tokens": add_special_tokens}
        if add_special_tokens is None and text.startswith(self._tok.decode(self._prefix_token_id())):
            kw = {"add_special_tokens": False}  # already starts with BOS
        return self._tok.encode(text, **kw)

    def max_length(self) -> int:
        cfg = getattr(self._model.config, "text_config", None) or self._model.config
        for attr in ("n_positions", "max_position_embeddings", "n_ctx"):
            if getattr(cfg, attr, None) is not None:
                return int(getattr(cfg, attr))
        n = getattr(self._tok, "model_max_length", None)
        return int(n) if n is not None and n < int(1e30) else 2048

    def _score_tokens(self, context: list[int], continuation: list[int]) -> tuple[float, bool]:
        """One forward pass: log P(continuation | context) and whether it is the greedy choice."""
        import torch
        import torch.nn.functional as F

        inp = (context + continuation)[-(self.max_length() + 1) :][:-1]
        with torch.inference_mode():
            logits = F.log_softmax(self._model(torch.tensor([inp], device=self.device)).logits, dim=-1)[0]
        logits = logits[len(inp) - len(continuation) : len(inp)]
        cont = torch.tensor(continuation, dtype=torch.long, device=self.device)
        greedy = bool((logits.argmax(dim=-1) == cont).all())
        return float(torch.gather(logits, 1, cont.unsqueeze(-1)).squeeze(-1).sum()), greedy

    def loglikelihood(self, requests: list[tuple[str, str]], progress: Any = None) -> list[tuple[float, bool]]:
        if not self._checked:
            self.check()
        out = []
        for context, continuation in requests:
            if context == "":
                cont = self._encode(continuation, add_special_tokens=False)
                prefix = self._prefix_token_id()
                ctx, cont = ([prefix], cont) if prefix != cont[0] else (cont[:1], cont[1:])
            else:
                n_spaces = len(context) - len(context.rstrip())
                if n_spaces:  # trailing spaces belong to the continuation (word-boundary tokens)
                    context, continuation = context[:-n_spaces], context[-n_spaces:] + continuation
                whole, ctx = self._encode(context + continuation), self._encode(context)
                cont = whole[len(ctx) :]
            out.append(self._score_tokens(ctx, cont))
            self.count("requests")
            if progress is not None:
                progress(1)
        return out

    def loglikelihood_rolling(self, texts: list[str], progress: Any = None) -> list[float]:
        """Rolling windows of the model's context length, each token predicted once, the first
        from the prefix token (lm-eval's ``get_rolling_token_windows`` with context_len=1)."""
        if not self._checked:
            self.check()
        max_len = self.max_length()
        out = []
        for text in texts:
            tokens = self._encode(text)
            total, predicted = 0.0, 0
            windows: list[tuple[list[int], list[int]]] = []
            if tokens:
                first = min(max_len, len(tokens))
                windows.append(([self._prefix_token_id()] + tokens[: first - 1], tokens[:first]))
                predicted = first
            while predicted < len(tokens):
                end = predicted + min(len(tokens) - predicted, max_len)
                windows.append((tokens[end - max_len - 1 : end - 1], tokens[predicted:end]))
                predicted = end
            for inp, pred in windows:  # disjoint: the context stops where the scored tokens begin
                total += self._score_tokens(inp[: len(inp) - (len(pred) - 1)], pred)[0]
            out.append(total)
            self.count("requests")
            if progress is not None:
                progress(1)
        return out

    # -- manifest -------------------------------------------------------------------------------
    def _extra_params(self) -> dict[str, Any]:
        return {"batch_size": self.batch_size, "dtype": self.dtype_name, "revision": self.revision}

    def _describe_server(self) -> dict[str, Any]:
        d: dict[str, Any] = {"device": self.device, "dtype": self.dtype}
        try:
            import torch
            import transformers

            d.update(torch=torch.__version__, transformers=transformers.__version__)
        except ImportError:
            pass
        if self._model is not None:
            d["model_class"] = type(self._model).__name__
            d["n_parameters"] = sum(p.numel() for p in self._model.parameters())
            d["commit_hash"] = getattr(self._model.config, "_commit_hash", None)
        return d

    def close(self) -> None:
        self._model = None
        self._tok = None
        super().close()
