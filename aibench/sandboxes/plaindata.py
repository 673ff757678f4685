"""A small, safe, self-describing binary codec for plain data (no pickle, marshal or eval).

Plain data is exactly: None, bool, int (any size), float (bit-exact: nan/inf/-0.0), complex, str
(lone surrogates included), bytes, bytearray, list, tuple, dict (any plain keys, order kept), set,
frozenset, and the standard library's exact numbers ``fractions.Fraction`` and ``decimal.Decimal``
(honest solutions return them; their equality is the library's). Only exact types: a subclass (``class A(int)`` with a lying ``__eq__``, ``Counter``,
``np.float64``) is not plain data, so no program-defined behaviour can cross.

Wire format: a one-byte tag, then
    int64 ``q`` (8 bytes) | big int ``I`` (u32 length + signed big-endian bytes: no str limit)
    float ``d`` (IEEE binary64) | complex ``j`` (2 x binary64)
    str ``s`` (u32 length + UTF-8 with surrogatepass) | bytes ``b`` / bytearray ``B`` (u32 + raw)
    list ``l`` / tuple ``t`` / set ``S`` / frozenset ``Z`` (u32 count + items) | dict ``D`` (u32 + k, v...)
    Fraction ``R`` (numerator, denominator: two ints) | Decimal ``M`` (u32 length + its str)
    iterator ``i`` (u32 count + items): what an iterator or generator yielded, materialized by the
    sender as ``Materialized``; decoded as a fresh iterator over those items
Encoding and decoding are iterative with hard bounds (bytes, depth, items): hostile input never
recurses, never hangs and every decoding error is one ``PlainDataError``.

Framing (pipes) is ``frames``.
"""

from __future__ import annotations

import struct
import sys


def bind_builtins(namespace: dict) -> None:
    """For a module whose code also runs in the candidate process: ``bind_builtins(globals())``
    at its top binds the builtins it uses as its own globals, so a program that replaces
    ``builtins.len`` & co. changes its own behaviour, never the module's."""
    namespace.update({k: v for k, v in __import__("builtins").__dict__.items() if not k.startswith("_")})


bind_builtins(globals())

MAX_BYTES = 64 << 20
MAX_DEPTH = 1000
MAX_ITEMS = 8_000_000

_Q = struct.Struct(">Bq")
_D = struct.Struct(">Bd")
_J = struct.Struct(">Bdd")
_H = struct.Struct(">BI")
_q_from, _d_from, _dd_from, _u32_from = (struct.Struct(f).unpack_from for f in (">q", ">d", ">dd", ">I"))
_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1

T_NONE, T_TRUE, T_FALSE, T_INT, T_BIG, T_FLOAT, T_COMPLEX = b"NTFqIdj"
T_STR, T_BYTES, T_BARRAY, T_LIST, T_TUPLE, T_DICT, T_SET, T_FSET = b"sbBltDSZ"
# Homogeneous list/tuple fast paths: int64s, floats, strs packed in one go (the common HumanEval args).
T_LIST_Q, T_TUPLE_Q, T_LIST_D, T_TUPLE_D, T_LIST_S, T_TUPLE_S = b"LUGHWX"
T_FRACTION, T_DECIMAL, T_ITER = b"RMi"


class Materialized(list):
    """The items an iterator/generator yielded (sender side). Decodes to ``iter(items)``: the
    receiver gets an iterator again, so ``tuple(result)`` works and ``result == [...]`` stays False,
    as with the original object."""


_CONTAINER_TAGS = {T_LIST: list, T_TUPLE: tuple, T_DICT: dict, T_SET: set, T_FSET: frozenset, T_ITER: lambda: iter(())}
_PACKED = {
    T_LIST_Q: (list, "q"),
    T_TUPLE_Q: (tuple, "q"),
    T_LIST_D: (list, "d"),
    T_TUPLE_D: (tuple, "d"),
    T_LIST_S: (list, "s"),
    T_TUPLE_S: (tuple, "s"),
}
_FAST = {
    (list, int): (T_LIST_Q, "q"),
    (tuple, int): (T_TUPLE_Q, "q"),
    (list, float): (T_LIST_D, "d"),
    (tuple, float): (T_TUPLE_D, "d"),
    (list, str): (T_LIST_S, "s"),
    (tuple, str): (T_TUPLE_S, "s"),
}
_SEQ_TAG = {list: T_LIST, tuple: T_TUPLE, set: T_SET, frozenset: T_FSET, Materialized: T_ITER}
_END = object()  # closes a container on the encoder's stack


