"""Ollama through its native REST API.

* completion models (``chat: false``): ``POST /api/generate`` with ``raw: true``, so the server's
  prompt template is not applied and the model continues the task prompt as BigCode does;
* chat models (``chat: true``): ``POST /api/chat`` with the chat template from YAML;
* ``check()``: ``GET /api/version`` (reachable?), ``GET /api/tags`` (pulled? digest),
  ``POST /api/show`` (context length, for a warning when prompts may not fit).

Every request carries ``options`` = temperature, top_p, top_k, seed (per sample), num_predict,
stop and ``num_ctx``: the server's default context (2048) silently truncates long prompts.
Host: ``model.host``, else the ``OLLAMA_HOST`` environment variable, else localhost:11434.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from typing import Any, Optional

from aibench.errors import AibenchError
from aibench.models.sampling import SampleFailure, SamplingConfig, SamplingModel
from aibench.registry import register, transport
from aibench.types import Completion, GenerationRequest

log = logging.getLogger(__name__)

DEFAULT_HOST = "http://localhost:11434"


@dataclass
class OllamaConfig(SamplingConfig):
    host: Optional[str] = transport(None)  # None: $OLLAMA_HOST, else http://localhost:11434
    num_ctx: int = 4096  # context window sent on every request (server default 2048 truncates)
    stream: bool = transport(True)  # NDJSON streaming (the per-request timeout is then between chunks)
    keep_alive: Optional[str] = transport(None)  # e.g. "30m"; None = server default (5m)
    think: Optional[bool] = None  # reasoning models: None = server default
    options: dict[str, Any] = field(default_factory=dict)  # extra Ollama options (min_p, repeat_penalty, ...)


def resolve_host(host: Optional[str] = None) -> str:
    """``model.host``, else ``$OLLAMA_HOST``, else http://localhost:11434. Same rules as the
    ollama CLI: without a scheme it is http on port 11434; ``http://h`` means port 80 and
    ``https://h`` port 443; 0.0.0.0 (a server bound to every interface) is reached on loopback."""
    s = (host or os.environ.get("OLLAMA_HOST") or "").strip()
    if not s:
        return DEFAULT_HOST
    scheme, sep, rest = s.partition("://")
    if not sep:
        scheme, rest, default_port = "http", s, "11434"
    else:
        default_port = {"http": "80", "https": "443"}.get(scheme, "11434")
    hostport, _, path = rest.partition("/")
    if hostport.startswith("["):  # [::1]:port
        h, _, p = hostport.partition("]")
        h, p = h + "]", p.lstrip(":")
    elif hostport.count(":") == 1:
        h, p = hostport.split(":")
    else:
        h, p = hostport, ""
    if h in ("", "0.0.0.0"):
        h = "127.0.0.1"
    url = f"{scheme}://{h}:{p or default_port}"
    return url + ("/" + path.strip("/") if path.strip("/") else "")


