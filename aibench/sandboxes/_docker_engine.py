"""The Docker engine side of ``sandbox=docker``: the SDK and a client for the engine (one-line errors),
the containers' explicit ulimits, and the labels that tie a container to its run and owner process
(so the next run removes what a killed run left)."""

from __future__ import annotations

import os
import socket
import time

from aibench.errors import AibenchError

LABEL = "org.aibench.sandbox"
RUN_LABEL = "org.aibench.run"
OWNER_LABEL = "org.aibench.owner"
BUILD_HINT = "python -m aibench.sandboxes.docker build"


def sdk():
    try:
        import docker
    except ImportError:
        raise AibenchError("the docker Python SDK is not installed: pip install 'docker>=7.0'") from None
    return docker


def connect(docker_host: str | None = None, timeout: float = 120.0):
    """A client for the engine, or a one-line AibenchError saying what to do."""
    docker = sdk()
    where = docker_host or os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    try:
        client = (
            docker.DockerClient(base_url=docker_host, timeout=timeout)
            if docker_host
            else docker.from_env(timeout=timeout)
        )
        client.ping()
        return client
    except docker.errors.DockerException as e:
        msg = str(e)
        if "Permission denied" in msg or "PermissionError" in msg:
            raise AibenchError(
                f"permission denied on the Docker socket {where}: add yourself to the docker group, "
                "or point DOCKER_HOST at a rootless Docker or Podman socket"
            ) from None
        if (
            "FileNotFoundError" in msg
            or "No such file" in msg
            or "Connection refused" in msg
            or "ConnectionError" in msg
        ):
            raise AibenchError(
                f"no Docker daemon answers at {where}: start it (sudo systemctl start docker, or "
                "dockerd &), or set DOCKER_HOST / sandbox.docker_host"
            ) from None
        raise AibenchError(f"cannot use the Docker engine at {where}: {msg.splitlines()[0][:200]}") from None


def container_ulimits() -> dict[str, int]:
    """Explicit open-file and process limits for the containers (the samples' own, lower, limits
    are set inside). Without them each engine picks its own: Podman as root asks runc for nofile
    1048576 and nproc 4194304, which fails with EPERM wherever the engine's hard limits are lower
    (Podman's API service here: 20000 and 32768). Modest fixed values every engine can set; nproc
    counts all processes of uid 65534 on the host, so it leaves room for many workers."""
    import resource

    out = {}
    for name, res, want in (("nofile", resource.RLIMIT_NOFILE, 4096), ("nproc", resource.RLIMIT_NPROC, 16384)):
        hard = resource.getrlimit(res)[1]
        out[name] = want if hard == resource.RLIM_INFINITY else min(hard, want)
    return out


def _proc_start(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def owner_id(pid: int | None = None) -> str:
    pid = os.getpid() if pid is None else pid
    return f"{socket.gethostname()}:{pid}:{_proc_start(pid)}"


def _owner_gone(owner: str) -> bool:
    host, _, rest = owner.partition(":")
    pid, _, start = rest.partition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False  # another machine's (shared engine): not ours to judge
    return _proc_start(int(pid)) != start


def remove_stale(client) -> int:
    """Remove sandbox containers whose owning aibench process no longer exists (a killed run)."""
    n = 0
    for c in client.containers.list(all=True, filters={"label": LABEL}, ignore_removed=True):
        if _owner_gone(c.labels.get(OWNER_LABEL, "")):
            remove_container(client, c.id)
            n += 1
    return n


def remove_container(client, cid: str, wait: float = 10.0) -> None:
    """Force-remove a container and wait until the engine no longer lists it."""
    docker = sdk()
    try:
        client.api.remove_container(cid, force=True)
    except docker.errors.NotFound:
        return
    except docker.errors.APIError:  # e.g. removal already in progress (auto_remove)
        pass
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            client.api.inspect_container(cid)
        except docker.errors.NotFound:
            return
        except docker.errors.APIError as e:
            if "no such container" in str(e).lower():  # Podman answers a removed container with 500
                return
            raise
        time.sleep(0.05)
