"""A headless Chromium driven through chromedriver for the report's browser test.

Selenium is the usual client; this speaks the same W3C WebDriver protocol to chromedriver
directly over HTTP (``requests``), so the test needs only the distribution's ``chromium`` and
``chromium-driver`` packages: selenium 4.52, the one release on the package index here, requires
a ``certifi`` newer than any the index holds and does not install.
"""

from __future__ import annotations

import base64
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import requests

CHROMIUM = next((p for p in ("/usr/bin/chromium", shutil.which("chromium") or "") if p and Path(p).exists()), None)
CHROMEDRIVER = next(
    (p for p in ("/usr/bin/chromedriver", shutil.which("chromedriver") or "") if p and Path(p).exists()), None
)
ELEMENT = "element-6066-11e4-a52e-4f735466cecf"  # the W3C key of an element reference


def available() -> bool:
    return CHROMIUM is not None and CHROMEDRIVER is not None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Browser:
    """One chromedriver process and one headless Chromium session."""

    def __init__(self, width: int = 1400, height: int = 1000):
        assert CHROMIUM and CHROMEDRIVER
        port = _free_port()
        self.proc = subprocess.Popen(
            [CHROMEDRIVER, f"--port={port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self.base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(f"{self.base}/status", timeout=2).json()["value"]["ready"]:
                    break
            except (requests.RequestException, ValueError, KeyError):
                pass
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.proc.kill()
                raise RuntimeError("chromedriver did not come up")
            time.sleep(0.1)
        caps = {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless=new",
                    "--no-sandbox",  # root in CI containers
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    f"--window-size={width},{height}",
                ],
            },
            "goog:loggingPrefs": {"browser": "ALL"},
        }
        try:
            value = self._call("POST", "/session", {"capabilities": {"alwaysMatch": caps}})
        except Exception:
            self.proc.kill()
            raise
        self.session = value["sessionId"]

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        r = requests.request(method, self.base + path, json=body, timeout=60)
        data = r.json()
        if r.status_code != 200:
            raise RuntimeError(f"webdriver {method} {path}: {data.get('value')}")
        return data.get("value")

    def _session(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        return self._call(method, f"/session/{self.session}{path}", body)

    def open(self, url: str) -> None:
        self._session("POST", "/url", {"url": url})

    def run(self, script: str, *args: Any) -> Any:
        """Run ``script`` (a function body: ``return ...``) in the page."""
        return self._session("POST", "/execute/sync", {"script": script, "args": list(args)})

    def console(self) -> list[dict[str, Any]]:
        """The browser's console log since the last call (chromedriver's log endpoint)."""
        return self._session("POST", "/se/log", {"type": "browser"})

    def element(self, css: str) -> str:
        return self._session("POST", "/element", {"using": "css selector", "value": css})[ELEMENT]

    def screenshot(self, css: str) -> bytes:
        """PNG of the element matched by ``css``, as the browser drew it."""
        return base64.b64decode(self._session("GET", f"/element/{self.element(css)}/screenshot"))

    def close(self) -> None:
        try:
            self._session("DELETE", "")
        except Exception:
            pass
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
