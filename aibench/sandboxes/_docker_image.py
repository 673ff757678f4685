"""The aibench sandbox image: what it holds, its content-derived tag, and two ways to build it.

* ``dockerfile``: ``docker/Dockerfile`` (``FROM debian:bookworm-slim``) for machines that reach an
  image registry;
* ``offline``: ``debootstrap --variant=minbase`` of Debian bookworm from the apt mirror this machine
  already uses, then ``docker import`` of that root (no image registry involved).

The tag is ``aibench-sandbox:<12 hex>``, a hash of the package list and the recipe (this file's
``RECIPE_VERSION`` plus the Dockerfile text), so a changed recipe gets a new tag and an existing tag
is never rebuilt. ``auto`` picks ``dockerfile`` when the base image is already local or debootstrap
cannot run here (not installed, not root), else ``offline``: it never probes a registry.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from aibench.errors import AibenchError

REPO_NAME = "aibench-sandbox"
RECIPE_VERSION = 1
SUITE = "bookworm"
BASE_IMAGE = "debian:bookworm-slim"
BASE_PACKAGES = ["python3"]
# The languages issue's toolchains: JavaScript, Java (with javatuples, as MultiPL-E's Java tests
# import it), C++.
TOOLCHAIN_PACKAGES = ["nodejs", "default-jdk-headless", "libjavatuples-java", "g++"]
SANDBOX_USER = "65534:65534"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
DOCKERFILE = Path(__file__).resolve().parent.parent.parent / "docker" / "Dockerfile"


def packages(toolchains: bool = True) -> list[str]:
    return BASE_PACKAGES + (TOOLCHAIN_PACKAGES if toolchains else [])


def _dockerfile_text() -> str:
    try:
        return DOCKERFILE.read_text(encoding="utf-8")
    except OSError:
        return ""


def image_tag(toolchains: bool = True) -> str:
    recipe = json.dumps(
        {
            "version": RECIPE_VERSION,
            "suite": SUITE,
            "packages": packages(toolchains),
            "user": SANDBOX_USER,
            "dockerfile": _dockerfile_text(),
        },
        sort_keys=True,
    )
    return f"{REPO_NAME}:{hashlib.sha256(recipe.encode()).hexdigest()[:12]}"


def default_images() -> list[str]:
    """Tags DockerSandbox looks for when ``sandbox.image`` is not set, in order of preference."""
    return [image_tag(True), image_tag(False)]


def apt_mirror() -> str:
    """The Debian mirror this machine's apt uses (deb822 ``.sources`` or one-line ``.list``)."""
    files = [
        "/etc/apt/sources.list",
        *sorted(glob.glob("/etc/apt/sources.list.d/*.list")),
        *sorted(glob.glob("/etc/apt/sources.list.d/*.sources")),
    ]
    for path in files:
        try:
            text = Path(path).read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        if path.endswith(".sources"):
            for stanza in text.split("\n\n"):
                fields: dict[str, str] = {}
                for line in stanza.splitlines():
                    if ":" in line and not line.lstrip().startswith("#"):
                        k, v = line.split(":", 1)
                        fields[k.strip().lower()] = v.strip()
                suites = fields.get("suites", "").split()
                if (
                    "deb" in fields.get("types", "").split()
                    and SUITE in suites
                    and "main" in fields.get("components", "").split()
                ):
                    uri = fields.get("uris", "").split()
                    if uri and "security" not in uri[0]:
                        return uri[0].rstrip("/")
        else:
            for line in text.splitlines():
                parts = line.split()
                if len(parts) >= 4 and parts[0] == "deb" and parts[2] == SUITE and "security" not in parts[1]:
                    return [p for p in parts[1:] if not p.startswith("[")][0].rstrip("/")
    return DEFAULT_MIRROR


def _say(msg: str) -> None:
    print(f"aibench: {msg}", file=sys.stderr, flush=True)


def choose_mode(client: Any) -> str:
    import docker

    try:
        client.images.get(BASE_IMAGE)
        return "dockerfile"
    except docker.errors.ImageNotFound:
        pass
    if shutil.which("debootstrap") and os.geteuid() == 0:
        return "offline"
    return "dockerfile"


def build(client: Any, mode: str = "auto", toolchains: bool = True, force: bool = False) -> dict[str, Any]:
    """Build (or find) the sandbox image; returns ``{"tag", "id", "size", "mode", "seconds", "built"}``."""
    import docker

    tag = image_tag(toolchains)
    if not force:
        try:
            img = client.images.get(tag)
            return {
                "tag": tag,
                "id": img.id,
                "size": img.attrs.get("Size"),
                "mode": "existing",
                "seconds": 0.0,
                "built": False,
            }
        except docker.errors.ImageNotFound:
            pass
    if mode == "auto":
        mode = choose_mode(client)
    t0 = time.monotonic()
    if mode == "dockerfile":
        _build_dockerfile(client, tag, toolchains)
    elif mode == "offline":
        _build_offline(client, tag, toolchains)
    else:
        raise AibenchError(f"unknown build mode {mode!r}: use auto, dockerfile or offline")
    img = client.images.get(tag)
    return {
        "tag": tag,
        "id": img.id,
        "size": img.attrs.get("Size"),
        "mode": mode,
        "seconds": round(time.monotonic() - t0, 1),
        "built": True,
    }


