"""Transitional alias: the fork server now lives in ``zygote.py`` (protocol in ``protocol.py``)."""

from aibench.sandboxes.protocol import read_msg, write_msg  # noqa: F401
from aibench.sandboxes.zygote import main  # noqa: F401
