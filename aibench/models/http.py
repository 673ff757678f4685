"""One HTTP client for every remote backend: a requests Session with urllib3 ``Retry``.

Transport-level failures are retried by urllib3 with exponential backoff: connection errors,
read timeouts, dropped connections and the statuses 429/500/502/503/504 (``Retry-After`` is
honoured). What urllib3 cannot see -- a body cut off after the headers arrived, a stream that
ends without its final object, an error line in the middle of a 200 stream -- is raised by the
backends as :class:`TransientError` and retried by :meth:`HttpClient.call` with the same
backoff. When the retries are spent the caller gets :class:`RetriesExhausted`.

``requests`` and ``urllib3`` are imported lazily so that importing ``aibench.models`` stays cheap.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any, Callable, Iterator, TypeVar

T = TypeVar("T")

RETRY_STATUSES = (429, 500, 502, 503, 504)


class TransientError(Exception):
    """A failure worth retrying that urllib3 did not retry (truncated body, mid-stream error)."""


class RetriesExhausted(Exception):
    """Transport failures continued after every retry; ``str()`` is a one-line reason."""


class HttpStatusError(Exception):
    """A non-2xx answer that is not retried (4xx other than 429), or a 5xx after the retries."""

    def __init__(self, status: int, message: str, url: str):
        super().__init__(f"HTTP {status} from {url}: {message}")
        self.status = status
        self.message = message
        self.url = url


def error_message(body: Any, fallback: str = "") -> str:
    """The server's error text: Ollama ``{"error": "..."}`` or OpenAI ``{"error": {"message": ...}}``."""
    if isinstance(body, dict):
        err = body.get("error", body.get("detail", body.get("message")))
        if isinstance(err, dict):
            err = err.get("message") or json.dumps(err)
        if err:
            return str(err)
    if isinstance(body, str) and body.strip():
        return body.strip().splitlines()[0][:300]
    return fallback


class HttpClient:
    """A thread-safe session with retries, a per-request timeout and request counters."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 300.0,
        connect_timeout: float = 10.0,
        retries: int = 5,
        backoff: float = 0.5,
        backoff_max: float = 30.0,
        pool_size: int = 8,
        headers: dict[str, str] | None = None,
    ):
        self.base_url = base_url.rstrip("/")
        self.timeout = (connect_timeout, timeout)
        self.retries = retries
        self.backoff = backoff
        self.backoff_max = backoff_max
        self._pool_size = max(1, pool_size)
        self._headers = dict(headers or {})
        self._sessions: dict[int, Any] = {}
        self._lock = threading.Lock()

    # -- session -------------------------------------------------------------------------------
    def _retry(self, total: int | None = None):
        from urllib3.util.retry import Retry

        n = self.retries if total is None else total
        return Retry(
            total=n,
            connect=n,
            read=n,
            status=n,
            other=n,
            allowed_methods=None,  # POST too: generation requests are idempotent for us
            status_forcelist=RETRY_STATUSES,
            backoff_factor=self.backoff,
            backoff_max=self.backoff_max,
            respect_retry_after_header=True,
            raise_on_status=False,  # hand the last 5xx/429 body back so we can report it
        )

    def _make_session(self, retries: int):
        import requests
        from requests.adapters import HTTPAdapter

        s = requests.Session()
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=self._pool_size, max_retries=self._retry(retries))
        s.mount("http://", adapter)
        s.mount("https://", adapter)
        s.headers.update(self._headers)
        s.headers.setdefault("User-Agent", "aibench")
        return s

    def _session_for(self, retries: int | None):
        """The shared session, or (for ``check()``'s fast fail) one with fewer retries."""
        key = self.retries if retries is None else retries
        with self._lock:
            if self._sessions.get(key) is None:
                self._sessions[key] = self._make_session(key)
            return self._sessions[key]

    def close(self) -> None:
        with self._lock:
            for s in self._sessions.values():
                s.close()
            self._sessions.clear()

    def url(self, path: str) -> str:
        return self.base_url + "/" + path.lstrip("/")

    # -- requests ------------------------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        stream: bool = False,
        retries: int | None = None,
        timeout: float | None = None,
    ):
        """One HTTP exchange (urllib3 retries inside). Raises HttpStatusError on non-2xx."""
        import requests

        url = self.url(path)
        kwargs: dict[str, Any] = {
            "json": json_body,
            "stream": stream,
            "timeout": self.timeout if timeout is None else (timeout, timeout),
        }
        try:
            resp = self._session_for(retries).request(method, url, **kwargs)
        except requests.exceptions.RetryError as e:  # only with raise_on_status=True; kept for safety
            raise RetriesExhausted(f"{method} {url}: {e}") from None
        except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as e:
            raise RetriesExhausted(f"{method} {url}: {_short(e)}") from None
        if resp.status_code >= 400:
            try:
                body: Any = resp.json()
            except ValueError:
                body = resp.text
            raise HttpStatusError(resp.status_code, error_message(body, resp.reason or ""), url)
        return resp

    def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` (which makes a request and reads the body), retrying TransientError and
        broken bodies with exponential backoff. Raises RetriesExhausted when they are spent."""
        import requests

        attempt = 0
        while True:
            try:
                return fn()
            except HttpStatusError as e:
                if e.status in RETRY_STATUSES:  # urllib3 already retried these
                    raise RetriesExhausted(f"{e} (after {self.retries} retries)") from None
                raise
            except (
                TransientError,
                requests.exceptions.ChunkedEncodingError,
                requests.exceptions.ConnectionError,
                requests.exceptions.Timeout,
            ) as e:
                attempt += 1
                if attempt > self.retries:
                    raise RetriesExhausted(f"{_short(e)} (after {self.retries} retries)") from None
                time.sleep(min(self.backoff_max, self.backoff * (2 ** (attempt - 1))))

    def get_json(self, path: str, **kw: Any) -> Any:
        resp = self.request("GET", path, **kw)
        return parse_json(resp.text, resp.url)

    def post_json(self, path: str, body: Any, **kw: Any) -> Any:
        resp = self.request("POST", path, json_body=body, **kw)
        return parse_json(resp.text, resp.url)


def parse_json(text: str, url: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        raise MalformedResponse(f"malformed response from {url}: not JSON: {text[:120]!r}") from None


class MalformedResponse(Exception):
    """The server answered 2xx with a body that is not what the API documents."""


def iter_ndjson(resp) -> Iterator[dict]:
    """Objects of an NDJSON stream (Ollama). A broken line means the body was cut off."""
    for line in resp.iter_lines():
        if not line or not line.strip():
            continue
        try:
            yield json.loads(line)
        except ValueError:
            raise TransientError(f"truncated stream from {resp.url}: {line[:80]!r}") from None


def iter_sse(resp) -> Iterator[dict]:
    """``data:`` payloads of a server-sent-events stream (OpenAI), up to ``data: [DONE]``."""
    done = False
    for raw in resp.iter_lines():
        line = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
        if not line.startswith("data:"):
            continue  # comments, event:, id:, blank separators
        data = line[5:].strip()
        if data == "[DONE]":
            done = True
            break
        try:
            yield json.loads(data)
        except ValueError:
            raise TransientError(f"truncated stream from {resp.url}: {data[:80]!r}") from None
    if not done:
        raise TransientError(f"stream from {resp.url} ended without [DONE]")


def _short(e: BaseException) -> str:
    s = str(e).splitlines()[0] if str(e) else type(e).__name__
    return s[:300]
