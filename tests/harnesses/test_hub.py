"""aibench.harnesses.hub: an out-of-reach Hub is said at once (datasets retries it for ~25 s), and
never when the load could work (online, a proxy, a cached copy, offline mode)."""

from __future__ import annotations

import socket

import pytest

from aibench.errors import AibenchError
from aibench.harnesses import hub


def refused_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now: connect() is refused
    return port


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """No proxy, empty caches, the Hub endpoint a refused local port."""
    for var in hub.PROXY_VARS + ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "HF_HUB_CACHE", "HF_DATASETS_CACHE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    port = refused_port()
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    return tmp_path / "hf", port


def test_a_refused_endpoint_without_a_cached_copy_is_out_of_reach(offline):
    _home, port = offline
    why = hub.unreachable("google-research-datasets/mbpp")
    assert why is not None and f"127.0.0.1:{port}" in why


def test_a_listening_endpoint_may_serve_the_load(offline, monkeypatch):
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen()
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{srv.getsockname()[1]}")
        assert hub.unreachable("mbpp") is None


@pytest.mark.parametrize(
    ("dataset", "copy"),
    [
        ("mbpp", "hub/datasets--google-research-datasets--mbpp"),  # the Hub's redirect target, any owner
        ("nuprl/MultiPL-E", "hub/datasets--nuprl--MultiPL-E"),
        ("mbpp", "datasets/google-research-datasets___mbpp"),  # datasets' own cache
    ],
)
def test_a_cached_copy_leaves_the_load_to_datasets(offline, dataset, copy):
    home, _port = offline
    (home / copy).mkdir(parents=True)
    assert hub.unreachable(dataset) is None


@pytest.mark.parametrize("var", ["HTTPS_PROXY", "HF_HUB_OFFLINE"])
def test_a_proxy_or_offline_mode_leaves_the_load_to_datasets(offline, monkeypatch, var):
    monkeypatch.setenv(var, "1" if var == "HF_HUB_OFFLINE" else "http://proxy.example:3128")
    assert hub.unreachable("mbpp") is None


def test_bigcode_mbpp_offline_names_the_local_file_route_at_once(offline):
    from aibench.harnesses.bigcode.mbpp import MBPP

    with pytest.raises(AibenchError) as err:
        MBPP().problems()
    message = str(err.value)
    assert "\n" not in message
    assert "Hugging Face Hub is out of reach" in message and "harness.data_paths.mbpp=FILE" in message
