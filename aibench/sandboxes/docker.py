"""Docker sandbox: the local sandbox's fork server, run inside warm, locked-down containers.

``sandbox=docker`` is :class:`~aibench.sandboxes.local.LocalSandbox` with one change: each worker is
a container of the aibench sandbox image instead of a local process. The container runs the same
fork server, speaking the same length-prefixed protocol over its attached stdin/stdout, so the
scheduling, requeueing and verdict logic (and the nonce-proven verdicts) are shared unchanged.

Every container: ``network_mode=none``, read-only root, a size-limited tmpfs on ``/tmp``, memory
(= memory + swap), pids and CPU limits, every capability dropped, ``no-new-privileges``, uid 65534,
a private IPC namespace, only the aibench package mounted (read-only). Inside, each sample is a
fresh process forked from the fork server, with its own temp dir, rlimits and a kill of its whole
process tree; the scratch space is wiped between samples (see ``_docker_entry.py``). A container is
replaced after an incident (timeout, memory, stray processes killed) and every ``recycle_after``
samples. Containers carry the labels ``org.aibench.sandbox=1``, ``org.aibench.run=<run id>`` and
``org.aibench.owner=<host>:<pid>:<start time>``; they are removed on close, on Ctrl-C and at exit,
removed by the engine when their stdin closes (a killed run), and a new sandbox removes those
whose owner process is gone.

Build the image: ``python -m aibench.sandboxes.docker build`` (see ``_docker_image.py``). The
engine is whatever ``DOCKER_HOST`` (or ``sandbox.docker_host``) points at: rootful or rootless
Docker, or Podman's Docker-compatible socket; it must run on this machine (the package is a bind
mount).

Modules: this one (config, the sandbox, the image CLI), ``_docker_engine`` (SDK, client, ulimits,
labels, stale-container removal), ``_docker_pool`` (the warm containers), ``_docker_entry`` (the
fork server's entry inside a container), ``_docker_image`` (building the image).
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import uuid
from dataclasses import dataclass
from typing import Any, Optional

from aibench.errors import AibenchError
from aibench.registry import register
from aibench.sandboxes._docker_engine import (  # noqa: F401 - re-exported: the engine side's public names
    BUILD_HINT,
    LABEL,
    OWNER_LABEL,
    RUN_LABEL,
    connect,
    container_ulimits,
    owner_id,
    remove_container,
    remove_stale,
    sdk,
)
from aibench.sandboxes._docker_pool import MOUNT, DockerWorker
from aibench.sandboxes.local import LocalSandbox, LocalSandboxConfig
from aibench.types import Status, Verdict

_INCIDENTS = (Status.TIMEOUT, Status.MEMORY, Status.OUTPUT_LIMIT, Status.SANDBOX_ERROR)


@dataclass
class DockerSandboxConfig(LocalSandboxConfig):
    """Schema of ``conf/sandbox/docker.yaml`` (registered as ``schema/sandbox/docker``).

    The pool has ``run.workers`` containers. ``network``, ``isolate_filesystem``, ``pid_namespace``
    and ``drop_capabilities`` are the fork server's own steps; inside a container they degrade
    (no capabilities) and the container enforces network/filesystem/memory/pids isolation.
    """

    image: Optional[str] = None  # None: the newest aibench-sandbox tag of this recipe (with, else without toolchains)
    memory_bytes: int = 2560 * 1024 * 1024  # container memory = memory+swap (per-sample RLIMIT_AS is clamped below it)
    pids_limit: int = 0  # container pids limit; 0 = limits.max_processes + 16 (the fork server and its threads)
    cpus: float = 1.0  # CPU quota per container
    tmpfs_bytes: int = 0  # size of the /tmp tmpfs; 0 = limits.scratch_bytes
    recycle_after: int = 500  # replace a container after this many samples (and after every incident)
    docker_host: Optional[str] = None  # engine socket; None = $DOCKER_HOST, else the default socket
    start_timeout_s: float = 60.0  # a container's fork server must answer within this


@register("sandbox", "docker", DockerSandboxConfig)
class DockerSandbox(LocalSandbox):
    """LocalSandbox whose workers are warm containers (see module docstring)."""

    name = "docker"

    def __init__(self, cfg: DockerSandboxConfig | None = None, /, **settings: Any):
        from aibench.config import configure

        cfg = configure(self, cfg, settings)
        super().__init__(cfg)
        from aibench.sandboxes import _docker_image

        image = cfg.image
        self.client = connect(cfg.docker_host)
        docker = sdk()
        self.docker_host = cfg.docker_host
        self.memory_bytes = cfg.memory_bytes
        self.pids = cfg.pids_limit or self.limits.max_processes + 16
        self.cpus = cfg.cpus
        self.tmpfs_bytes = cfg.tmpfs_bytes or self.limits.scratch_bytes
        self.recycle_after = max(1, cfg.recycle_after)
        self.start_timeout_s = cfg.start_timeout_s
        candidates = [image] if image else _docker_image.default_images()
        self.image = None
        for ref in candidates:
            try:
                self.image = self.client.images.get(ref)
                break
            except docker.errors.ImageNotFound:
                continue
            except docker.errors.APIError as e:
                raise AibenchError(f"cannot inspect docker image {ref}: {e.explanation or e}") from None
        if self.image is None:
            raise AibenchError(
                f"docker image {candidates[0]} not found: build it with {BUILD_HINT}"
                + ("" if image else " (or set sandbox.image)")
            )
        self.image_ref = self.image.id
        self.image_tag = (self.image.tags or [candidates[0]])[0]
        self.run_id = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.owner = owner_id()
        self._generation = 0
        self.stats.update(recycled_containers=0, stale_containers_removed=remove_stale(self.client))
        pkg = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        self._host_config = self.client.api.create_host_config(
            network_mode="bridge" if self.network else "none",
            read_only=True,
            # exec: compiled programs (g++ binaries) run from the sample's scratch dir (docker's default is noexec)
            tmpfs={
                "/tmp": f"rw,exec,nosuid,nodev,size={self.tmpfs_bytes},mode=1777",
                # Podman mounts a writable, unlimited tmpfs here on a read-only root (Docker does not):
                # a place no scratch wipe covers, kept across samples. An empty read-only one instead.
                "/var/tmp": "ro,nosuid,nodev,noexec,size=4k,mode=755",
            },
            mem_limit=self.memory_bytes,
            memswap_limit=self.memory_bytes,
            pids_limit=self.pids,
            nano_cpus=int(self.cpus * 1e9),
            cap_drop=["ALL"],
            security_opt=["no-new-privileges"],
            ipc_mode="private",
            shm_size=64 * 1024,
            binds={os.path.join(pkg, "aibench"): {"bind": MOUNT + "/aibench", "mode": "ro"}},
            auto_remove=True,  # the zygote exits when stdin closes (even if we are SIGKILLed)
            ulimits=[docker.types.Ulimit(name=n, soft=v, hard=v) for n, v in container_ulimits().items()],
        )

    # ------------------------------------------------------------------ workers
    def _spawn_worker(self, index: int) -> DockerWorker:  # type: ignore[override]
        return DockerWorker(self, index)

    def _after_verdict(self, w, verdict: Verdict) -> None:
        w.samples += 1
        if verdict.status in _INCIDENTS:
            w.recycle = verdict.status.value
        elif (verdict.detail or {}).get("strays_killed"):
            w.recycle = "stray processes"
        elif w.samples >= self.recycle_after:
            w.recycle = f"{w.samples} samples"
        if w.recycle:
            w.prepare_recycle()  # the replacement starts now; swapped in once w has drained (see _stalled)

    def _stalled(self, w, now: float) -> bool:
        """A container due for recycling gets nothing more queued: it drains, then is replaced by one
        started in the background meanwhile (so a recycle never blocks the other workers)."""
        if getattr(w, "recycle", None):  # nothing queued until drained and the replacement has started
            return bool(w.sent) or not w.next_ready()
        return super()._stalled(w, now)

    def _submit(self, w, tag, program, attempt: int = 0):
        if getattr(w, "recycle", None) and not w.sent:
            self._recycle(w)
        return super()._submit(w, tag, program, attempt)

    def _recycle(self, w: DockerWorker) -> None:
        try:
            w.recycle_now()
            self.stats["recycled_containers"] += 1
        except Exception:  # noqa: BLE001 - next write fails -> worker death -> replaced by LocalSandbox
            w.recycle = None

    def close(self) -> None:
        workers = list(self._workers)
        self._workers.clear()
        threads = [threading.Thread(target=w.kill) for w in workers]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    # ------------------------------------------------------------------ limits and manifest
    def preflight(self, languages: list[str]) -> list[str]:
        """What the image lacks for ``languages`` (one line each, naming the fix): the local
        sandbox's toolchain check, run inside a throwaway container of this image with the same
        limits (no network, read-only root, uid 65534), removed at once."""
        langs = [lang for lang in dict.fromkeys(languages) if lang != "python"]
        if not langs:
            return []
        docker = sdk()
        code = (
            f"import sys; sys.path.insert(0, {MOUNT!r}); from aibench.sandboxes.languages import toolchains; "
            "print('\\n'.join(toolchains.check(sys.argv[1:])))"
        )
        cfg = dict(self._host_config)
        cfg["AutoRemove"] = False  # removed below, after its output is read
        cid = None
        try:
            cid = self.client.api.create_container(
                self.image_ref,
                command=["python3", "-I", "-c", code, *langs],
                user="65534:65534",
                working_dir="/",
                environment=self.env,
                labels={LABEL: "1", RUN_LABEL: self.run_id, OWNER_LABEL: self.owner},
                network_disabled=not self.network,
                host_config=cfg,
            )["Id"]
            self.client.api.start(cid)
            status = self.client.api.wait(cid, timeout=300).get("StatusCode")
            out = self.client.api.logs(cid, stdout=True, stderr=False).decode("utf-8", "replace")
            err = self.client.api.logs(cid, stdout=False, stderr=True).decode("utf-8", "replace")
        except docker.errors.DockerException as e:
            return [f"cannot check the toolchains in docker image {self.image_tag}: {e}"]
        finally:
            if cid is not None:
                remove_container(self.client, cid)
        if status != 0:
            last = (err.strip().splitlines() or [f"exit {status}"])[-1]
            return [f"cannot check the toolchains in docker image {self.image_tag}: {last}"]
        return [
            f"{line} (in docker image {self.image_tag}: rebuild it with {BUILD_HINT}, or set sandbox.image)"
            for line in out.splitlines()
            if line.strip()
        ]

    def applied(self, timeout: float) -> dict[str, Any]:
        lim = super().applied(timeout)
        cap = self.memory_bytes - 192 * 1024 * 1024  # headroom for the fork server
        if lim["memory_bytes"] > cap > 0:
            lim["memory_bytes"] = cap
            lim.setdefault("notes", []).append(f"memory clamped below the container limit {self.memory_bytes}")
        return lim

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        inside = dict(d.get("isolation", {}))
        version: dict[str, Any] = {}
        try:
            version = self.client.version()
        except Exception:  # noqa: BLE001
            pass
        d["isolation"] = {
            "network": {"enforced": not self.network, "how": "container network_mode=none (loopback only)"}
            if not self.network
            else {"enforced": False, "why_not": "network=true in config"},
            "filesystem": {
                "enforced": True,
                "how": "read-only container root; /tmp a private tmpfs "
                f"({self.tmpfs_bytes} bytes) wiped between samples; only the aibench package "
                "mounted (read-only); no host path writable",
            },
            "pid_namespace": {
                "enforced": True,
                "how": "container pid namespace; the fork server is its init "
                "(unkillable from inside) and kills each sample's whole process tree",
            },
            "process_limit": {
                "enforced": True,
                "how": f"container pids limit {self.pids}; container ulimits {container_ulimits()}",
            },
            "memory": {
                "enforced": True,
                "how": f"container memory = memory+swap {self.memory_bytes} bytes; per-sample RLIMIT_AS below it",
            },
            "cpu": f"{self.cpus:g} CPUs per container",
            "capabilities": {"dropped": True, "how": "cap_drop=ALL, no-new-privileges, uid 65534"},
            "ipc": "private IPC namespace per container, SysV objects removed between samples",
            "fork_server_inside_container": inside,
        }
        d["docker"] = {
            "image": self.image_tag,
            "image_id": self.image.id,
            "engine": {k: version.get(k) for k in ("Version", "ApiVersion", "Os", "Arch", "KernelVersion")},
            "engine_components": [c.get("Name") for c in version.get("Components", [])],
            "docker_host": self.docker_host or os.environ.get("DOCKER_HOST") or "default socket",
            "run_label": f"{RUN_LABEL}={self.run_id}",
            "pool": "run.workers warm containers; recycled after an incident (timeout, memory, output limit, "
            f"stray processes) and every {self.recycle_after} samples",
            "stats": dict(self.stats),
        }
        return d


# ---------------------------------------------------------------------------- CLI
def _cli(argv: list[str] | None = None) -> int:
    from aibench.sandboxes import _docker_image

    ap = argparse.ArgumentParser(
        prog="python -m aibench.sandboxes.docker", description="The aibench Docker sandbox image and containers."
    )
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="build the sandbox image (skipped when the tag exists)")
    b.add_argument(
        "--mode",
        choices=("auto", "dockerfile", "offline"),
        default="auto",
        help="dockerfile: docker/Dockerfile (needs an image registry); offline: debootstrap + "
        "docker import (needs root and a Debian mirror); auto: dockerfile if its base image is "
        "local or debootstrap cannot run here, else offline",
    )
    b.add_argument("--no-toolchains", action="store_true", help="python3 only (no nodejs, JDK, g++)")
    b.add_argument("--force", action="store_true", help="rebuild even if the tag exists")
    sub.add_parser("tag", help="print the image tag of this recipe")
    sub.add_parser("clean", help="remove every aibench sandbox container whose run is gone")
    args = ap.parse_args(argv)
    try:
        if args.cmd == "tag":
            print(_docker_image.image_tag(True))
            return 0
        client = connect(timeout=1800)
        if args.cmd == "clean":
            print(f"removed {remove_stale(client)} stale container(s)")
            return 0
        r = _docker_image.build(client, args.mode, toolchains=not args.no_toolchains, force=args.force)
        size = f"{r['size'] / 1e9:.2f} GB" if r.get("size") else "?"
        how = "already present" if not r["built"] else f"built ({r['mode']}) in {r['seconds']:.0f} s"
        print(f"{r['tag']} {how}: id {r['id'][:19]}, {size}")
        return 0
    except AibenchError as e:
        print(f"aibench: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("aibench: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(_cli())
