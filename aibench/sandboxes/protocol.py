"""Messages between the parent, the fork server and the sample.

Two channels, two trust levels:

- **parent <-> fork server** (``read_msg``/``write_msg``): 4-byte big-endian length + a JSON
  object. JSON, never pickle: the fork server runs beside hostile code (and inside a container for
  ``sandbox=docker``), so nothing it sends may be able to run code in the parent. Reads are capped.
- **sample -> fork server** (``ResultReader``): the result pipe, one JSON object per line, written
  by the language runner in the sample process. Everything on it is untrusted input: it is capped
  in bytes, lines and line length; every line is parsed on its own and any error (bad JSON,
  RecursionError from deep nesting, wrong types) only marks the sample as having sent garbage;
  only known message kinds with fields of the right type are kept.
"""

from __future__ import annotations

import json
import os
import select
import struct
from typing import Any

MAX_FRAME = 64 << 20  # parent <-> fork server: largest message (programs and tails are far smaller)
RESULT_MAX_BYTES = 1 << 20  # sample -> fork server: whole result channel
RESULT_MAX_LINES = 4096
RESULT_MAX_LINE = 256 << 10

# "compile": a compiled language's runner starts its compile step (own wall budget, before "start");
# "artifact": what that step produced, sent before the program runs (the fork server may cache it
# for identical programs: ``runner.store``)
KINDS = ("start", "verdict", "extra", "compile", "artifact")


class ProtocolError(ValueError):
    pass


def write_msg(fd: int, obj: Any) -> None:
    data = json.dumps(obj, separators=(",", ":"), default=str).encode()
    data = struct.pack(">I", len(data)) + data
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def read_msg(fd: int) -> Any:
    """The next message, or None at EOF. Raises ProtocolError on an oversized or bad frame."""
    head = _read_exact(fd, 4)
    if head is None:
        return None
    (n,) = struct.unpack(">I", head)
    if n > MAX_FRAME:
        raise ProtocolError(f"frame of {n} bytes exceeds {MAX_FRAME}")
    body = _read_exact(fd, n)
    if body is None:
        return None
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as e:
        raise ProtocolError(f"bad frame: {type(e).__name__}") from None


def _read_exact(fd: int, n: int) -> bytes | None:
    buf = bytearray()
    while len(buf) < n:
        chunk = os.read(fd, n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)


def encode_line(obj: dict) -> bytes:
    """A result-channel line as the runner writes it."""
    return (json.dumps(obj, default=str) + "\n").encode()


class ResultReader:
    """Parses the untrusted result pipe of one sample, with hard caps."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.total = 0
        self.lines = 0
        self.messages: list[dict] = []
        self.garbage = 0  # lines that were not a well-formed message
        self.overflow: str | None = None  # set when a cap was exceeded (the sample is then killed)

    def feed(self, data: bytes) -> None:
        if self.overflow:
            return
        self.total += len(data)
        if self.total > RESULT_MAX_BYTES:
            self.overflow = f"result channel exceeded {RESULT_MAX_BYTES} bytes"
            return
        self.buf += data
        while True:
            nl = self.buf.find(b"\n")
            if nl < 0:
                if len(self.buf) > RESULT_MAX_LINE:
                    self.overflow = f"result channel line longer than {RESULT_MAX_LINE} bytes"
                return
            line = bytes(self.buf[:nl])
            del self.buf[: nl + 1]
            self.lines += 1
            if self.lines > RESULT_MAX_LINES:
                self.overflow = f"result channel exceeded {RESULT_MAX_LINES} lines"
                return
            msg = parse_line(line)
            if msg is None:
                self.garbage += 1
            else:
                self.messages.append(msg)


def parse_line(line: bytes) -> dict | None:
    """A message with its fields checked, or None. Never raises."""
    if len(line) > RESULT_MAX_LINE:
        return None
    try:
        m = json.loads(line)
    except Exception:  # noqa: BLE001 - ValueError, RecursionError, UnicodeDecodeError, ...
        return None
    if not isinstance(m, dict) or m.get("kind") not in KINDS:
        return None
    if not isinstance(m.get("nonce", ""), str):
        return None
    if m["kind"] == "verdict":
        if not isinstance(m.get("ok"), bool) or not isinstance(m.get("status", ""), str):
            return None
        if not isinstance(m.get("error", ""), str) or not isinstance(m.get("detail", {}), dict):
            return None
        if not isinstance(m.get("strays", 0), int) or isinstance(m.get("strays", 0), bool):
            return None
    if m["kind"] in ("extra", "artifact") and not isinstance(m.get("detail"), dict):
        return None
    return m


def requests(inp: int, outp: int):
    """Requests in order, minus cancelled ones. The parent cancels a request that waited behind a
    long-running sample and was sent to another worker instead; the cancel arrives after the
    request, so everything already in the pipe is read before the next sample starts. A skipped
    request is answered ``{"id", "cancelled": True}``."""
    queue: list[dict] = []
    cancelled: set[int] = set()
    eof = False
    while True:
        while not eof and (not queue or select.select([inp], [], [], 0)[0]):
            msg = read_msg(inp)
            if msg is None:
                eof = True
            else:
                queue.append(msg)
        cancelled.update(m["id"] for m in queue if m.get("kind") == "cancel")
        queue = [m for m in queue if m.get("kind") != "cancel"]
        if not queue:
            if eof:
                return
            continue
        msg = queue.pop(0)
        if msg["id"] in cancelled:
            cancelled.discard(msg["id"])
            try:
                write_msg(outp, {"id": msg["id"], "cancelled": True})
            except OSError:  # the parent is gone
                return
            continue
        yield msg
