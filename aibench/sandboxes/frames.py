"""Framing for pipes: u32 big-endian length + payload (a ``plaindata`` message);
``FrameReader`` reads with a hard size cap."""

from __future__ import annotations

import os
import struct

from aibench.sandboxes.plaindata import MAX_BYTES, PlainDataError, bind_builtins

bind_builtins(globals())  # this code also runs in the candidate process

_U32 = struct.Struct(">I")


def write_frame(fd: int, payload: bytes) -> None:
    data = _U32.pack(len(payload)) + payload
    n = os.write(fd, data)
    if n < len(data):
        view = memoryview(data)[n:]
        while view:
            view = view[os.write(fd, view) :]


class FrameReader:
    """Length-prefixed frames from ``fd`` (bytes kept across frames); ``None`` on a clean EOF."""

    __slots__ = ("fd", "buf", "max_bytes")

    def __init__(self, fd: int, max_bytes: int = MAX_BYTES):
        self.fd, self.buf, self.max_bytes = fd, b"", max_bytes

    def read(self) -> bytes | None:
        buf, fd = self.buf, self.fd
        while len(buf) < 4:
            chunk = os.read(fd, 65536)
            if not chunk:
                if buf:
                    raise PlainDataError("truncated frame")
                return None
            buf += chunk
        (size,) = _U32.unpack_from(buf)
        if size > self.max_bytes:
            raise PlainDataError("frame too large")
        end = 4 + size
        if len(buf) < end:
            parts, have = [buf], len(buf)
            while have < end:
                chunk = os.read(fd, min(end - have, 1 << 20) if have > 65536 else 65536)
                if not chunk:
                    raise PlainDataError("truncated frame")
                parts.append(chunk)
                have += len(chunk)
            buf = b"".join(parts)
        self.buf = buf[end:]
        return buf[4:end]
