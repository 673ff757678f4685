"""An lm-eval ``LM`` over any aibench :class:`~aibench.models.base.Model` (registered as ``aibench``).

* ``generate_until``: each request becomes an aibench GenerationRequest (task = lm-eval task,
  task_id = document id, sample_index = which of the task's ``repeats``), so the backend's
  concurrency, retries, per-sample seeds and generation cache apply. The task's generation kwargs
  rule, with lm-eval's defaults: ``temperature`` 0 unless given (and 0 whenever ``do_sample`` is
  false), ``max_gen_toks`` 256, ``top_p``/``top_k`` only when given, ``until`` sent as stop strings
  and cut client-side (the first occurrence of each, as lm-eval's models do). Other keys go to the
  server as they are (OpenAI ``extra_body``, Ollama ``options``).
* ``loglikelihood`` / ``loglikelihood_rolling``: the backend's prompt log-probabilities
  (:meth:`Model.loglikelihood`); the harness refuses such tasks up front for a backend without them.
* Chat: with ``apply_chat_template`` the few-shot chat history goes to the backend as messages
  (``/api/chat``, ``/chat/completions``); a Hugging Face backend renders it with its tokenizer's
  template, as lm-eval's ``hf`` model does.

Every answer is appended to the run dir's ``generations.jsonl`` (replayable with
``model=replay``); ``run.resume=true`` answers from it instead of asking again.

lm-eval is imported only by :func:`adapter_class`.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from functools import cache
from typing import Any

from aibench.types import Completion, CompletionKind, GenerationRequest, Problem

log = logging.getLogger(__name__)

DEFAULT_MAX_GEN_TOKS = 256  # lm-eval's models (hf, local-completions)
SAMPLING_KEYS = {"until", "max_gen_toks", "max_tokens", "do_sample", "temperature", "top_p", "top_k", "seed"}


class MessagesTemplate:
    """Chat messages exactly as lm-eval built them (JSON in the prompt), or the prompt as one user turn."""

    system = None
    user = "{prompt}"

    def messages(self, problem: Problem) -> list[dict[str, str]]:
        if problem.metadata.get("messages"):
            return json.loads(problem.prompt)
        return [{"role": "user", "content": problem.prompt}]


def cut_at_until(text: str, until: list[str]) -> str:
    for term in until:
        if term:
            text = text.split(term)[0]
    return text


class Bridge:
    """The backend side of the adapter (no lm-eval import): views of the model per generation
    kwargs, the run dir records, counters."""

    def __init__(self, model: Any, out: Any = None, progress: bool = False, resume: bool = False):
        self.model = model
        self.out = out
        self.progress = progress
        self.stats: Counter = Counter()
        self._views: dict[str, Any] = {}
        self.rendered_chat = False  # apply_chat_template was used (prompts are messages)
        self._previous: dict[tuple[str, str, int], dict[str, Any]] = {}
        if out is not None:
            from aibench.outputs import GENERATIONS, RESULTS

            if resume:
                self._previous = {k: r for k, r in out.load(GENERATIONS).items() if r.get("error") is None}
                out.discard(RESULTS)  # scores are recomputed from the generations
            else:
                out.discard(GENERATIONS, RESULTS)

    # -- generation settings --------------------------------------------------------------------
    def view(self, gen_kwargs: dict[str, Any], chat: bool) -> Any:
        """The backend with this request's sampling settings (shares its connections, cache, stats)."""
        key = json.dumps([gen_kwargs, chat], sort_keys=True, default=str)
        if key in self._views:
            return self._views[key]
        do_sample = gen_kwargs.get("do_sample")
        temperature = float(gen_kwargs.get("temperature", 0.0) or 0.0)
        model = self.model.view(
            temperature=0.0 if do_sample is False else temperature,
            top_p=None if gen_kwargs.get("top_p") is None else float(gen_kwargs["top_p"]),
            top_k=None if gen_kwargs.get("top_k") is None else int(gen_kwargs["top_k"]),
            max_tokens=int(gen_kwargs.get("max_gen_toks") or gen_kwargs.get("max_tokens") or DEFAULT_MAX_GEN_TOKS),
            seed=None if gen_kwargs.get("seed") is None else int(gen_kwargs["seed"]),
            stop=[str(u) for u in gen_kwargs.get("until") or []],
            chat=chat,
            template=MessagesTemplate() if chat else None,
            extra={k: v for k, v in gen_kwargs.items() if k not in SAMPLING_KEYS},
        )
        self._views[key] = model
        return model

    def chat_mode(self) -> bool:
        """Send prompts as chat messages: lm-eval rendered a chat history for an API backend, or the
        backend is a chat model (``model.chat=true``) given plain text (one user turn)."""
        if self.rendered_chat:
            return not self.renders_chat_itself()
        return bool(getattr(self.model, "chat", False))

    def renders_chat_itself(self) -> bool:
        return hasattr(self.model, "_tok")  # hf: the tokenizer's chat template makes a plain prompt

    # -- generate_until -------------------------------------------------------------------------
    def generate(self, items: list[tuple[str, str, int, str, dict[str, Any], Any]], bar: Any = None) -> list[str]:
        """``items``: (task, task_id, doc index, context, gen_kwargs, doc) per lm-eval request, repeats
        included; returns the continuation of each, cut at ``until``."""
        chat = self.chat_mode()
        seen: Counter = Counter()
        groups: dict[str, list[tuple[int, GenerationRequest]]] = {}
        views: dict[str, Any] = {}
        answers: list[str | None] = [None] * len(items)
        untils: list[list[str]] = []
        for pos, (task, task_id, index, context, gen_kwargs, doc) in enumerate(items):
            sample_index = seen[(task, task_id)]
            seen[(task, task_id)] += 1
            until = [str(u) for u in gen_kwargs.get("until") or []]
            untils.append(until)
            problem = Problem(
                task=task,
                task_id=task_id,
                index=index,
                prompt=context,
                language="text",
                tests="",
                canonical_solution=reference_program(context, doc),
                metadata={"messages": chat and self.rendered_chat and not self.renders_chat_itself()},
            )
            previous = self._previous.get((task, task_id, sample_index))
            if previous is not None:
                answers[pos] = cut_at_until(previous["completion"], until)
                self.stats["resumed"] += 1
                if bar is not None:
                    bar.update(1)
                continue
            key = json.dumps(gen_kwargs, sort_keys=True, default=str)
            views.setdefault(key, self.view(gen_kwargs, chat))
            groups.setdefault(key, []).append((pos, GenerationRequest(problem, sample_index)))
        for key, reqs in groups.items():
            model = views[key]
            problems = {(r.problem.task, r.problem.task_id): r.problem for _, r in reqs}
            model.prepare(list(problems.values()))  # replay: are these tasks in its file?
            where = {id(r): pos for pos, r in reqs}
            for completion in model.generate([r for _, r in reqs]):
                pos = where[id(completion.request)]
                answers[pos] = self._record(completion, untils[pos])
                if bar is not None:
                    bar.update(1)
        return [a if a is not None else "" for a in answers]

    def _record(self, completion: Completion, until: list[str]) -> str:
        req = completion.request
        text = completion.text
        if completion.kind is CompletionKind.PROGRAM and text.startswith(req.problem.prompt):
            text = text[len(req.problem.prompt) :]  # a whole program (model=reference): its continuation
        text = "" if completion.error is not None else cut_at_until(text, until)
        self.stats["requested"] += 1
        if completion.error is not None:
            self.stats["errors"] += 1
            log.warning(
                "%s: %s %s sample %d failed: %s",
                self.model.name,
                req.problem.task,
                req.problem.task_id,
                req.sample_index,
                completion.error,
            )
        if self.out is not None:
            from aibench.outputs import GENERATIONS

            self.out.append(
                GENERATIONS,
                {
                    "task": req.problem.task,
                    "task_id": req.problem.task_id,
                    "sample_index": req.sample_index,
                    "kind": completion.kind.value if completion.kind is not CompletionKind.PROGRAM else "completion",
                    "completion": completion.text,
                    "output": text,
                    "finish_reason": completion.finish_reason,
                    "error": completion.error,
                    "usage": completion.usage,
                },
            )
        return text