def _stdlib(t: type, module: str, name: str):
    """The standard library's class ``module.name`` if ``t`` could be it (its module is already
    imported, so a value of it can exist), else None: no import on the hot path."""
    mod = sys.modules.get(module) if t.__module__ in (module, "_pydecimal") else None
    return getattr(mod, name, None)


class PlainDataError(ValueError):
    """Malformed, oversized or too deeply nested plain-data message."""


class NotPlainData(TypeError):
    """The value (or something inside it) is not of an exact plain-data type."""


def is_plain(value) -> bool:
    try:
        encode(value)
    except (NotPlainData, PlainDataError):
        return False
    return True


def encode(value, max_bytes: int = MAX_BYTES, max_depth: int = MAX_DEPTH, max_items: int = MAX_ITEMS) -> bytes:
    out: list[bytes] = []
    ap = out.append
    stack = [value]
    pop, push, extend = stack.pop, stack.append, stack.extend
    size = depth = items = 0
    while stack:
        v = pop()
        t = type(v)
        items += 1
        if t is int:
            if _INT64_MIN <= v <= _INT64_MAX:
                ap(_Q.pack(T_INT, v))
                size += 9
            else:
                raw = v.to_bytes((v.bit_length() + 8) // 8, "big", signed=True)
                ap(_H.pack(T_BIG, len(raw)))
                ap(raw)
                size += 5 + len(raw)
        elif t is str:
            raw = v.encode("utf-8", "surrogatepass")
            ap(_H.pack(T_STR, len(raw)))
            ap(raw)
            size += 5 + len(raw)
        elif v is None:
            ap(b"N")
            size += 1
        elif t is bool:
            ap(b"T" if v else b"F")
            size += 1
        elif t is float:
            ap(_D.pack(T_FLOAT, v))
            size += 9
        elif t in _SEQ_TAG:
            n = len(v)
            if n > 1 and (t is list or t is tuple):
                kinds = set(map(type, v))
                fast = _FAST.get((t, kinds.pop())) if len(kinds) == 1 else None
                if fast is not None:
                    tag, code = fast
                    try:
                        if code == "s":
                            raws = [x.encode("utf-8", "surrogatepass") for x in v]
                            ap(_H.pack(tag, n) + struct.pack(f">{n}I", *map(len, raws)))
                            ap(b"".join(raws))
                            size += 5 + 4 * n + len(out[-1])
                        else:
                            ap(_H.pack(tag, n) + struct.pack(f">{n}{code}", *v))
                            size += 5 + 8 * n
                        items += n
                        if size > max_bytes or items > max_items:
                            raise PlainDataError("value too large")
                        continue
                    except struct.error:  # an int outside int64: the general path
                        pass
            if depth >= max_depth:
                raise PlainDataError("nesting too deep")
            depth += 1
            ap(_H.pack(_SEQ_TAG[t], len(v)))
            size += 5
            push(_END)
            extend(reversed(v) if t is list or t is tuple or t is Materialized else list(v)[::-1])
        elif t is dict:
            if depth >= max_depth:
                raise PlainDataError("nesting too deep")
            depth += 1
            ap(_H.pack(T_DICT, len(v)))
            size += 5
            push(_END)
            for kv in reversed(v.items()):
                extend(kv[::-1])
        elif v is _END:
            depth -= 1
            items -= 1
        elif t is bytes or t is bytearray:
            ap(_H.pack(T_BYTES if t is bytes else T_BARRAY, len(v)))
            ap(bytes(v))
            size += 5 + len(v)
        elif t is complex:
            ap(_J.pack(T_COMPLEX, v.real, v.imag))
            size += 17
        elif t is _stdlib(t, "fractions", "Fraction"):  # a two-item record: numerator, denominator
            ap(b"R")
            size += 1
            extend((v.denominator, v.numerator))
        elif t is _stdlib(t, "decimal", "Decimal"):
            raw = str(v).encode()
            ap(_H.pack(T_DECIMAL, len(raw)))
            ap(raw)
            size += 5 + len(raw)
        else:
            raise NotPlainData(f"{t.__module__}.{t.__qualname__} is not plain data")
        if size > max_bytes or items > max_items:
            raise PlainDataError("value too large")
    return b"".join(out)


def decode(data: bytes, max_depth: int = MAX_DEPTH, max_items: int = MAX_ITEMS):
    try:
        return _decode(data, max_depth, max_items)
    except PlainDataError:
        raise
    except (ValueError, TypeError, IndexError, ArithmeticError, struct.error, MemoryError, RecursionError) as e:
        raise PlainDataError(f"malformed plain data: {type(e).__name__}") from None


def _decode(data, max_depth, max_items):
    if type(data) is not bytes:
        data = bytes(data)
    n = len(data)
    if n > MAX_BYTES:
        raise PlainDataError("message too large")
    pos = 0
    stack: list[list] = []  # [tag, items still expected, items]
    items = 0
    while True:
        if pos >= n:
            raise PlainDataError("truncated")
        tag = data[pos]
        pos += 1
        items += 1
        if tag == T_INT:
            v = _q_from(data, pos)[0]
            pos += 8
        elif tag == T_STR or tag == T_BYTES or tag == T_BARRAY or tag == T_BIG:
            (ln,) = _u32_from(data, pos)
            pos += 4
            end = pos + ln
            if end > n:
                raise PlainDataError("truncated")
            if tag == T_STR:
                v = data[pos:end].decode("utf-8", "surrogatepass")
            elif tag == T_BIG:
                v = int.from_bytes(data[pos:end], "big", signed=True)
            else:
                v = data[pos:end] if tag == T_BYTES else bytearray(data[pos:end])
            pos = end
        elif tag in _PACKED:
            (count,) = _u32_from(data, pos)
            pos += 4
            kind, code = _PACKED[tag]
            if (8 if code != "s" else 4) * count > n - pos or items + count > max_items:
                raise PlainDataError("packed count exceeds the message")
            items += count
            if code == "s":
                lens = struct.unpack_from(f">{count}I", data, pos)
                pos += 4 * count
                if sum(lens) > n - pos:
                    raise PlainDataError("truncated")
                out, p = [], pos
                for ln in lens:
                    out.append(data[p : p + ln].decode("utf-8", "surrogatepass"))
                    p += ln
                v, pos = (out if kind is list else tuple(out)), p
            else:
                v = struct.unpack_from(f">{count}{code}", data, pos)
                pos += 8 * count
                if kind is list:
                    v = list(v)
        elif tag in _CONTAINER_TAGS:
            (count,) = _u32_from(data, pos)
            pos += 4
            if tag == T_DICT:
                count *= 2
            if count > n - pos or items + count > max_items:
                raise PlainDataError("container count exceeds the message")
            if count:
                if len(stack) >= max_depth:
                    raise PlainDataError("nesting too deep")
                stack.append([tag, count, []])
                continue
            v = _CONTAINER_TAGS[tag]()
        elif tag == T_NONE:
            v = None
        elif tag == T_TRUE or tag == T_FALSE:
            v = tag == T_TRUE
        elif tag == T_FLOAT:
            v = _d_from(data, pos)[0]
            pos += 8
        elif tag == T_COMPLEX:
            v = complex(*_dd_from(data, pos))
            pos += 16
        elif tag == T_FRACTION:
            if len(stack) >= max_depth:
                raise PlainDataError("nesting too deep")
            stack.append([T_FRACTION, 2, []])
            continue
        elif tag == T_DECIMAL:
            (ln,) = _u32_from(data, pos)
            pos += 4
            if ln > min(n - pos, 1 << 16):
                raise PlainDataError("truncated")
            from decimal import Decimal  # lazily: the fork server need not map _decimal

            v = Decimal(data[pos : pos + ln].decode("ascii"))
            pos += ln
        else:
            raise PlainDataError(f"unknown tag {tag}")
        while True:  # hand v to its container; close every container that is now complete
            if not stack:
                if pos != n:
                    raise PlainDataError("trailing bytes")
                return v
            top = stack[-1]
            top[2].append(v)
            top[1] -= 1
            if top[1]:
                break
            stack.pop()
            t, its = top[0], top[2]
            if t == T_LIST:
                v = its
            elif t == T_TUPLE:
                v = tuple(its)
            elif t == T_DICT:
                v = dict(zip(its[::2], its[1::2]))
            elif t == T_SET:
                v = set(its)
            elif t == T_ITER:
                v = iter(its)
            elif t == T_FRACTION:
                if type(its[0]) is not int or type(its[1]) is not int or its[1] <= 0:
                    raise PlainDataError("malformed fraction")
                from fractions import Fraction

                v = Fraction(its[0], its[1])
            else:
                v = frozenset(its)
