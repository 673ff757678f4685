"""OpenAI-compatible servers (vLLM, llama.cpp server, LM Studio, TGI, Ollama's /v1, OpenAI).

* completion models (``chat: false``): ``POST {base_url}/completions`` with the raw prompt;
* chat models (``chat: true``): ``POST {base_url}/chat/completions`` with the chat template;
* ``check()``: ``GET {base_url}/models`` (reachable? key accepted? model served?).

The API key is read from the environment variable named by ``api_key_env`` and sent as a
Bearer token when set. ``samples_per_request`` > 1 asks for ``n`` samples of one problem in a
single request (vLLM, OpenAI); servers that ignore ``n`` (Ollama, llama.cpp) answer one choice and
the rest are asked for again, so the result is the same, only slower. ``max_stop`` limits how
many stop strings are sent (OpenAI accepts 4; the harness cuts at all of them anyway).
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass, field
from typing import Any, Iterator, Optional

from aibench.errors import AibenchError
from aibench.models.sampling import SampleFailure, SamplingConfig, SamplingModel
from aibench.registry import register, transport
from aibench.types import Completion, GenerationRequest

log = logging.getLogger(__name__)


@dataclass
class OpenAIConfig(SamplingConfig):
    base_url: str = transport("http://localhost:8000/v1")
    concurrency: int = transport(8)  # requests in flight
    api_key_env: Optional[str] = "OPENAI_API_KEY"  # name of the env var holding the key
    samples_per_request: int = 1  # OpenAI "n"
    stream: bool = transport(False)  # SSE streaming
    max_stop: Optional[int] = None  # send at most this many stop strings (OpenAI: 4)
    check_models: bool = transport(True)  # check() looks the model up in GET /models
    extra_body: dict[str, Any] = field(default_factory=dict)  # server-specific fields (vLLM: min_p, ...)


@register("model", "openai", OpenAIConfig)
class OpenAICompatModel(SamplingModel):
    backend = "openai"

    def __init__(self, cfg: OpenAIConfig | None = None, /, **settings: Any):
        from aibench.config import configure

        cfg = configure(self, cfg, settings)
        super().__init__(cfg)
        self.base_url = cfg.base_url.rstrip("/")
        self.api_key_env = api_key_env = cfg.api_key_env
        self.samples_per_request = max(1, cfg.samples_per_request)
        self.stream = cfg.stream
        self.max_stop = cfg.max_stop
        self.check_models = cfg.check_models
        self.extra_body = dict(cfg.extra_body)
        key = os.environ.get(api_key_env) if api_key_env else None
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        from aibench.models.http import HttpClient

        self.http = HttpClient(
            self.base_url,
            timeout=self.timeout,
            retries=self.retries,
            backoff=self.backoff,
            pool_size=self.concurrency,
            headers=headers,
        )
        self._has_key = bool(key)
        self._warned_n = False
        self.served_models: Optional[list[str]] = None

    # -- check ----------------------------------------------------------------------------------
    def _key_hint(self) -> str:
        if not self.api_key_env:
            return "set model.api_key_env to the variable holding the key"
        if not self._has_key:
            return f"${self.api_key_env} is not set"
        return f"check ${self.api_key_env}"

    def check(self) -> None:
        from aibench.models.http import HttpStatusError, MalformedResponse, RetriesExhausted

        self._checked = True
        if not self.check_models:
            return
        try:
            body = self.http.get_json("/models", retries=1, timeout=30.0)
        except RetriesExhausted:
            raise AibenchError(
                f"cannot reach the OpenAI-compatible server at {self.base_url}: is it running? (check model.base_url)"
            ) from None
        except HttpStatusError as e:
            if e.status in (401, 403):
                raise AibenchError(
                    f"{self.base_url} rejected the API key (HTTP {e.status}: {e.message}): {self._key_hint()}"
                ) from None
            if e.status in (404, 405, 501):
                return  # server without /models: generation will tell
            raise AibenchError(f"{self.base_url}/models failed: HTTP {e.status}: {e.message}") from None
        except MalformedResponse as e:
            raise AibenchError(str(e)) from None
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, list):
            raise AibenchError(f"malformed response from {self.base_url}/models: no 'data' list")
        self.served_models = [str(m.get("id")) for m in data if isinstance(m, dict)]
        if self.model not in self.served_models:
            shown = ", ".join(self.served_models[:10]) or "none"
            raise AibenchError(f"model '{self.model}' is not served by {self.base_url} (available: {shown})")

    def _fatal_status(self, e) -> Optional[str]:
        if e.status in (401, 403):
            return f"{self.base_url} rejected the API key (HTTP {e.status}: {e.message}): {self._key_hint()}"
        if e.status == 404:
            return f"model '{self.model}' is not served by {self.base_url} ({e.message})"
        return None

    # -- generation -----------------------------------------------------------------------------
    def _units(self, misses: list[GenerationRequest]) -> Iterator[list[GenerationRequest]]:
        unit: list[GenerationRequest] = []
        for r in misses:
            if unit and (
                r.problem.task_id != unit[0].problem.task_id
                or r.problem.task != unit[0].problem.task
                or len(unit) >= self.samples_per_request
            ):
                yield unit
                unit = []
            unit.append(r)
        if unit:
            yield unit

    def body(self, unit: list[GenerationRequest]) -> tuple[str, dict[str, Any]]:
        first = unit[0]
        body: dict[str, Any] = {"model": self.model, "max_tokens": self.max_tokens, "temperature": self.temperature}
        if self.chat:
            path = "/chat/completions"
            body["messages"] = self.template.messages(first.problem)
        else:
            path = "/completions"
            body["prompt"] = first.prompt
        if self.top_p is not None:
            body["top_p"] = self.top_p
        if self.top_k is not None:
            body["top_k"] = self.top_k  # not OpenAI; vLLM, llama.cpp and TGI accept it
        seed = self.sample_seed(first)
        if seed is not None:
            body["seed"] = seed
        stop = self.stop_words(first)
        if self.max_stop is not None:
            stop = stop[: self.max_stop]
        if stop:
            body["stop"] = stop
        if len(unit) > 1:
            body["n"] = len(unit)
        if self.stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        body.update(self.extra_body)
        return path, body

    def _run_unit(self, unit: list[GenerationRequest]) -> list[Completion]:
        out: list[Completion] = []
        rest = list(unit)
        while rest:
            path, body = self.body(rest)
            got = self.http.call(lambda: self._once(rest, path, body))
            if not got:
                from aibench.models.http import MalformedResponse

                raise MalformedResponse(f"malformed response from {self.base_url}{path}: no choices")
            if len(got) < len(rest) and not self._warned_n:
                self._warned_n = True
                log.warning(
                    "%s: the server ignored n=%d (answered %d); asking per sample", self.name, len(rest), len(got)
                )
            out.extend(got)
            rest = rest[len(got) :]
        return out

    def _once(self, unit: list[GenerationRequest], path: str, body: dict[str, Any]) -> list[Completion]:
        from aibench.models.http import MalformedResponse, TransientError, iter_sse, parse_json

        started = time.monotonic()
        self.count("requests")
        resp = self.http.request("POST", path, json_body=body, stream=self.stream)
        url = resp.url
        texts: dict[int, list[str]] = {}
        reasons: dict[int, Optional[str]] = {}
        usage: dict[str, Any] = {}
        chunks = iter_sse(resp) if self.stream else [parse_json(resp.text, url)]
        for obj in chunks:
            if not isinstance(obj, dict):
                raise MalformedResponse(f"malformed response from {url}: {str(obj)[:80]}")
            if "error" in obj:
                from aibench.models.http import error_message

                if self.stream:
                    raise TransientError(f"server error mid-stream: {error_message(obj)}")
                raise SampleFailure(f"server error: {error_message(obj)}")
            choices = obj.get("choices")
            if not isinstance(choices, list):
                raise MalformedResponse(f"malformed response from {url}: no 'choices' list")
            for ch in choices:
                i = int(ch.get("index", 0))
                if self.chat:
                    part = (ch.get("delta") if self.stream else ch.get("message")) or {}
                    piece = part.get("content") if isinstance(part, dict) else None
                else:
                    piece = ch.get("text")
                if piece is not None and not isinstance(piece, str):
                    raise MalformedResponse(f"malformed response from {url}: choice text is not a string")
                texts.setdefault(i, []).append(piece or "")
                if ch.get("finish_reason"):
                    reasons[i] = ch["finish_reason"]
            if isinstance(obj.get("usage"), dict):
                usage = obj["usage"]
        if not self.stream and not texts:
            raise MalformedResponse(f"malformed response from {url}: empty 'choices'")
        n = len(texts)
        ctoks = usage.get("completion_tokens")
        out = []
        for slot, i in enumerate(sorted(texts)[: len(unit)]):
            out.append(
                self._completion(
                    unit[slot],
                    "".join(texts[i]),
                    reasons.get(i),
                    usage.get("prompt_tokens"),
                    ctoks if n == 1 or ctoks is None else round(ctoks / n),
                    started,
                    usage_shared_by=n if n > 1 else None,
                )
            )
        return out

    # -- prompt log-probabilities: /completions with echo + logprobs (OpenAI legacy layout) --------
    @property
    def supports_loglikelihood(self) -> bool:  # /chat/completions does not echo the prompt
        return not self.chat

    def loglikelihood(self, requests: list[tuple[str, str]], progress: Any = None) -> list[tuple[float, bool]]:
        """The continuation's tokens are those the server's ``text_offset`` places at or after the
        context's end (trailing spaces of the context move to the continuation, as in lm-eval)."""
        spans = []
        for context, continuation in requests:
            start = len(context.rstrip())
            spans.append((context + continuation, start))
        return self._score_spans(spans, progress)

    def loglikelihood_rolling(self, texts: list[str], progress: Any = None) -> list[float]:
        """Every echoed token of the text that has a log-probability (a server scores the first one
        only when its tokenizer adds a BOS token)."""
        return [lp for lp, _ in self._score_spans([(t, 0) for t in texts], progress)]

    def _score_spans(self, spans: list[tuple[str, int]], progress: Any) -> list[tuple[float, bool]]:
        from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

        from aibench.models.cache import cache_key

        if self.chat:
            super().loglikelihood([])  # raises: the chat endpoint gives no prompt log-probabilities
        if not self._checked:
            self.check()
        cache = self.cache
        results: dict[tuple[str, int], tuple[float, bool]] = {}
        keys: dict[tuple[str, int], str] = {}
        for span in dict.fromkeys(spans):
            keys[span] = cache_key(
                {
                    "backend": self.backend,
                    "identity": self._identity(),
                    "op": "echo_logprobs",
                    "prompt": span[0],
                    "start": span[1],
                }
            )
            hit = cache.get(keys[span]) if cache is not None else None
            if hit is not None:
                results[span] = tuple(json.loads(hit["text"]))  # type: ignore[assignment]
        todo = [s for s in keys if s not in results]
        done_count = sum(1 for s in spans if s in results)
        if progress is not None and done_count:
            progress(done_count)
        counts = {s: spans.count(s) for s in todo} if progress is not None else {}
        with ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="aibench-logprobs") as ex:
            pending = {ex.submit(self._echo_score, *s): s for s in todo}
            try:
                while pending:
                    finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for f in finished:
                        span = pending.pop(f)
                        results[span] = f.result()
                        if cache is not None:
                            cache.put(
                                keys[span],
                                backend=self.backend,
                                model=self.model,
                                task_id="echo_logprobs",
                                sample_index=0,
                                text=json.dumps(results[span]),
                                kind="logprobs",
                                finish_reason=None,
                                usage={"cached": False},
                            )
                        if progress is not None:
                            progress(counts[span])
            finally:
                for f in pending:
                    f.cancel()
        return [results[s] for s in spans]

    def _echo_score(self, prompt: str, start: int) -> tuple[float, bool]:
        from aibench.models.http import HttpStatusError, MalformedResponse, RetriesExhausted, parse_json

        body = {"model": self.model, "prompt": prompt, "max_tokens": 1, "temperature": 0.0, "echo": True, "logprobs": 1}
        if self.seed is not None:
            body["seed"] = self.seed

        def once() -> dict[str, Any]:
            self.count("requests")
            resp = self.http.request("POST", "/completions", json_body=body)
            obj = parse_json(resp.text, resp.url)
            try:
                lp = obj["choices"][0]["logprobs"]
                rows = list(zip(lp["tokens"], lp["token_logprobs"], lp["top_logprobs"], lp["text_offset"], strict=True))
            except (KeyError, IndexError, TypeError, ValueError):
                raise MalformedResponse(
                    f"{resp.url} answered echo+logprobs without choices[0].logprobs.tokens/token_logprobs/"
                    "top_logprobs/text_offset: this server cannot score prompts (use model=hf/... or a vLLM server)"
                ) from None
            return {"rows": rows}

        try:
            rows = self.http.call(once)["rows"]
        except RetriesExhausted as e:
            raise AibenchError(f"{self.name}: request failed after {self.retries} retries: {e}") from None
        except MalformedResponse as e:
            raise AibenchError(f"{self.name}: {e}") from None
        except HttpStatusError as e:
            raise AibenchError(
                self._fatal_status(e)
                or f"{self.name}: {self.base_url}/completions refused echo+logprobs (HTTP {e.status}: {e.message})"
            ) from None
        total, greedy = 0.0, True
        for token, logprob, top, offset in rows:
            # tokens of the continuation: they end after ``start``; the one generated token lies past the prompt
            if offset >= len(prompt) or offset + len(token) <= start or logprob is None:
                continue
            total += float(logprob)
            if top:
                greedy = greedy and max(top, key=top.get) == token
        return total, greedy

    # -- manifest -------------------------------------------------------------------------------
    def _extra_params(self) -> dict[str, Any]:
        return {"max_stop": self.max_stop, "extra_body": dict(self.extra_body) or None}

    def _describe_server(self) -> dict[str, Any]:
        return {
            "base_url": self.base_url,
            "api_key_env": self.api_key_env,
            "samples_per_request": self.samples_per_request,
            "endpoint": "/chat/completions" if self.chat else "/completions",
        }

    def close(self) -> None:
        self.http.close()
        super().close()
