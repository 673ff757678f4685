"""The layer every real backend shares: sampling params, per-sample seeds, the chat template,
the generation cache, concurrency and error policy.

A backend subclasses :class:`SamplingModel` and implements three hooks:

* ``_prompt_key(request)`` -- the prompt exactly as it is sent (raw text or chat messages),
  which goes into the cache key;
* ``_run_unit(unit)`` -- generate one unit of work (a list of requests: one request for Ollama,
  up to ``n`` samples of one problem for OpenAI servers, a batch for Hugging Face) and return one
  Completion per request;
* optionally ``_units(misses)`` to group requests into units, ``_identity()`` (model digest),
  ``_extra_params()`` and ``_describe_server()``.

``generate`` answers cached samples first, then runs the missing ones with ``concurrency`` units
in flight on a thread pool and yields each Completion as soon as it finishes. Error policy:
a 4xx other than 401/403/404 (e.g. a prompt the server refuses) becomes a Completion with
``error`` set; an unreachable server, transport failures after the retries, a bad key, a missing
model or a malformed response stop the run with one-line :class:`AibenchError` once the units
already in flight have been yielded.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Optional

from aibench.errors import AibenchError
from aibench.models.base import Model
from aibench.models.chat import DEFAULT_SYSTEM_PROMPT, DEFAULT_USER_TEMPLATE, ChatTemplate
from aibench.registry import transport
from aibench.types import Completion, CompletionKind, GenerationRequest

log = logging.getLogger(__name__)

MISSING = "???"  # omegaconf.MISSING, spelled out so importing this module stays cheap


@dataclass
class SamplingConfig:
    """Fields every backend schema shares (each backend schema extends this)."""

    name: str = MISSING  # the model as the server/hub knows it, e.g. "llama3" or "qwen2.5-coder:7b"
    temperature: float = 0.2  # BigCode harness default; 0 = greedy
    top_p: float = 0.95
    top_k: Optional[int] = None  # None = not sent (server default)
    max_tokens: int = 512  # generated tokens per sample (Ollama num_predict)
    seed: Optional[int] = "${run.seed}"  # type: ignore[assignment]  # None = no seed sent
    stop: list[str] = field(default_factory=list)  # extra stop strings, sent in both modes
    use_stop_words: bool = True  # send the task's stop words (completion mode only)
    chat: bool = False  # True: the task goes through the chat template below
    system_prompt: Optional[str] = DEFAULT_SYSTEM_PROMPT
    user_template: str = DEFAULT_USER_TEMPLATE
    concurrency: int = transport(4)  # units of work in flight
    retries: int = transport(5)  # per request, on connection errors, timeouts, 429 and 5xx
    backoff: float = transport(0.5)  # seconds; doubles per retry
    timeout: float = transport(300.0)  # seconds per request (between bytes when streaming)
    cache_dir: Optional[str] = transport("${paths.cache_dir}")  # None disables the generation cache


def derive_seed(seed: int, task: str, task_id: str, sample_index: int) -> int:
    """A distinct, stable seed per sample: a fixed seed per request would make all n samples of
    a problem identical on servers that honour seeds (Ollama)."""
    h = hashlib.sha256(f"{seed}\x1f{task}\x1f{task_id}\x1f{sample_index}".encode()).digest()
    return int.from_bytes(h[:4], "big") & 0x7FFFFFFF


class SampleFailure(Exception):
    """A failure of this unit only (the server refused the prompt); the run goes on."""


class SamplingModel(Model):
    backend = "sampling"  # overridden: "ollama", "openai", "hf"

    def __init__(self, cfg: SamplingConfig | None = None, /, **settings: Any):
        from aibench.config import configure

        cfg = configure(self, cfg, settings)
        if not cfg.name:
            raise AibenchError(f"model.name is empty: say which {self.backend} model to use")
        self.model = cfg.name
        self.name = f"{self.backend}/{self.model}"
        self.temperature = cfg.temperature
        self.top_p = cfg.top_p
        self.top_k = cfg.top_k
        self.max_tokens = cfg.max_tokens
        self.seed = cfg.seed
        self.extra_stop = list(cfg.stop)
        self.use_stop_words = cfg.use_stop_words
        self.chat = cfg.chat
        self.template = ChatTemplate(system=cfg.system_prompt, user=cfg.user_template)
        self.concurrency = max(1, cfg.concurrency)
        self.retries = cfg.retries
        self.backoff = cfg.backoff
        self.timeout = cfg.timeout
        self.cache_dir = cfg.cache_dir
        self._cache = None
        self._checked = False
        self.stats = {"requests": 0, "cached": 0, "generated": 0, "errors": 0}
        self._stats_lock = threading.Lock()
        self._abort = threading.Event()  # set by the first fatal error: queued units do not start

    # -- hooks ----------------------------------------------------------------------------------
    def _prompt_key(self, request: GenerationRequest) -> Any:
        """The prompt exactly as sent: raw text, or the chat messages."""
        if self.chat:
            return self.template.messages(request.problem)
        return request.prompt

    def _run_unit(self, unit: list[GenerationRequest]) -> list[Completion]:
        raise NotImplementedError

    def _units(self, misses: list[GenerationRequest]) -> Iterator[list[GenerationRequest]]:
        for r in misses:
            yield [r]

    def _identity(self) -> dict[str, Any]:
        """What identifies the weights (name, and digest where the server reports one)."""
        return {"model": self.model}

    def _extra_params(self) -> dict[str, Any]:
        return {}

    def _describe_server(self) -> dict[str, Any]:
        return {}

    def count(self, stat: str, n: int = 1) -> None:
        """Thread-safe counter bump (workers count their requests)."""
        with self._stats_lock:
            self.stats[stat] += n

    # -- shared behaviour -----------------------------------------------------------------------
    @property
    def kind(self) -> CompletionKind:
        return CompletionKind.CHAT if self.chat else CompletionKind.COMPLETION

    def sample_seed(self, request: GenerationRequest) -> Optional[int]:
        if self.seed is None:
            return None
        p = request.problem
        return derive_seed(self.seed, p.task, p.task_id, request.sample_index)

    def stop_words(self, request: GenerationRequest) -> list[str]:
        """Stop strings sent to the server. The task's stop words are made for raw completions
        (``\\ndef``, ``\\nif`` ...) and would cut a chat reply after its first function, so they
        are never sent in chat mode."""
        words: list[str] = []
        if not self.chat and self.use_stop_words:
            words.extend(request.stop)
        words.extend(w for w in self.extra_stop if w not in words)
        return words

    def params(self) -> dict[str, Any]:
        p = {
            "backend": self.backend,
            "model": self.model,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "top_k": self.top_k,
            "max_tokens": self.max_tokens,
            "seed": self.seed,
            "chat": self.chat,
            "stop": list(self.extra_stop),
            "use_stop_words": self.use_stop_words,
            "concurrency": self.concurrency,
        }
        p.update(self._extra_params())
        return p

    def describe(self) -> dict[str, Any]:
        d: dict[str, Any] = {"name": self.name, "backend": self.backend, "model": self.model}
        d["params"] = self.params()
        if self.chat:
            d["chat_template"] = {"system": self.template.system, "user": self.template.user}
        d["per_sample_seed"] = "sha256(seed, task, task_id, sample_index)" if self.seed is not None else None
        d["cache"] = str(self.cache.path) if self.cache is not None else None
        d.update(self._describe_server())
        return d

    def view(
        self,
        *,
        temperature: float | None = None,
        top_p: float | None = None,
        top_k: int | None = None,
        max_tokens: int | None = None,
        seed: int | None = None,
        stop: list[str] | None = None,
        chat: bool | None = None,
        template: Any = None,
        extra: dict[str, Any] | None = None,
    ) -> "SamplingModel":
        """A copy with these settings (``stop`` replaces the task's stop words; ``extra`` goes to the
        server as it is), sharing this model's connections, cache and stats."""
        if not self._checked:
            self.check()  # on the model itself: its manifest gets the server facts (digest, version)
        _ = self.cache  # open it once, so every view shares one connection
        view = copy.copy(self)
        view.temperature = temperature if temperature is not None else self.temperature
        view.top_p, view.top_k = top_p, top_k
        if max_tokens is not None:
            view.max_tokens = max_tokens
        if seed is not None:
            view.seed = seed
        until = list(stop or [])
        view.extra_stop = until + [s for s in self.extra_stop if s not in until]
        view.use_stop_words = False
        if chat is not None:
            view.chat = chat
        if template is not None:
            view.template = template
        if extra and hasattr(view, "extra_body"):
            view.extra_body = {**self.extra_body, **extra}
        elif extra and hasattr(view, "extra_options"):
            view.extra_options = {**self.extra_options, **extra}
        elif extra:
            log.warning("%s: generation kwargs %s are not used by this backend", self.name, sorted(extra))
        return view

    def cache_key(self, request: GenerationRequest) -> str:
        from aibench.models.cache import cache_key

        p = request.problem
        return cache_key(
            {
                "backend": self.backend,
                "identity": self._identity(),
                "prompt": self._prompt_key(request),
                "params": {k: v for k, v in self.params().items() if k not in ("concurrency",)},
                "stop": self.stop_words(request),
                "task": p.task,
                "task_id": p.task_id,
                "sample_index": request.sample_index,
            }
        )

    @property
    def cache(self):
        if self._cache is None and self.cache_dir:
            from aibench.models.cache import GenerationCache

            self._cache = GenerationCache(self.cache_dir)
        return self._cache

    def _warn_greedy(self, requests: list[GenerationRequest]) -> None:
        n = 1 + max((r.sample_index for r in requests), default=0)
        if self.temperature == 0 and n > 1:
            log.warning(
                "%s: temperature=0 with n_samples=%d: greedy decoding gives %d identical samples "
                "per problem, so pass@k for k>1 equals pass@1. For pass@k use sampling "
                "(BigCode harness advice: temperature 0.2 for pass@1, 0.8 for pass@10/100).",
                self.name,
                n,
                n,
            )

    def generate(self, requests: Iterable[GenerationRequest]) -> Iterator[Completion]:
        reqs = list(requests)
        self._warn_greedy(reqs)
        if reqs and not self._checked:
            self.check()  # also fetches the model digest that goes into the cache key
        cache = self.cache
        keys: dict[int, str] = {}
        misses: list[GenerationRequest] = []
        for r in reqs:
            hit = None
            if cache is not None:
                keys[id(r)] = key = self.cache_key(r)
                hit = cache.get(key)
            if hit is None:
                misses.append(r)
                continue
            self.count("cached")
            yield Completion(
                request=r,
                text=hit["text"],
                kind=CompletionKind(hit["kind"]),
                finish_reason=hit["finish_reason"],
                usage={**hit["usage"], "cached": True},
            )
        for c in self._run_pool(misses):
            if c.error is None:
                self.count("generated")
                if cache is not None:
                    key = keys.get(id(c.request)) or self.cache_key(c.request)
                    p = c.request.problem
                    cache.put(
                        key,
                        backend=self.backend,
                        model=self.model,
                        task_id=p.task_id,
                        sample_index=c.request.sample_index,
                        text=c.text,
                        kind=c.kind.value,
                        finish_reason=c.finish_reason,
                        usage={**c.usage, "cached": False},
                    )
            else:
                self.count("errors")
            yield c

    def _run_pool(self, misses: list[GenerationRequest]) -> Iterator[Completion]:
        if not misses:
            return
        units = iter(self._units(misses))
        self._abort.clear()
        ex = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix=f"aibench-{self.backend}")
        pending: set[Future] = set()
        fatal: AibenchError | None = None
        clean = False
        try:

            def fill() -> None:
                while fatal is None and len(pending) < 2 * self.concurrency:
                    unit = next(units, None)
                    if unit is None:
                        return
                    pending.add(ex.submit(self._run_unit_safe, unit))

            fill()
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for f in done:
                    pending.discard(f)
                    if f.cancelled():
                        continue
                    try:
                        completions = f.result()
                    except AibenchError as e:
                        if fatal is None:
                            fatal = e
                            for other in pending:  # not started yet: drop; running: let finish
                                other.cancel()
                        continue
                    yield from completions
                fill()
            clean = True
        finally:
            for f in pending:
                f.cancel()
            ex.shutdown(wait=clean, cancel_futures=True)
        if fatal is not None:
            raise fatal

    def _run_unit_safe(self, unit: list[GenerationRequest]) -> list[Completion]:
        if self._abort.is_set():
            return []  # the run is stopping; this unit was never started
        try:
            return self._run_unit_checked(unit)
        except AibenchError:
            self._abort.set()
            raise

    def _run_unit_checked(self, unit: list[GenerationRequest]) -> list[Completion]:
        from aibench.models.http import HttpStatusError, MalformedResponse, RetriesExhausted

        try:
            return self._run_unit(unit)
        except AibenchError:
            raise
        except RetriesExhausted as e:
            raise AibenchError(f"{self.name}: request failed after {self.retries} retries: {e}") from None
        except MalformedResponse as e:
            raise AibenchError(f"{self.name}: {e}") from None
        except HttpStatusError as e:
            fatal = self._fatal_status(e)
            if fatal:
                raise AibenchError(fatal) from None
            return self._failed(unit, f"HTTP {e.status}: {e.message}")
        except SampleFailure as e:
            return self._failed(unit, str(e))
        except Exception as e:  # a failure of this unit only (e.g. out of memory for one batch)
            log.warning("%s: generation failed for %s: %s: %s", self.name, unit[0].problem.task_id, type(e).__name__, e)
            return self._failed(unit, f"{type(e).__name__}: {e}")

    def _fatal_status(self, e) -> str | None:
        """One-line message for statuses that stop the run; None for per-sample ones."""
        if e.status in (401, 403):
            return f"{self.name}: the server rejected the credentials (HTTP {e.status}: {e.message})"
        if e.status == 404:
            return f"{self.name}: model '{self.model}' is not available on this server ({e.message})"
        return None

    def _failed(self, unit: list[GenerationRequest], error: str) -> list[Completion]:
        return [Completion(request=r, text="", kind=self.kind, error=error, usage={"cached": False}) for r in unit]

    def _completion(
        self,
        request: GenerationRequest,
        text: str,
        finish_reason: Optional[str],
        prompt_tokens: Optional[int],
        completion_tokens: Optional[int],
        started: float,
        **extra: Any,
    ) -> Completion:
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "latency_s": round(time.monotonic() - started, 4),
            "cached": False,
        }
        usage.update({k: v for k, v in extra.items() if v is not None})
        return Completion(request=request, text=text, kind=self.kind, finish_reason=finish_reason, usage=usage)

    def close(self) -> None:
        if self._cache is not None:
            self._cache.close()
            self._cache = None
