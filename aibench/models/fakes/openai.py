"""A fake OpenAI-compatible server: /v1/completions, /v1/chat/completions, /v1/models, SSE
streaming (``data: {...}`` lines ending with ``data: [DONE]``), the OpenAI error shape
``{"error": {"message", "type", "param", "code"}}`` and 401 on a bad key. ``supports_n=False``
behaves like Ollama's /v1 (one choice whatever ``n`` says).

``/v1/completions`` honours ``logprobs`` (top-k) and ``echo`` in the legacy layout: ``choices[].logprobs``
= ``tokens``, ``token_logprobs``, ``top_logprobs``, ``text_offset`` over the echoed prompt (its first
token unscored: ``None``) followed by the generated tokens. Log-probabilities come from
:func:`token_logprob` (deterministic, so tests compute expected values themselves);
``supports_echo=False`` answers ``logprobs: null`` like servers without prompt scoring."""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from typing import Any, Optional

from .server import FakeServer, Fault, apply_stop_and_limit, count_tokens, split_stream, tokenize

ALT_TOKEN, ALT_LOGPROB = " the", -1.5  # the other candidate in every top_logprobs entry


def token_logprob(prev: str, token: str) -> float:
    """The fake model's log-probability of ``token`` after ``prev`` (the preceding token)."""
    h = int.from_bytes(hashlib.sha256(f"{prev}\x1f{token}".encode()).digest()[:2], "big")
    return -round(0.01 + h / 65535 * 4.0, 6)


def completion_logprobs(prompt: str, generated: str, k: int, echo: bool) -> dict[str, Any]:
    """OpenAI legacy ``logprobs`` of (echoed prompt +) generated text."""
    prompt_toks, gen_toks = tokenize(prompt), tokenize(generated)
    tokens = (prompt_toks if echo else []) + gen_toks
    first = 0 if echo else len(prompt_toks)
    context = prompt_toks + gen_toks
    out: dict[str, list] = {"tokens": [], "token_logprobs": [], "top_logprobs": [], "text_offset": []}
    offset = 0 if echo else len(prompt)
    for i, tok in enumerate(tokens):
        pos = first + i
        out["tokens"].append(tok)
        out["text_offset"].append(offset)
        offset += len(tok)
        if pos == 0:
            out["token_logprobs"].append(None)
            out["top_logprobs"].append(None)
            continue
        lp = token_logprob(context[pos - 1], tok)
        cands = {tok: lp} | ({ALT_TOKEN: ALT_LOGPROB} if tok != ALT_TOKEN else {})
        top = sorted(cands.items(), key=lambda kv: -kv[1])[: max(1, k)]
        out["token_logprobs"].append(lp)
        out["top_logprobs"].append(dict(top))
    return out


