"""The warm containers of ``sandbox=docker``: :class:`Conn` (one running container, its attached
stream demultiplexed into a pipe) and :class:`DockerWorker` (a LocalSandbox worker backed by a
container, replaced in the background when it is due for recycling, over a pipe that outlives it).
``sb`` is the owning :class:`~aibench.sandboxes.docker.DockerSandbox` (not imported: it imports this)."""

from __future__ import annotations

import collections
import os
import select
import socket
import struct
import threading
from typing import Any

from aibench.errors import AibenchError
from aibench.sandboxes._docker_engine import BUILD_HINT, LABEL, OWNER_LABEL, RUN_LABEL, remove_container, sdk
from aibench.sandboxes.protocol import read_msg, write_msg

MOUNT = "/opt/aibench"
_BOOT = f"import sys; sys.path.insert(0, {MOUNT!r}); from aibench.sandboxes._docker_entry import main; main()"


class Conn:
    """One running container and the thread that demultiplexes its attached output stream."""

    def __init__(self, sb: Any, index: int, out_fd: int, on_eof):
        docker = sdk()
        self.client = sb.client
        self.out_fd = out_fd
        self.on_eof = on_eof
        self.detached = False
        self.eof = threading.Event()
        self.stderr_tail = bytearray()
        sb._generation += 1
        name = f"aibench-{sb.run_id}-w{index}-{sb._generation}"
        try:
            self.id = sb.client.api.create_container(
                sb.image_ref,
                command=["python3", "-I", "-c", _BOOT],
                name=name,
                user="65534:65534",
                stdin_open=True,
                detach=False,
                tty=False,  # detach=False: StdinOnce
                working_dir="/",
                environment=sb.env,
                labels={LABEL: "1", RUN_LABEL: sb.run_id, OWNER_LABEL: sb.owner},
                network_disabled=not sb.network,
                host_config=sb._host_config,
            )["Id"]
        except docker.errors.ImageNotFound:
            raise AibenchError(f"docker image {sb.image_ref} not found: build it with {BUILD_HINT}") from None
        try:
            sock = sb.client.api.attach_socket(self.id, params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1})
            self._sock_obj = sock  # keeps the HTTP response (and so the connection) alive
            self.sock: socket.socket = getattr(sock, "_sock", sock)
            self.sock.settimeout(None)
            self.wfd = self.sock.fileno()
            self.thread = threading.Thread(target=self._pump, name=f"aibench-docker-{name}", daemon=True)
            self.thread.start()
            sb.client.api.start(self.id)
        except BaseException:
            self.close()
            raise

    def _pump(self) -> None:
        buf = bytearray()
        try:
            while True:
                data = self.sock.recv(1 << 16)
                if not data:
                    break
                buf += data
                while len(buf) >= 8:
                    (n,) = struct.unpack(">I", buf[4:8])
                    if len(buf) < 8 + n:
                        break
                    kind, payload = buf[0], bytes(buf[8 : 8 + n])
                    del buf[: 8 + n]
                    if kind == 1:
                        view = memoryview(payload)
                        while view and not self.detached:
                            view = view[os.write(self.out_fd, view) :]
                    elif kind == 2:
                        self.stderr_tail += payload
                        del self.stderr_tail[:-4096]
        except OSError:
            pass
        finally:
            self.eof.set()
            if not self.detached:
                self.on_eof()  # closes the pipe: the parent sees EOF = worker death, handled by LocalSandbox

    def close(self, remove: bool = True) -> None:
        self.detached = True
        for f in (
            lambda: self.sock.shutdown(socket.SHUT_RDWR),
            lambda: self._sock_obj.close(),
            lambda: self._sock_obj._response.close(),
        ):
            try:
                f()
            except Exception:  # noqa: BLE001
                pass
        if remove and getattr(self, "id", None):
            remove_container(self.client, self.id)


