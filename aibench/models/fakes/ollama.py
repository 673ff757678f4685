"""A fake Ollama server implementing the documented native REST API (see anchors C1-C3):
/api/generate and /api/chat (NDJSON streaming by default, or one object with stream=false),
/api/tags, /api/show, /api/version, error bodies ``{"error": ...}`` with real status codes and
error lines in the middle of a 200 stream."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any, Optional

from .server import FakeServer, Fault, apply_stop_and_limit, count_tokens, split_stream

DIGEST = "365c0bd3c000a25d28ddbf732fe1c6add414de7275464c4e4d1c3b5fcb5d8ad1"


class FakeOllama(FakeServer):
    generation_paths = ("/api/generate", "/api/chat")

    def __init__(
        self,
        latency: float = 0.0,
        models: Optional[dict[str, str]] = None,
        version: str = "0.12.11",
        context_length: int = 8192,
    ) -> None:
        super().__init__(latency)
        self.models = dict(models or {"llama3:latest": DIGEST})
        self.version = version
        self.context_length = context_length

    def _known(self, name: str) -> Optional[str]:
        if not isinstance(name, str) or not name:
            return None
        full = name if ":" in name else name + ":latest"
        return full if full in self.models else None

    def handle(self, h, method: str, path: str, body: Any, fault: Optional[Fault]) -> None:
        if method == "GET" and path == "/api/version":
            return self.send_json(h, 200, {"version": self.version})
        if method == "GET" and path == "/api/tags":
            return self.send_json(h, 200, {"models": [self._tag(n, d) for n, d in self.models.items()]})
        if method == "POST" and path == "/api/show":
            name = self._known((body or {}).get("model"))
            if name is None:
                return self.send_json(h, 404, {"error": f"model '{(body or {}).get('model')}' not found"})
            return self.send_json(
                h,
                200,
                {
                    "modelfile": "FROM x",
                    "parameters": "stop <|eot_id|>",
                    "template": "{{ .Prompt }}",
                    "details": self._details(),
                    "model_info": {"general.architecture": "llama", "llama.context_length": self.context_length},
                    "capabilities": ["completion"],
                },
            )
        if method == "POST" and path in self.generation_paths:
            return self._generate(h, path, body or {}, fault)
        return self.send_json(h, 404, {"error": "404 page not found"})

    def _tag(self, name: str, digest: str) -> dict[str, Any]:
        return {
            "name": name,
            "model": name,
            "modified_at": "2025-01-01T00:00:00Z",
            "size": 4661224676,
            "digest": digest,
            "details": self._details(),
        }

    @staticmethod
    def _details() -> dict[str, Any]:
        return {
            "parent_model": "",
            "format": "gguf",
            "family": "llama",
            "families": ["llama"],
            "parameter_size": "8.0B",
            "quantization_level": "Q4_0",
        }

    def _generate(self, h, path: str, body: dict, fault: Optional[Fault]) -> None:
        if fault is not None and fault.kind in ("500", "503", "429", "400"):
            status = int(fault.kind)
            msg = {
                500: "llama runner process has terminated",
                503: "server busy",
                429: "too many requests",
                400: "bad request",
            }[status]
            return self.send_json(h, status, {"error": msg})
        model = body.get("model")
        if not model:
            return self.send_json(h, 400, {"error": "model is required"})
        if self._known(model) is None:
            return self.send_json(h, 404, {"error": f"model '{model}' not found"})
        if body.get("raw") and (body.get("template") or body.get("system") or body.get("context")):
            return self.send_json(h, 400, {"error": "raw mode does not support template, system, or context"})
        opts = body.get("options") or {}
        if path == "/api/generate":
            prompt = body.get("prompt") or ""
            text = self.answers.completion(prompt, body)
            n_prompt = count_tokens(prompt)
        else:
            msgs = body.get("messages") or []
            user = "\n".join(m.get("content", "") for m in msgs if m.get("role") == "user")
            text = self.answers.chat_reply(user, body)
            n_prompt = sum(count_tokens(m.get("content", "")) for m in msgs)
        num_predict = opts.get("num_predict")
        text, reason = apply_stop_and_limit(text, opts.get("stop"), num_predict)
        created = datetime.now(timezone.utc).isoformat()
        metrics = {
            "total_duration": int(self.latency * 1e9) + 1_000_000,
            "load_duration": 1000,
            "prompt_eval_count": n_prompt,
            "prompt_eval_duration": 500_000,
            "eval_count": count_tokens(text),
            "eval_duration": 400_000,
        }
        chat = path == "/api/chat"

        def obj(piece: str, done: bool) -> dict[str, Any]:
            o: dict[str, Any] = {"model": model, "created_at": created}
            if chat:
                o["message"] = {"role": "assistant", "content": piece}
            else:
                o["response"] = piece
            o["done"] = done
            return o

        if fault is not None and fault.kind == "malformed":
            data = b"<html><body>502 Bad Gateway</body></html>"
            h.send_response(200)
            h.send_header("Content-Type", "text/html")
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            h.wfile.write(data)
            return None
        if body.get("stream", True) is False:
            final = obj(text, True)
            final.update(done_reason=reason, **metrics)
            if not chat:
                final["context"] = [] if not body.get("raw") else None
                if final["context"] is None:
                    del final["context"]
            if fault is not None and fault.kind == "truncate":
                return self.send_truncated(h, final)
            return self.send_json(h, 200, final)
        self.start_chunked(h, "application/x-ndjson")
        pieces = split_stream(text)
        for i, piece in enumerate(pieces):
            if fault is not None and fault.kind in ("truncate", "midstream_error") and i == len(pieces) // 2:
                if fault.kind == "truncate":
                    self.chunk(h, json.dumps(obj(piece, False)).encode()[:10])
                    h.close_connection = True
                    return None
                self.chunk(
                    h, json.dumps({"error": "an error was encountered while running the model"}).encode() + b"\n"
                )
                self.end_chunked(h)
                return None
            self.chunk(h, json.dumps(obj(piece, False)).encode() + b"\n")
        final = obj("", True)
        final.update(done_reason=reason, **metrics)
        self.chunk(h, json.dumps(final).encode() + b"\n")
        self.end_chunked(h)
        return None
