"""Linux isolation primitives used by the fork server (stdlib + ctypes only).

Everything here degrades gracefully: each setup step returns whether it worked and why not, so
``LocalSandbox.describe()`` can report what was actually enforced. ``os.unshare`` only exists from
Python 3.12, hence ctypes.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

import ctypes
import os
import signal
import socket

CLONE_NEWNS = 0x00020000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MNT_DETACH = 2

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
PR_SET_CHILD_SUBREAPER = 36
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4

# the interpreter links libc: its symbols, without ctypes.util (which pulls in subprocess & co.,
# dozens of mappings every fork then copies)
_libc = ctypes.CDLL(None, use_errno=True)


def _check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def unshare(flags: int) -> None:
    _check(_libc.unshare(ctypes.c_int(flags)), "unshare")


def setns(fd: int, nstype: int) -> None:
    _check(_libc.setns(ctypes.c_int(fd), ctypes.c_int(nstype)), "setns")


def mount(source: str, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    _check(
        _libc.mount(
            source.encode(),
            target.encode(),
            fstype.encode() if fstype else None,
            ctypes.c_ulong(flags),
            data.encode() if data else None,
        ),
        f"mount {target}",
    )


def prctl(option: int, arg2: int = 0, arg3: int = 0) -> int:
    return _libc.prctl(
        ctypes.c_int(option), ctypes.c_ulong(arg2), ctypes.c_ulong(arg3), ctypes.c_ulong(0), ctypes.c_ulong(0)
    )


def set_pdeathsig(sig: int = signal.SIGKILL) -> None:
    prctl(PR_SET_PDEATHSIG, sig)


def set_subreaper() -> bool:
    return prctl(PR_SET_CHILD_SUBREAPER, 1) == 0


def set_nondumpable() -> bool:
    """No other process of the same uid may open our /proc/<pid>/fd, mem, environ, or ptrace us.
    Reset by execve and uid changes: call it after those."""
    return prctl(PR_SET_DUMPABLE, 0) == 0


def umount(target: str, flags: int = MNT_DETACH) -> None:
    _check(_libc.umount2(target.encode(), ctypes.c_int(flags)), f"umount {target}")


def pivot_root(new_root: str, put_old: str) -> None:
    nr = {"x86_64": 155, "aarch64": 41}.get(os.uname().machine)
    if nr is None:
        raise OSError(38, "pivot_root: unknown syscall number on this architecture")
    _check(_libc.syscall(ctypes.c_long(nr), new_root.encode(), put_old.encode()), "pivot_root")


def become(uid: int, gid: int) -> None:
    """Switch to an unprivileged uid/gid for good (clears every capability of a root process)."""
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


# built once in the fork server, so a sample's capset touches no fresh ctypes objects
_CAP_HEADER = _CapHeader(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3
_CAP_HEADER_REF = ctypes.byref(_CAP_HEADER)
_NO_CAPS = (_CapData * 2)()


def enter_user_namespace() -> tuple[int, int]:
    """Unprivileged: become root of a new user namespace (own uid/gid mapped to 0), which lets a
    normal user create the network, mount and pid namespaces below. Returns the outer (uid, gid)."""
    uid, gid = os.geteuid(), os.getegid()
    unshare(CLONE_NEWUSER)
    for path, text in (
        ("/proc/self/setgroups", "deny"),
        ("/proc/self/uid_map", f"0 {uid} 1"),
        ("/proc/self/gid_map", f"0 {gid} 1"),
    ):
        with open(path, "w") as f:
            f.write(text)
    return uid, gid


def drop_bounding_set() -> bool:
    """Empty the ambient and bounding capability sets. Done once in the fork server: it keeps its
    own effective capabilities (it still needs them per sample), every child inherits the empty
    bounding set, so no later execve can gain a capability back."""
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)
    for cap in range(64):
        if prctl(PR_CAPBSET_DROP, cap) != 0:
            return ctypes.get_errno() == 22  # EINVAL: past the last capability, all dropped
    return True


def drop_all_capabilities(bounding: bool = True) -> bool:
    """Drop the effective, permitted and inheritable sets (and the bounding and ambient sets unless
    the fork server already did, ``bounding=False``); set no_new_privs.

    After this a uid-0 process is an ordinary user as far as the kernel's privilege checks go
    (cannot mount/umount, setns, kill outside its namespace, raise rlimits, override file modes).
    """
    prctl(PR_SET_NO_NEW_PRIVS, 1)
    if bounding:
        drop_bounding_set()
    return _libc.capset(_CAP_HEADER_REF, _NO_CAPS) == 0


def descendants(pid: int, spare: Collection[int] = ()) -> list[int]:
    """All descendants of ``pid`` found through /proc/<pid>/task/*/children (depth first), except
    the pids in ``spare`` and their own descendants."""
    out: list[int] = []
    stack = [pid]
    while stack:
        p = stack.pop()
        try:
            tasks = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue
        for t in tasks:
            try:
                with open(f"/proc/{p}/task/{t}/children") as f:
                    kids = [k for k in map(int, f.read().split()) if k not in spare]
            except (OSError, ValueError):
                continue
            out.extend(kids)
            stack.extend(kids)
    return out


def kill_tree(pid: int, include_root: bool = True, rounds: int = 20, spare: Collection[int] = ()) -> int:
    """SIGKILL ``pid``'s whole tree, repeating until no descendant is left. Returns how many were
    killed (excluding the root). The caller must be a subreaper (or the tree's reaper) so that
    orphans re-parent to it and are found in the next round."""
    killed: set[int] = set()
    for _ in range(rounds):
        kids = descendants(pid, spare)
        if not kids:
            break
        for k in kids:
            try:
                os.kill(k, signal.SIGKILL)
                killed.add(k)
            except ProcessLookupError:
                pass
        reap_all()
    if include_root:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return len(killed)


def fork_helper(serve: Callable[[socket.socket], object], sock_type: int) -> tuple[int, socket.socket]:
    """Fork a helper process that runs ``serve`` on its end of a new unix socket pair and exits;
    (its pid, our end)."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, sock_type)
    pid = os.fork()
    if pid == 0:
        ours.close()
        try:
            serve(theirs)
        finally:
            os._exit(0)
    theirs.close()
    return pid, ours


def reap_all() -> None:
    """Reap every finished child without blocking."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _open_dir(name: str, parent: int) -> int:
    """Open a sub-directory; one a sample chmod'ed to 0 (we own it, without root too) is made
    readable first."""
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
    try:
        return os.open(name, flags, dir_fd=parent)
    except PermissionError:
        os.chmod(name, 0o700, dir_fd=parent)
        return os.open(name, flags, dir_fd=parent)


def remove_tree(path: str, max_entries: int = 10_000_000) -> None:
    """Remove a directory tree without recursion and with two open fds at most, however deep a
    sample nested it (``shutil.rmtree`` hits RecursionError, deep fd stacks hit RLIMIT_NOFILE and
    long paths hit PATH_MAX): sub-directories are flattened into the top directory by rename,
    files unlinked, empty directories removed; symlinks are never followed."""
    try:
        try:
            top = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        except PermissionError:  # chmod'ed to 0 by a sample (we own it)
            os.chmod(path, 0o700)
            top = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError:
        try:
            os.unlink(path)
        except OSError:
            pass
        return
    tag, n = os.urandom(6).hex(), 0
    try:
        while n < max_entries:
            with os.scandir(top) as it:
                entries = [(e.name, e.is_dir(follow_symlinks=False)) for e in it]
            if not entries:
                break
            for name, is_dir in entries:
                n += 1
                try:
                    if not is_dir:
                        os.unlink(name, dir_fd=top)
                        continue
                    try:
                        os.rmdir(name, dir_fd=top)
                        continue
                    except OSError:
                        pass
                    sub = _open_dir(name, top)
                    try:
                        with os.scandir(sub) as it:
                            for e in it:
                                n += 1
                                os.rename(e.name, f".rm-{tag}-{n}", src_dir_fd=sub, dst_dir_fd=top)
                    finally:
                        os.close(sub)
                    os.rmdir(name, dir_fd=top)
                except OSError:
                    continue
    finally:
        os.close(top)
    try:
        os.rmdir(path)
    except OSError:
        pass