class DockerWorker:
    """A LocalSandbox worker backed by a container. ``rfd`` is a pipe that survives recycling."""

    def __init__(self, sb: Any, index: int):
        self.sb = sb
        self.index = index
        self.pending: dict[int, tuple[Any, Any, int]] = {}
        self.sent: Any = collections.deque()
        self.busy_since = 0.0
        self.retiring = False  # see LocalSandbox._on_worker_death; reset with each new container
        self.samples = 0
        self.recycle: str | None = None
        self.recycled = 0
        self.rfd, self._pipe_w = os.pipe()
        self._pipe_lock = threading.Lock()
        self._next: tuple[threading.Thread, dict[str, Any]] | None = None
        self.conn: Conn | None = None
        self.isolation: dict[str, Any] = {}
        try:
            self._start()
        except BaseException:
            self._close_pipe()
            raise

    @property
    def wfd(self) -> int:
        return self.conn.wfd if self.conn is not None else -1

    @property
    def alive(self) -> bool:
        return self.conn is not None and not self.conn.eof.is_set()

    def _launch(self) -> tuple[Conn, dict[str, Any]]:
        """Start a container and its fork server; its output goes to a private pipe until adopted."""
        sb = self.sb
        r, w = os.pipe()
        lock = threading.Lock()
        state = {"w": w}

        def close_private() -> None:
            with lock:
                if state["w"] >= 0:
                    os.close(state["w"])
                    state["w"] = -1

        conn = Conn(sb, self.index, w, close_private)
        try:
            write_msg(conn.wfd, sb._zygote_cfg(self.index))
            ready = None
            if select.select([r], [], [], sb.start_timeout_s)[0]:
                ready = read_msg(r)
            if not isinstance(ready, dict) or ready.get("kind") != "ready":
                err = bytes(conn.stderr_tail).decode(errors="replace").strip().splitlines()
                raise AibenchError(
                    f"the fork server in container {conn.id[:12]} did not start"
                    + (f": {err[-1][:300]}" if err else " (no answer)")
                )
        except BaseException:
            conn.close()
            close_private()
            raise
        finally:
            os.close(r)
        conn.private_close = close_private
        return conn, ready

    def _adopt(self, conn: Conn, ready: dict[str, Any]) -> None:
        """Route the container's output into this worker's pipe (it is silent between requests)."""
        conn.out_fd = self._pipe_w
        conn.on_eof = self._close_w
        conn.private_close()
        if conn.eof.is_set():  # died in between: let the parent see the death
            self._close_w()
        self.conn = conn
        self.isolation = ready["isolation"]
        self.samples = 0
        self.recycle = None
        self.retiring = False

    def _start(self) -> None:
        self._adopt(*self._launch())

    def prepare_recycle(self) -> None:
        """Start the replacement container in the background while this one drains."""
        if self._next is not None:
            return
        box: dict[str, Any] = {}

        def run() -> None:
            try:
                box["conn"] = self._launch()
            except BaseException as e:  # noqa: BLE001
                box["error"] = e

        t = threading.Thread(target=run, name=f"aibench-docker-next-w{self.index}", daemon=True)
        t.start()
        self._next = (t, box)

    def next_ready(self) -> bool:
        return self._next is None or not self._next[0].is_alive()

    def recycle_now(self) -> None:
        """Replace the container (nothing in flight): same pipe, so LocalSandbox sees the same worker."""
        old, self.conn = self.conn, None
        if old is not None:
            old.close(remove=False)
            threading.Thread(target=remove_container, args=(self.sb.client, old.id), daemon=True).start()
        nxt, self._next = self._next, None
        launched = None
        if nxt is not None:
            nxt[0].join()
            launched = nxt[1].get("conn")
        self._adopt(*(launched or self._launch()))
        self.recycled += 1

    def _discard_next(self) -> None:
        nxt, self._next = self._next, None
        if nxt is not None:
            nxt[0].join()
            if "conn" in nxt[1]:
                conn = nxt[1]["conn"][0]
                conn.close()
                conn.private_close()

    def _close_w(self) -> None:
        with self._pipe_lock:
            if self._pipe_w >= 0:
                os.close(self._pipe_w)
                self._pipe_w = -1

    def _close_pipe(self) -> None:
        self._close_w()
        with self._pipe_lock:
            if self.rfd >= 0:
                os.close(self.rfd)
                self.rfd = -1

    def kill(self) -> None:
        self._discard_next()
        conn, self.conn = self.conn, None
        if conn is not None:
            conn.close()
        self._close_pipe()

    def stop(self) -> None:
        self.kill()
