"""A real small multirun sweep of model=replay runs, shared by the report tests."""

from __future__ import annotations

import pytest
from example_sweep import run_sweep


@pytest.fixture(scope="session")
def sweep(tmp_path_factory):
    """``python -m aibench -m`` over 2 models x 2 temperatures (4 problems, 3 samples each)."""
    return run_sweep(tmp_path_factory.mktemp("report_sweep"))
