"""Every job of a sweep shares one generation cache: processes writing it at the same time must
neither corrupt it nor lose entries (aibench/models/cache.py)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from aibench.models.cache import GenerationCache, cache_key

WRITERS, PER_WRITER = 6, 120

WRITER = """
import sys, time
from aibench.models.cache import GenerationCache, cache_key
cache_dir, writer, n, start = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
while time.time() < start:  # every writer opens the (not yet existing) file at the same moment
    time.sleep(0.001)
cache = GenerationCache(cache_dir)
for i in range(n):
    key = cache_key({"writer": writer, "i": i})
    cache.put(key, backend="fake", model=f"m{writer}", task_id=f"T/{i}", sample_index=i,
              text=f"completion {writer}-{i} " + "x" * (i % 50), kind="completion",
              finish_reason="stop", usage={"writer": writer})
    if i % 10 == 0:  # readers and writers interleave, as in a sweep
        assert cache.get(cache_key({"writer": writer, "i": i // 2})) is not None
cache.close()
print("done", writer)
"""


def test_concurrent_processes_lose_no_entries(tmp_path: Path):
    cache_dir = tmp_path / "cache"  # does not exist yet: the writers race to create it
    start = time.time() + 2.0
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(cache_dir), str(w), str(PER_WRITER), str(start)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for w in range(WRITERS)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0 and out.startswith("done"), err[-2000:]

    cache = GenerationCache(cache_dir)
    try:
        assert len(cache) == WRITERS * PER_WRITER
        for w in range(WRITERS):
            for i in range(PER_WRITER):
                hit = cache.get(cache_key({"writer": w, "i": i}))
                assert hit is not None, (w, i)
                assert hit["text"] == f"completion {w}-{i} " + "x" * (i % 50)
                assert hit["usage"] == {"writer": w} and hit["finish_reason"] == "stop"
        assert cache._db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        cache.close()
