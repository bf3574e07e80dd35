"""Where ``Predictor.run`` runs: in the server process, or in N worker processes routed by task.

* ``LocalPool`` (``--workers 1``): one network in the server process; jobs wait in a queue served by
  ``engine_threads`` threads (torch releases the GIL inside its ops, so threads run in parallel on cores).
* ``ProcessPool`` (``--workers N``): N processes, each with its own network and session cache; a task always
  goes to the same process (CRC32 of its key), so its session stays warm there.

Both hand back a ``concurrent.futures.Future`` that resolves to the prediction dict or raises ``ServeError``.
At most ``max_queue`` jobs wait; more are refused at once with 503 rather than left to time out.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import queue
import threading
import traceback
import zlib
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace

from ..errors import PseudoClickError
from .errors import Busy, ServeError
from .predictor import Job, Predictor
from .settings import ServeSettings

log = logging.getLogger("pseudoclick.serve")


def _as_serve_error(exc: BaseException) -> ServeError:
    if isinstance(exc, ServeError):
        return exc
    if isinstance(exc, PseudoClickError):
        return ServeError(str(exc), 400)
    log.error("prediction failed:\n%s", "".join(traceback.format_exception(exc)))
    return ServeError(f"internal error ({type(exc).__name__}); the server log has the details", 500)


class _Slots:
    def __init__(self, limit: int):
        self.limit, self.n, self.lock = max(1, int(limit)), 0, threading.Lock()

    def take(self) -> None:
        with self.lock:
            if self.n >= self.limit:
                raise Busy(f"the server is busy ({self.n} requests waiting); try again shortly")
            self.n += 1

    def give(self, _fut=None) -> None:
        with self.lock:
            self.n -= 1


class LocalPool:
    def __init__(self, settings: ServeSettings, predictor: Predictor | None = None):
        self.settings = settings
        self.predictor = predictor or Predictor(settings)
        if settings.warm_up and predictor is None:
            self.predictor.warm_up()
        self.model_version = self.predictor.model_version
        self._executor = ThreadPoolExecutor(max(1, settings.engine_threads), thread_name_prefix="engine")
        self._slots = _Slots(settings.max_queue)

    def submit(self, job: Job) -> Future:
        self._slots.take()
        out: Future = Future()

        def work():
            try:
                out.set_result(self.predictor.run(job))
            except BaseException as exc:  # noqa: BLE001 - every failure becomes a JSON error
                out.set_exception(_as_serve_error(exc))

        try:
            self._executor.submit(work)
        except RuntimeError:
            self._slots.give()
            raise Busy("the server is shutting down") from None
        out.add_done_callback(self._slots.give)
        return out

    def stats(self) -> dict:
        return {"workers": 1, "engine_threads": self.settings.engine_threads,
                "torch_threads": self.settings.resolved_torch_threads(), "waiting": self._slots.n,
                **self.predictor.snapshot()}

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


def _worker_main(index: int, settings: ServeSettings, inbox, outbox) -> None:
    try:
        predictor = Predictor(settings)
        if settings.warm_up:
            predictor.warm_up()
    except BaseException as exc:  # noqa: BLE001
        outbox.put(("failed", index, str(exc)))
        return
    outbox.put(("ready", index, predictor.model_version))
    while True:
        item = inbox.get()
        if item is None:
            return
        job_id, job = item
        try:
            outbox.put(("ok", job_id, predictor.run(job), predictor.snapshot()))
        except BaseException as exc:  # noqa: BLE001
            err = _as_serve_error(exc)
            outbox.put(("error", job_id, (str(err), err.status), predictor.snapshot()))


class ProcessPool:
    def __init__(self, settings: ServeSettings, start_timeout: float = 300.0):
        self.settings = replace(settings, engine_threads=1)
        self.n = max(1, int(settings.workers))
        self._ctx = mp.get_context("spawn")
        self._out = self._ctx.Queue()
        self._procs: list = [None] * self.n
        self._inboxes: list = [None] * self.n
        self._pending: dict[int, tuple[Future, int]] = {}
        self._worker_stats: list[dict] = [{} for _ in range(self.n)]
        self._lock = threading.Lock()
        self._next_id = 0
        self._slots = _Slots(settings.max_queue)
        self._closed = False
        self.model_version = "pseudoclick"
        for i in range(self.n):
            self._start(i)
        ready = 0
        while ready < self.n:
            try:
                msg = self._out.get(timeout=start_timeout)
            except queue.Empty:
                self.close()
                raise ServeError("worker processes did not start in time", 500) from None
            if msg[0] == "failed":
                self.close()
                raise ServeError(f"worker {msg[1]} failed to start: {msg[2]}", 500)
            if msg[0] == "ready":
                self.model_version = msg[2]
                ready += 1
        self._collector = threading.Thread(target=self._collect, name="pool-collector", daemon=True)
        self._collector.start()

    def _start(self, i: int) -> None:
        inbox = self._ctx.Queue()
        p = self._ctx.Process(target=_worker_main, args=(i, self.settings, inbox, self._out),
                              name=f"pseudoclick-serve-worker-{i}", daemon=True)
        p.start()
        self._procs[i], self._inboxes[i] = p, inbox

    def _collect(self) -> None:
        while not self._closed:
            try:
                msg = self._out.get(timeout=1.0)
            except queue.Empty:
                self._check_workers()
                continue
            except (EOFError, OSError):
                return
            kind = msg[0]
            if kind in ("ready", "failed"):
                continue  # a restarted worker
            with self._lock:
                fut, w = self._pending.pop(msg[1], (None, -1))
                if w >= 0:
                    self._worker_stats[w] = msg[3]
            if fut is None:
                continue
            if kind == "ok":
                fut.set_result(msg[2])
            else:
                fut.set_exception(ServeError(*msg[2]))

    def _check_workers(self) -> None:
        for i, p in enumerate(self._procs):
            if p is not None and not p.is_alive() and not self._closed:
                log.error("worker %d exited (code %s); restarting it", i, p.exitcode)
                with self._lock:
                    lost = [(jid, f) for jid, (f, w) in self._pending.items() if w == i]
                    for jid, _ in lost:
                        del self._pending[jid]
                for _, f in lost:
                    f.set_exception(ServeError("the worker answering this task stopped; try again", 503))
                self._start(i)

    def submit(self, job: Job) -> Future:
        if self._closed:
            raise Busy("the server is shutting down")
        self._slots.take()
        w = zlib.crc32(repr(job.key).encode()) % self.n
        fut: Future = Future()
        fut.add_done_callback(self._slots.give)
        with self._lock:
            self._next_id += 1
            jid = self._next_id
            self._pending[jid] = (fut, w)
        self._inboxes[w].put((jid, job))
        return fut

    def stats(self) -> dict:
        with self._lock:
            per = [dict(s) for s in self._worker_stats]
        total: dict = {}
        for s in per:
            for k, v in s.items():
                if isinstance(v, (int, float)):
                    total[k] = total.get(k, 0) + v
        return {"workers": self.n, "torch_threads": self.settings.resolved_torch_threads(),
                "waiting": self._slots.n, **total}

    def close(self) -> None:
        self._closed = True
        for inbox in self._inboxes:
            if inbox is not None:
                try:
                    inbox.put(None)
                except (OSError, ValueError):
                    pass
        for p in self._procs:
            if p is not None:
                p.join(timeout=5)
                if p.is_alive():
                    p.terminate()


def make_pool(settings: ServeSettings):
    return ProcessPool(settings) if settings.workers > 1 else LocalPool(settings)
