"""A Hydra callback for the tests (on PYTHONPATH of the sweep subprocess): kills the MLflow server
whose pid is in ``pid_file`` when the first job of a sweep has ended - a server dying mid-sweep."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback


class KillServerAfterFirstJob(Callback):
    def __init__(self, pid_file: str) -> None:
        self.pid_file = Path(pid_file)
        self.done = False

    def on_job_end(self, config: Any, job_return: Any, **kwargs: Any) -> None:
        if self.done:
            return
        self.done = True
        pid = int(self.pid_file.read_text())
        os.killpg(pid, signal.SIGKILL)
        time.sleep(0.5)  # its listening socket is closed once the process is gone
