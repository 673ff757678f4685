"""Is a Hugging Face Hub dataset out of reach? A quick answer before ``datasets`` is asked.

Offline, ``datasets.load_dataset`` spends ~25 s retrying the Hub before it fails (measured on the
development VM, which has no DNS). :func:`unreachable` answers in at most ``PROBE_TIMEOUT`` seconds
when the load cannot succeed: no proxy is configured, no copy of the dataset is in the local caches
and the Hub's host (``HF_ENDPOINT``) does not accept a TCP connection. In every other case (online,
behind a proxy, a cached copy, ``HF_HUB_OFFLINE=1``, which fails fast by itself) it says nothing
and ``datasets`` is asked as before.
"""

from __future__ import annotations

import glob
import os
import socket
import threading
from urllib.parse import urlsplit

PROBE_TIMEOUT = 3.0
PROXY_VARS = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")
TRUE = ("1", "ON", "YES", "TRUE")


def _hf_home() -> str:
    return os.environ.get("HF_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "huggingface"
    )


def cached(dataset: str) -> bool:
    """A copy of ``dataset`` (``org/name`` or ``name``) in the hub cache or ``datasets``' own cache,
    under any owner (the Hub redirects ``mbpp`` to ``google-research-datasets/mbpp``): when in doubt,
    ``datasets`` is asked."""
    base = glob.escape(dataset.rsplit("/", 1)[-1])
    hub = glob.escape(os.environ.get("HF_HUB_CACHE") or os.path.join(_hf_home(), "hub"))
    own = glob.escape(os.environ.get("HF_DATASETS_CACHE") or os.path.join(_hf_home(), "datasets"))
    patterns = (f"datasets--{base}", f"datasets--*--{base}", f"{base}", f"*___{base}")
    return any(glob.glob(os.path.join(hub if p.startswith("datasets--") else own, p)) for p in patterns)


def _probe(host: str, port: int) -> str | None:
    outcome: list[str | None] = []

    def connect() -> None:
        try:
            socket.create_connection((host, port), timeout=PROBE_TIMEOUT).close()
            outcome.append(None)
        except OSError as exc:
            outcome.append(str(exc.strerror or exc))

    thread = threading.Thread(target=connect, name="aibench-hub-probe", daemon=True)  # DNS has no timeout
    thread.start()
    thread.join(PROBE_TIMEOUT)
    if not outcome:
        return f"{host}:{port} did not answer within {PROBE_TIMEOUT:g} s"
    return None if outcome[0] is None else f"{host}:{port}: {outcome[0]}"


def unreachable(dataset: str) -> str | None:
    """Why loading ``dataset`` from the Hub cannot succeed now, or None when it might."""
    if any(os.environ.get(v) for v in PROXY_VARS):
        return None
    if (os.environ.get("HF_HUB_OFFLINE") or os.environ.get("HF_DATASETS_OFFLINE") or "").upper() in TRUE:
        return None
    if cached(dataset):
        return None
    url = urlsplit(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    if not url.hostname:
        return None
    return _probe(url.hostname, url.port or (443 if url.scheme == "https" else 80))
