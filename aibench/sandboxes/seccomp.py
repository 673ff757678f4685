"""A small seccomp-BPF filter for sample processes (stdlib + ctypes, no libseccomp).

A network namespace stops TCP/UDP and abstract unix sockets but not *path-bound* unix sockets,
which follow the filesystem; the minimal mount tree hides daemon sockets, and this filter closes
the route whatever paths are visible: ``socket(AF_UNIX, ...)`` fails with EPERM. It also refuses
syscalls an honest benchmark program never needs and that reach state shared with the host or
bypass the rest of the filter: io_uring (its own socket/connect ops are not seen by seccomp), the
kernel keyrings (not namespaced), bpf, userfaultfd, perf_event_open; sched_setaffinity (a worker's
processes are pinned to one CPU, ``sandbox.pin_cpus``: a sample that widened its own affinity would
run its processes on every core and slow the other workers' samples into their timeouts); a new user namespace
(``unshare``/``clone`` with CLONE_NEWUSER: the kernel surface "root" in a namespace opens, as
Docker's default profile refuses it; ``clone3``, whose flags sit in memory a filter cannot read,
fails with ENOSYS, so the C library falls back to ``clone``); and every syscall of a foreign ABI
(i386 ``int 0x80`` / x32 on x86_64), whose numbers this filter does not know.

``socketpair(AF_UNIX)`` stays allowed: it cannot reach anything outside the process tree.
Installing a filter needs no privilege once ``no_new_privs`` is set; it is inherited by every
child and cannot be removed.
"""

from __future__ import annotations

import ctypes
import errno
import os
import struct

from aibench.sandboxes.isolation import CLONE_NEWUSER, PR_SET_NO_NEW_PRIVS, prctl

PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
RET_ALLOW = 0x7FFF0000
RET_ERRNO = 0x00050000
AF_UNIX = 1

# BPF opcodes
_LD_W_ABS = 0x20
_JEQ_K = 0x15
_JGE_K = 0x35
_JSET_K = 0x45
_RET_K = 0x06

# arch -> (AUDIT_ARCH value, {name: syscall number}, x32 bit or None)
_ARCHES = {
    "x86_64": (
        0xC000003E,
        {
            "socket": 41,
            "io_uring_setup": 425,
            "io_uring_enter": 426,
            "io_uring_register": 427,
            "add_key": 248,
            "request_key": 249,
            "keyctl": 250,
            "bpf": 321,
            "userfaultfd": 323,
            "perf_event_open": 298,
            "sched_setaffinity": 203,
            "unshare": 272,
            "clone": 56,
            "clone3": 435,
        },
        0x40000000,
    ),
    "aarch64": (
        0xC00000B7,
        {
            "socket": 198,
            "io_uring_setup": 425,
            "io_uring_enter": 426,
            "io_uring_register": 427,
            "add_key": 217,
            "request_key": 218,
            "keyctl": 219,
            "bpf": 280,
            "userfaultfd": 282,
            "perf_event_open": 241,
            "sched_setaffinity": 122,
            "unshare": 97,
            "clone": 220,
            "clone3": 435,
        },
        None,
    ),
}
DENIED = (
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "add_key",
    "request_key",
    "keyctl",
    "bpf",
    "userfaultfd",
    "perf_event_open",
    "sched_setaffinity",
)


class _Filter(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def build_program(machine: str | None = None) -> bytes | None:
    """The filter as raw ``struct sock_filter`` bytes, or None on an architecture it does not know."""
    spec = _ARCHES.get(machine or os.uname().machine)
    if spec is None:
        return None
    audit_arch, nrs, x32 = spec
    # Instructions as (code, jt, jf, k) with symbolic jump targets resolved below.
    prog: list[tuple[int, object, object, int]] = [
        (_LD_W_ABS, 0, 0, 4),  # seccomp_data.arch
        (_JEQ_K, 1, 0, audit_arch),  # native: skip the deny
        (_RET_K, 0, 0, RET_ERRNO | errno.EPERM),
        (_LD_W_ABS, 0, 0, 0),  # seccomp_data.nr
    ]
    if x32 is not None:
        prog.append((_JGE_K, "deny", 0, x32))
    prog.append((_JEQ_K, "socket", 0, nrs["socket"]))
    prog.append((_JEQ_K, "flags", 0, nrs["unshare"]))
    prog.append((_JEQ_K, "flags", 0, nrs["clone"]))
    prog.append((_JEQ_K, "enosys", 0, nrs["clone3"]))
    for name in DENIED:
        prog.append((_JEQ_K, "deny", 0, nrs[name]))
    prog.append((_RET_K, 0, 0, RET_ALLOW))
    labels = {"socket": len(prog)}
    prog += [
        (_LD_W_ABS, 0, 0, 16),  # args[0] (low 32 bits, little endian): the domain
        (_JEQ_K, "deny", 0, AF_UNIX),
        (_RET_K, 0, 0, RET_ALLOW),
    ]
    labels["flags"] = len(prog)
    prog += [
        (_LD_W_ABS, 0, 0, 16),  # args[0]: unshare's and clone's flags
        (_JSET_K, "deny", 0, CLONE_NEWUSER),
        (_RET_K, 0, 0, RET_ALLOW),
    ]
    labels["enosys"] = len(prog)
    prog.append((_RET_K, 0, 0, RET_ERRNO | errno.ENOSYS))
    labels["deny"] = len(prog)
    prog.append((_RET_K, 0, 0, RET_ERRNO | errno.EPERM))
    out = bytearray()
    for i, (code, jt, jf, k) in enumerate(prog):
        jt = labels[jt] - i - 1 if isinstance(jt, str) else jt
        jf = labels[jf] - i - 1 if isinstance(jf, str) else jf
        out += struct.pack("=HBBI", code, jt, jf, k)
    return bytes(out)


_PROGRAM = build_program()
_BUF = ctypes.create_string_buffer(_PROGRAM) if _PROGRAM else None
_FPROG = _Filter(len(_PROGRAM) // 8, ctypes.cast(_BUF, ctypes.c_void_p)) if _PROGRAM else None


def install() -> bool:
    """Set no_new_privs and install the filter in this process (inherited by its children).
    Built once at import, so a forked sample allocates nothing here."""
    if _FPROG is None:
        return False
    prctl(PR_SET_NO_NEW_PRIVS, 1)
    return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(_FPROG)) == 0


def describe() -> dict:
    if _FPROG is None:
        return {"enforced": False, "why_not": f"no seccomp filter for architecture {os.uname().machine}"}
    return {
        "enforced": True,
        "how": "seccomp filter: socket(AF_UNIX) refused; "
        + ", ".join(DENIED)
        + " refused; new user namespaces refused (clone3: ENOSYS, clone is used instead); "
        "foreign-ABI syscalls refused",
    }