@register("model", "ollama", OllamaConfig)
class OllamaModel(SamplingModel):
    backend = "ollama"

    def __init__(self, cfg: OllamaConfig | None = None, /, **settings: Any):
        from aibench.config import configure

        cfg = configure(self, cfg, settings)
        super().__init__(cfg)
        self.host = resolve_host(cfg.host)
        self.num_ctx = cfg.num_ctx
        self.stream = cfg.stream
        self.keep_alive = cfg.keep_alive
        self.think = cfg.think
        self.extra_options = dict(cfg.options)
        self.server_version: Optional[str] = None
        self.digest: Optional[str] = None
        self.context_length: Optional[int] = None
        from aibench.models.http import HttpClient

        self.http = HttpClient(
            self.host, timeout=self.timeout, retries=self.retries, backoff=self.backoff, pool_size=self.concurrency
        )

    # -- check ----------------------------------------------------------------------------------
    def check(self) -> None:
        from aibench.models.http import HttpStatusError, MalformedResponse, RetriesExhausted

        try:
            version = self.http.get_json("/api/version", retries=1, timeout=10.0)
            tags = self.http.get_json("/api/tags", retries=1, timeout=30.0)
        except RetriesExhausted:
            raise AibenchError(f"cannot reach Ollama at {self.host}: is `ollama serve` running?") from None
        except HttpStatusError as e:
            raise AibenchError(
                f"{self.host} does not answer like an Ollama server (HTTP {e.status} on {e.url}): check model.host"
            ) from None
        except MalformedResponse as e:
            raise AibenchError(f"{e}: is {self.host} an Ollama server?") from None
        if not isinstance(version, dict) or not isinstance(tags, dict) or not isinstance(tags.get("models"), list):
            raise AibenchError(f"malformed response from {self.host}/api/tags: is it an Ollama server?")
        self.server_version = version.get("version")
        entry = self._find_model(tags["models"])
        if entry is None:
            raise AibenchError(f"model '{self.model}' is not available on this server: run `ollama pull {self.model}`")
        self.digest = entry.get("digest")
        self._show()
        self._checked = True

    def _find_model(self, models: list[dict]) -> Optional[dict]:
        want = self.model if ":" in self.model.rsplit("/", 1)[-1] else self.model + ":latest"
        for m in models:
            names = {m.get("name"), m.get("model")}
            if self.model in names or want in names:
                return m
        return None

    def _show(self) -> None:
        """Context length from /api/show, to warn when num_ctx exceeds what the model supports."""
        from aibench.models.http import HttpStatusError, MalformedResponse, RetriesExhausted

        try:
            info = self.http.post_json("/api/show", {"model": self.model}, retries=1, timeout=30.0)
        except (HttpStatusError, MalformedResponse, RetriesExhausted):
            return  # optional facts
        model_info = info.get("model_info") or {} if isinstance(info, dict) else {}
        for k, v in model_info.items():
            if k.endswith(".context_length") and isinstance(v, int):
                self.context_length = v
        if self.context_length and self.num_ctx > self.context_length:
            log.warning(
                "%s: num_ctx=%d exceeds the model's context length %d", self.name, self.num_ctx, self.context_length
            )

    # -- generation -----------------------------------------------------------------------------
    def options(self, request: GenerationRequest) -> dict[str, Any]:
        opts: dict[str, Any] = {
            "temperature": self.temperature,
            "num_predict": self.max_tokens,
            "num_ctx": self.num_ctx,
        }
        if self.top_p is not None:
            opts["top_p"] = self.top_p
        if self.top_k is not None:
            opts["top_k"] = self.top_k
        seed = self.sample_seed(request)
        if seed is not None:
            opts["seed"] = seed
        stop = self.stop_words(request)
        if stop:
            opts["stop"] = stop
        opts.update(self.extra_options)
        return opts

    def body(self, request: GenerationRequest) -> tuple[str, dict[str, Any]]:
        body: dict[str, Any] = {"model": self.model, "stream": self.stream, "options": self.options(request)}
        if self.chat:
            path = "/api/chat"
            body["messages"] = self.template.messages(request.problem)
        else:
            path = "/api/generate"
            body["prompt"] = request.prompt
            body["raw"] = True
        if self.keep_alive is not None:
            body["keep_alive"] = self.keep_alive
        if self.think is not None:
            body["think"] = self.think
        return path, body

    def _run_unit(self, unit: list[GenerationRequest]) -> list[Completion]:
        (request,) = unit
        path, body = self.body(request)
        return [self.http.call(lambda: self._once(request, path, body))]

    def _once(self, request: GenerationRequest, path: str, body: dict[str, Any]) -> Completion:
        from aibench.models.http import MalformedResponse, TransientError, iter_ndjson, parse_json

        started = time.monotonic()
        self.count("requests")
        resp = self.http.request("POST", path, json_body=body, stream=self.stream)
        if self.stream:
            parts: list[str] = []
            final: Optional[dict] = None
            for obj in iter_ndjson(resp):
                if "error" in obj:  # an error in the middle of a 200 stream
                    raise TransientError(f"Ollama error mid-stream: {obj['error']}")
                parts.append(self._text(obj, resp.url))
                if obj.get("done"):
                    final = obj
                    break
            if final is None:
                raise TransientError(f"stream from {resp.url} ended before done=true")
            text = "".join(parts)
        else:
            final = parse_json(resp.text, resp.url)
            if not isinstance(final, dict):
                raise MalformedResponse(f"malformed response from {resp.url}: {str(final)[:80]}")
            if "error" in final:
                raise SampleFailure(f"Ollama error: {final['error']}")
            text = self._text(final, resp.url)
            if not final.get("done", True):
                raise TransientError(f"response from {resp.url} is not done")
        reason = final.get("done_reason")
        ns = final.get("total_duration")
        return self._completion(
            request,
            text,
            reason if reason in ("stop", "length") else reason,
            final.get("prompt_eval_count"),
            final.get("eval_count"),
            started,
            server_latency_s=None if ns is None else round(ns / 1e9, 4),
            eval_duration_s=None if final.get("eval_duration") is None else round(final["eval_duration"] / 1e9, 4),
        )

    def _text(self, obj: dict, url: str) -> str:
        from aibench.models.http import MalformedResponse

        if self.chat:
            msg = obj.get("message")
            if not isinstance(msg, dict) or not isinstance(msg.get("content", ""), str):
                raise MalformedResponse(f"malformed response from {url}: no message.content")
            return msg.get("content", "")
        text = obj.get("response")
        if not isinstance(text, str):
            raise MalformedResponse(f"malformed response from {url}: no 'response' field")
        return text

    def _fatal_status(self, e) -> Optional[str]:
        if e.status == 404:
            return f"model '{self.model}' is not available on this server: run `ollama pull {self.model}`"
        return super()._fatal_status(e)

    # -- manifest -------------------------------------------------------------------------------
    def _identity(self) -> dict[str, Any]:
        return {"model": self.model, "digest": self.digest}

    def _extra_params(self) -> dict[str, Any]:
        return {
            "num_ctx": self.num_ctx,
            "raw": not self.chat,
            "options": dict(self.extra_options) or None,
            "think": self.think,
        }

    def _describe_server(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "server_version": self.server_version,
            "model_digest": self.digest,
            "num_ctx": self.num_ctx,
            "model_context_length": self.context_length,
            "endpoint": "/api/chat" if self.chat else "/api/generate (raw)",
        }

    def close(self) -> None:
        self.http.close()
        super().close()