def _labels(toolchains: bool, mode: str) -> dict[str, str]:
    return {
        "org.aibench.sandbox": "1",
        "org.aibench.recipe": str(RECIPE_VERSION),
        "org.aibench.packages": " ".join(packages(toolchains)),
        "org.aibench.build": mode,
    }


def _build_dockerfile(client: Any, tag: str, toolchains: bool) -> None:
    import docker

    if not DOCKERFILE.is_file():
        raise AibenchError(f"{DOCKERFILE} not found (it ships with the aibench source tree); use --mode offline")
    _say(f"building {tag} from {DOCKERFILE} (needs an image registry for {BASE_IMAGE})")
    try:
        _img, logs = client.images.build(
            path=str(DOCKERFILE.parent),
            dockerfile=DOCKERFILE.name,
            tag=tag,
            rm=True,
            forcerm=True,
            buildargs={"PACKAGES": " ".join(packages(toolchains))},
            labels=_labels(toolchains, "dockerfile"),
        )
        for chunk in logs:
            line = chunk.get("stream", "").rstrip()
            if line:
                print(line, file=sys.stderr)
    except docker.errors.BuildError as e:
        raise AibenchError(f"docker build failed: {e.msg}; without a registry use --mode offline") from None
    except docker.errors.APIError as e:
        raise AibenchError(
            f"docker build failed: {e.explanation or e}; without a registry use --mode offline"
        ) from None


def _build_offline(client: Any, tag: str, toolchains: bool) -> None:
    if os.geteuid() != 0:
        raise AibenchError(
            "the offline build runs debootstrap, which needs root: run it with sudo, or use "
            "--mode dockerfile on a machine that reaches an image registry"
        )
    if not shutil.which("debootstrap"):
        raise AibenchError("debootstrap not found: apt-get install debootstrap (or use --mode dockerfile)")
    mirror = apt_mirror()
    work = tempfile.mkdtemp(prefix="aibench-rootfs-", dir=os.environ.get("AIBENCH_BUILD_DIR") or "/var/tmp")
    root = os.path.join(work, "rootfs")
    try:
        cmd = ["debootstrap", "--variant=minbase", "--include=" + ",".join(packages(toolchains)), SUITE, root, mirror]
        _say(f"debootstrap {SUITE} from {mirror} with {', '.join(packages(toolchains))} (a few minutes)")
        log = os.path.join(work, "debootstrap.log")
        with open(log, "wb") as f:
            proc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT)
        if proc.returncode != 0:
            tail = Path(log).read_text(errors="replace").strip().splitlines()[-3:]
            raise AibenchError(f"debootstrap failed (exit {proc.returncode}): {' | '.join(tail)}")
        # smaller image, nothing that changes between builds of the same recipe
        for pattern in (
            "var/cache/apt/archives/*.deb",
            "var/lib/apt/lists/*",
            "var/log/*",
            "tmp/*",
            "usr/share/doc/*",
            "usr/share/man/*",
            "usr/share/info/*",
        ):
            for p in glob.glob(os.path.join(root, pattern)):
                shutil.rmtree(p, ignore_errors=True) if os.path.isdir(p) and not os.path.islink(p) else os.unlink(p)
        _say(f"importing the root into docker as {tag}")
        changes = [
            f"USER {SANDBOX_USER}",
            "WORKDIR /",
            'CMD ["python3"]',
            "ENV LANG=C.UTF-8",
            *(f'LABEL {k}="{v}"' for k, v in _labels(toolchains, "offline").items()),
        ]
        tar = subprocess.Popen(["tar", "--numeric-owner", "-C", root, "-c", "."], stdout=subprocess.PIPE)
        repo, _, version = tag.partition(":")
        try:
            client.api.import_image(src=tar.stdout, stream_src=True, repository=repo, tag=version, changes=changes)
        finally:
            tar.stdout.close()
            if tar.wait() != 0:
                raise AibenchError("tar of the debootstrapped root failed")
    finally:
        _umount_under(root)
        shutil.rmtree(work, ignore_errors=True)


def _umount_under(root: str) -> None:
    """A failed debootstrap may leave /proc or /sys mounted in the root: never rmtree through them."""
    try:
        with open("/proc/self/mounts") as f:
            points = [line.split()[1].replace("\\040", " ") for line in f]
    except OSError:
        return
    for p in sorted((p for p in points if p == root or p.startswith(root + "/")), key=len, reverse=True):
        subprocess.run(["umount", "-l", p], capture_output=True)
