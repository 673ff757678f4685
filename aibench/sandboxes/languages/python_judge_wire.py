"""J's end of the wire to C in the split-process Python judge (``python_judge`` is J and describes
the protocol; ``python_candidate`` is C): ``_Conn`` reads C's ``plaindata`` frames and calls C's
functions through ``_proxy``, writing the mutable arguments' new state back in place; ``_rebuild``
turns C's exception into a builtin or a ``CandidateError``; C exiting or breaking the protocol
raises ``CandidateGone``; ``_hang_up`` ends the conversation. Runs only in J.
"""

from __future__ import annotations

import os
import select
import time

from aibench.sandboxes import plaindata as pd
from aibench.sandboxes.frames import FrameReader, write_frame
from aibench.sandboxes.languages.python_candidate import _BUILTIN_EXC, _MUTABLE


class CandidateError(Exception):
    """The candidate raised an exception whose type is not a builtin (name and message kept)."""


class CandidateGone(BaseException):
    """C exited, closed its pipe or broke the protocol: fatal to the tests, like ``os._exit``."""


_EXC_CLASSES: dict[tuple[str, type], type] = {}


def _rebuild(name: str, base: str, args: tuple) -> BaseException:
    """In J: the candidate's exception as its builtin type, else a CandidateError (also an
    instance of the nearest builtin base, so ``except ValueError`` catches a ValueError subclass)."""
    cls = _BUILTIN_EXC.get(name)
    if cls is not None:
        try:
            return cls(*args)
        except Exception:  # noqa: BLE001 - e.g. UnicodeError subclasses with other args
            return cls(*(str(a)[:1000] for a in args[:1]))
    b = _BUILTIN_EXC.get(base, Exception)
    if (name, b) not in _EXC_CLASSES:
        bases = (CandidateError,) if b is Exception else (CandidateError, b) if issubclass(b, Exception) else (b,)
        try:
            _EXC_CLASSES[name, b] = type(name if name.isidentifier() else "CandidateError", bases, {})
        except TypeError:  # layout conflict
            _EXC_CLASSES[name, b] = CandidateError
    msg = str(args[0])[:1000] if len(args) == 1 else ", ".join(str(a)[:500] for a in args)
    return _EXC_CLASSES[name, b](msg)


class _Conn:
    """J's end of the pipe pair to C."""

    def __init__(self, rfd: int, wfd: int):
        self.reader, self.wfd, self.gone, self.last_tb, self.last_exc = FrameReader(rfd), wfd, None, "", None
        self.eof = False  # the pipe closed under us (C exited or closed it), not a protocol violation

    def recv(self):
        if self.gone:
            raise CandidateGone(self.gone)
        try:
            frame = self.reader.read()
            if frame is None:
                self.eof = True
                raise pd.PlainDataError("the program closed its pipe to the judge or exited before the tests completed")
            return pd.decode(frame)
        except (OSError, pd.PlainDataError) as e:
            self.eof = self.eof or str(e) == "truncated frame"
            self.gone = str(e)
            raise CandidateGone(self.gone) from None

    def broken(self, why: str) -> CandidateGone:
        self.gone = f"protocol violation: {why}"
        return CandidateGone(self.gone)

    def call(self, handle: int, name: str, args: tuple, kwargs: dict):
        try:
            payload = pd.encode(("c", handle, args, kwargs))
        except (pd.NotPlainData, pd.PlainDataError) as e:
            raise TypeError(f"argument of {name}() is not plain data ({e})") from None
        if self.gone:
            raise CandidateGone(self.gone)
        try:
            write_frame(self.wfd, payload)
        except OSError as e:
            self.gone = f"cannot reach the candidate process: {e}"
            raise CandidateGone(self.gone) from None
        reply = self.recv()
        if type(reply) is not tuple or len(reply) not in (3, 6) or reply[0] not in ("r", "e", "x"):
            raise self.broken("malformed reply")
        new = reply[-1]
        if new is not None:
            muts = [a for a in args if type(a) in _MUTABLE] + [a for a in kwargs.values() if type(a) in _MUTABLE]
            if (
                type(new) is not tuple
                or len(new) != len(muts)
                or any(type(a) is not type(b) for a, b in zip(muts, new))
            ):
                raise self.broken("malformed argument state")
            for old, cur in zip(muts, new):
                if old != cur:
                    if type(old) is list or type(old) is bytearray:
                        old[:] = cur
                    else:
                        old.clear()
                        old.update(cur)
        if reply[0] == "r" and len(reply) == 3:
            return reply[1]
        if reply[0] == "x" and len(reply) == 3 and type(reply[1]) is str:
            raise TypeError(f"{name}() returned {reply[1][:300]}: not plain data")
        if (
            reply[0] == "e"
            and len(reply) == 6
            and all(type(x) is str for x in reply[1:3] + reply[4:5])
            and type(reply[3]) is tuple
        ):
            self.last_exc, self.last_tb = _rebuild(*reply[1:4]), reply[4][-1200:]
            raise self.last_exc
        raise self.broken("malformed reply")


def _proxy(conn: _Conn, handle: int, name: str):
    call = conn.call

    def proxy(*args, **kwargs):
        return call(handle, name, args, kwargs)

    proxy.__name__ = proxy.__qualname__ = name
    return proxy


def _hang_up(rfd: int, wfd: int) -> None:
    """Close our write end (C sees EOF, flushes its stdout and exits); wait for that, briefly."""
    try:
        os.close(wfd)
    except OSError:
        pass
    deadline, poller = time.monotonic() + 0.2, select.poll()
    poller.register(rfd, select.POLLIN | select.POLLHUP)
    try:
        while (left := deadline - time.monotonic()) > 0 and poller.poll(left * 1000) and os.read(rfd, 65536):
            pass
    except OSError:
        pass