def oa_error(message: str, type_: str = "invalid_request_error", param: Any = None, code: Any = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


class FakeOpenAI(FakeServer):
    generation_paths = ("/v1/completions", "/v1/chat/completions")

    def __init__(
        self,
        latency: float = 0.0,
        models: tuple[str, ...] = ("gpt-test",),
        api_key: Optional[str] = None,
        supports_n: bool = True,
        supports_echo: bool = True,
    ) -> None:
        super().__init__(latency)
        self.models = list(models)
        self.api_key = api_key
        self.supports_n = supports_n
        self.supports_echo = supports_echo

    def _authorized(self, h) -> bool:
        if self.api_key is None:
            return True
        return h.headers.get("Authorization") == f"Bearer {self.api_key}"

    def handle(self, h, method: str, path: str, body: Any, fault: Optional[Fault]) -> None:
        if not self._authorized(h):
            return self.send_json(
                h,
                401,
                oa_error(
                    "Incorrect API key provided: sk-***. You can find your API key at your account page.",
                    code="invalid_api_key",
                ),
            )
        if method == "GET" and path == "/v1/models":
            return self.send_json(
                h,
                200,
                {
                    "object": "list",
                    "data": [
                        {"id": m, "object": "model", "created": 1700000000, "owned_by": "fake"} for m in self.models
                    ],
                },
            )
        if method == "POST" and path in self.generation_paths:
            return self._generate(h, path, body or {}, fault)
        return self.send_json(h, 404, oa_error(f"Unknown request URL: {method} {path}", code="unknown_url"))

    def _generate(self, h, path: str, body: dict, fault: Optional[Fault]) -> None:
        if fault is not None and fault.kind in ("500", "503", "429", "400"):
            status = int(fault.kind)
            kind = {500: "server_error", 503: "server_error", 429: "rate_limit_exceeded", 400: "invalid_request_error"}
            return self.send_json(h, status, oa_error(f"injected {status}", kind[status]))
        model = body.get("model")
        if model not in self.models:
            return self.send_json(
                h,
                404,
                oa_error(
                    f"The model `{model}` does not exist or you do not have access to it.",
                    param="model",
                    code="model_not_found",
                ),
            )
        chat = path.endswith("/chat/completions")
        n = int(body.get("n") or 1) if self.supports_n else 1
        if chat:
            msgs = body.get("messages") or []
            user = "\n".join(m.get("content", "") for m in msgs if m.get("role") == "user")
            n_prompt = sum(count_tokens(m.get("content", "")) for m in msgs)
        else:
            prompt = body.get("prompt")
            if not isinstance(prompt, str):
                return self.send_json(h, 400, oa_error("prompt must be a string", param="prompt"))
            n_prompt = count_tokens(prompt)
        choices = []
        for i in range(n):
            req = dict(body, choice_index=i)
            raw = self.answers.chat_reply(user, req) if chat else self.answers.completion(prompt, req)
            text, reason = apply_stop_and_limit(raw, body.get("stop"), body.get("max_tokens"))
            choices.append((i, text, reason))
        usage = {"prompt_tokens": n_prompt, "completion_tokens": sum(count_tokens(t) for _, t, _ in choices)}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        cid = ("chatcmpl-" if chat else "cmpl-") + uuid.uuid4().hex[:12]
        created = int(time.time())
        obj_type = "chat.completion" if chat else "text_completion"
        if fault is not None and fault.kind == "malformed":
            return self.send_json(h, 200, {"id": cid, "object": obj_type, "result": "???"})
        if not body.get("stream"):
            echo = bool(body.get("echo")) and not chat and self.supports_echo
            k = body.get("logprobs")
            scored = not chat and self.supports_echo and k is not None and k is not False

            def text_choice(i: int, t: str, r: str) -> dict[str, Any]:
                lp = completion_logprobs(prompt, t, int(k), echo) if scored else None
                return {"index": i, "text": (prompt + t) if echo else t, "logprobs": lp, "finish_reason": r}

            out = {
                "id": cid,
                "object": obj_type,
                "created": created,
                "model": model,
                "system_fingerprint": "fp_fake",
                "usage": usage,
                "choices": [
                    (
                        {"index": i, "message": {"role": "assistant", "content": t}, "finish_reason": r}
                        if chat
                        else text_choice(i, t, r)
                    )
                    for i, t, r in choices
                ],
            }
            if fault is not None and fault.kind == "truncate":
                return self.send_truncated(h, out)
            return self.send_json(h, 200, out)
        self.start_chunked(h, "text/event-stream")
        chunk_type = "chat.completion.chunk" if chat else "text_completion"

        def event(obj: Any) -> None:
            self.chunk(h, b"data: " + json.dumps(obj).encode() + b"\n\n")

        for i, t, r in choices:
            pieces = split_stream(t)
            for j, piece in enumerate(pieces):
                if fault is not None and fault.kind in ("truncate", "midstream_error") and j == len(pieces) // 2:
                    if fault.kind == "truncate":
                        self.chunk(h, b'data: {"id": "cmp')
                        h.close_connection = True
                        return None
                    event(oa_error("The server had an error while processing your request.", "server_error"))
                    self.chunk(h, b"data: [DONE]\n\n")
                    self.end_chunked(h)
                    return None
                ch = (
                    {"index": i, "delta": {"content": piece}, "finish_reason": None}
                    if chat
                    else {"index": i, "text": piece, "finish_reason": None}
                )
                event({"id": cid, "object": chunk_type, "created": created, "model": model, "choices": [ch]})
            last = (
                {"index": i, "delta": {}, "finish_reason": r} if chat else {"index": i, "text": "", "finish_reason": r}
            )
            event({"id": cid, "object": chunk_type, "created": created, "model": model, "choices": [last]})
        if (body.get("stream_options") or {}).get("include_usage"):
            event({"id": cid, "object": chunk_type, "created": created, "model": model, "choices": [], "usage": usage})
        self.chunk(h, b"data: [DONE]\n\n")
        self.end_chunked(h)
        return None