# Fields of a document that hold what completes its prompt into the task's reference program, first
# found wins: a task's own (any task can add it), HumanEval's layout, MBPP's layout
REFERENCE_FIELDS = ("aibench_reference", "canonical_solution", "code")


def reference_program(context: str, doc: Any) -> str | None:
    """The prompt plus the document's reference continuation, for ``model=reference`` (a self-check
    of the lm-eval path like ``harness=bigcode``'s); None when the document has none."""
    if not isinstance(doc, dict):
        return None
    for key in REFERENCE_FIELDS:
        value = doc.get(key)
        if isinstance(value, str) and value.strip():
            return context + value
    return None


def _bar(enabled: bool, total: int, desc: str):
    if not enabled or not total:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="req", dynamic_ncols=True, leave=True)


@cache
def adapter_class() -> type:
    """Define ``AibenchLM`` (an lm-eval ``LM``) and register it with lm-eval's model registry."""
    import lm_eval.models  # noqa: F401  # lm-eval's own (lazy) entries first: it fills an empty registry only
    from lm_eval.api.model import LM
    from lm_eval.api.registry import register_model

    @register_model("aibench")
    class AibenchLM(LM):
        """lm-eval's view of an aibench model: ``AibenchLM(model=<the run's model>)``."""

        def __init__(self, model: Any, out: Any = None, progress: bool = False, resume: bool = False):
            super().__init__()
            self.bridge = Bridge(model, out=out, progress=progress, resume=resume)
            self.aibench_model = model

        # -- lm-eval API ----------------------------------------------------------------------
        def generate_until(self, requests: list[Any], disable_tqdm: bool = False) -> list[str]:
            items = []
            for inst in requests:
                context, gen_kwargs = inst.args
                task, doc_id, _ = inst.metadata
                task_id = str(doc_id) if not inst.idx else f"{doc_id}/{inst.idx}"
                items.append(
                    (
                        task or "lm_eval",
                        task_id,
                        int(doc_id or 0),
                        context,
                        dict(gen_kwargs or {}),
                        getattr(inst, "doc", None),
                    )
                )
            bar = _bar(self.bridge.progress and not disable_tqdm, len(items), "generate_until")
            try:
                return self.bridge.generate(items, bar)
            finally:
                if bar is not None:
                    bar.close()

        def loglikelihood(self, requests: list[Any], disable_tqdm: bool = False) -> list[tuple[float, bool]]:
            bar = _bar(self.bridge.progress and not disable_tqdm, len(requests), "loglikelihood")
            try:
                out = self.aibench_model.loglikelihood(
                    [tuple(r.args) for r in requests], progress=bar.update if bar is not None else None
                )
            finally:
                if bar is not None:
                    bar.close()
            self.bridge.stats["loglikelihood"] += len(requests)
            return [(float(lp), bool(greedy)) for lp, greedy in out]

        def loglikelihood_rolling(self, requests: list[Any], disable_tqdm: bool = False) -> list[float]:
            bar = _bar(self.bridge.progress and not disable_tqdm, len(requests), "loglikelihood_rolling")
            try:
                out = self.aibench_model.loglikelihood_rolling(
                    [r.args[0] for r in requests], progress=bar.update if bar is not None else None
                )
            finally:
                if bar is not None:
                    bar.close()
            self.bridge.stats["loglikelihood_rolling"] += len(requests)
            return [float(x) for x in out]

        # -- chat -----------------------------------------------------------------------------
        def apply_chat_template(self, chat_history: list[dict[str, str]], add_generation_prompt: bool = True) -> str:
            self.bridge.rendered_chat = True
            if self.bridge.renders_chat_itself():
                model = self.aibench_model
                if model._tok is None:
                    model.check()
                if getattr(model._tok, "chat_template", None):
                    return model._tok.apply_chat_template(
                        chat_history, tokenize=False, add_generation_prompt=add_generation_prompt
                    )
                return "\n\n".join(m["content"] for m in chat_history) + "\n\n"
            return json.dumps(chat_history, ensure_ascii=False)

        @property
        def tokenizer_name(self) -> str:
            return self.aibench_model.name.replace("/", "__")

        def chat_template(self, chat_template: bool | str = False) -> str | None:
            tok = getattr(self.aibench_model, "_tok", None)
            return getattr(tok, "chat_template", None) or ""

        def get_model_info(self) -> dict[str, Any]:
            return {"aibench_model": self.aibench_model.name, "aibench_params": self.aibench_model.params()}

    return AibenchLM
