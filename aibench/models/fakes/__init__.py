"""Fake model servers for tests and benchmarks (stdlib only, bound to 127.0.0.1, port 0).

Import with the ``tests`` directory on sys.path (``from aibench.models.fakes import FakeOllama``) or by path::

    with FakeOllama(latency=0.1) as srv:
        srv.answers.wrong.add("HumanEval/3")       # deliberately wrong answer for one task
        srv.inject("500", times=2)                  # next two generation requests fail
        ... srv.url ... srv.generation_requests()   # every request body, for assertions
"""

from .ollama import DIGEST, FakeOllama
from .openai import FakeOpenAI
from .server import Answers, FakeServer

__all__ = ["Answers", "DIGEST", "FakeOllama", "FakeOpenAI", "FakeServer"]
