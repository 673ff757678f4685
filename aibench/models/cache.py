"""Persistent generation cache: one sqlite file, one row per sample, shared safely by concurrent
processes (the jobs of a parallel sweep).

The key is a hash of everything that determines a sample: backend, model identity (name and,
when the server reports one, its digest), the prompt exactly as sent (raw text or chat
messages), every sampling parameter, the run seed, the task id and the sample index. A rerun of
the same config therefore makes no request, and raising ``run.n_samples`` from 1 to 10 asks only
for the 9 new sample indices. Failed samples are never stored.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS generations (
    key TEXT PRIMARY KEY,
    backend TEXT NOT NULL,
    model TEXT NOT NULL,
    task_id TEXT NOT NULL,
    sample_index INTEGER NOT NULL,
    text TEXT NOT NULL,
    kind TEXT NOT NULL,
    finish_reason TEXT,
    usage TEXT NOT NULL,
    created REAL NOT NULL
)
"""


def cache_key(parts: dict[str, Any]) -> str:
    """A stable hash of a JSON-able dict (key order does not matter)."""
    blob = json.dumps(parts, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class GenerationCache:
    """``get(key)`` / ``put(key, ...)`` over ``<cache_dir>/generations.sqlite``; thread-safe."""

    FILENAME = "generations.sqlite"

    def __init__(self, cache_dir: str | Path):
        import sqlite3

        self.path = Path(cache_dir) / self.FILENAME
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, timeout=30.0)
        # Concurrent runs (the jobs of a sweep, in parallel with hydra/launcher=joblib) share one file:
        # WAL lets readers and one writer work at once; every write is one short transaction, and a
        # writer waits for the lock (timeout) instead of failing. Switching to WAL needs a moment of
        # exclusive access, which several processes opening a new file at once contend for.
        for attempt in range(50):
            try:
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=NORMAL")
                self._db.execute(SCHEMA)
                self._db.commit()
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc) or attempt == 49:
                    raise
                time.sleep(0.05 + 0.01 * attempt)

    def get(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT text, kind, finish_reason, usage FROM generations WHERE key = ?", (key,)
            ).fetchone()
            if row is None:
                return None
        return {"text": row[0], "kind": row[1], "finish_reason": row[2], "usage": json.loads(row[3])}

    def put(
        self,
        key: str,
        *,
        backend: str,
        model: str,
        task_id: str,
        sample_index: int,
        text: str,
        kind: str,
        finish_reason: str | None,
        usage: dict[str, Any],
    ) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO generations VALUES (?,?,?,?,?,?,?,?,?,?)",
                (
                    key,
                    backend,
                    model,
                    task_id,
                    sample_index,
                    text,
                    kind,
                    finish_reason,
                    json.dumps(usage, default=str),
                    time.time(),
                ),
            )
            self._db.commit()

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM generations").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()
