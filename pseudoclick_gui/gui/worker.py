"""The inference thread. The UI thread never calls the network: it queues *operations* (small functions
applied to the worker's sessions) and gets :class:`WorkResult` back through a queued signal.

Coalescing: the worker applies every queued operation, and predicts only when the queue is empty again, so
a burst of clicks costs one prediction for the latest click state. The mask is sent to the UI as soon as it
is predicted (``WorkResult.proposal_pending``); the proposal (the pseudo-click pass, often several network
passes) follows in a second result, and is skipped when the user has acted meanwhile.

Idle work: after every batch the worker runs queued *background* jobs (warming the network at the current
image's input size, ...) one at a time, only while no operation is waiting, so they never delay a click by
more than the one job that was already running. Every operation carries the UI's
*generation* number; a result carries the generation of the last operation it includes, and the UI drops a
result older than its latest submitted generation (another result is on its way).

Sessions: one :class:`~pseudoclick_gui.engine.session.Session` per object being drawn, keyed by a *token*
the UI allocates; finishing an object switches to a fresh token, undoing that switches back, so a finished
object's clicks stay undoable. All sessions share the template's network. Session objects are only ever
touched in this thread.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

from ..errors import PseudoClickError

log = logging.getLogger(__name__)


@dataclass
class WorkResult:
    generation: int
    token: int
    prediction: object | None  # engine.types.Prediction
    proposal: object | None  # engine.types.Click (kind "pseudo") or None
    human: list = field(default_factory=list)
    pseudo: list = field(default_factory=list)
    withdrawn: list = field(default_factory=list)
    seconds: float = 0.0
    pseudo_lifetime: str = "object"  # Session.image_pseudo_lifetime: "step" = accepted pseudo clicks expire
    live_pseudo: list | None = None  # Session.live_pseudo_clicks: the accepted pseudo clicks still an input
    proposal_pending: bool = False  # the mask came first; a result with the proposal follows (same generation)
    proposal_only: bool = False  # this result carries the proposal for the mask sent before it


def spawn_session(template):
    """A new session sharing ``template``'s network and image (no copy of the weights): ``Session.spawn``."""
    return template.spawn()


class WorkerState:
    """What operations act on (worker thread only)."""

    def __init__(self):
        self.template = None  # the loaded Session; its image is the current image
        self.sessions: dict[int, object] = {}
        self.token: int | None = None
        self.proposals = True
        self.proposal_rule: str | None = None  # None = the checkpoint's own, "paper" (Session.set_proposal_rule)
        self.kept: dict = {}  # image key -> (sessions, token): the sessions of images left, for their undo history

    @property
    def session(self):
        return self.sessions.get(self.token) if self.token is not None else None

    def switch(self, token: int):
        """Make ``token`` current, creating a fresh session for it when new."""
        if token not in self.sessions:
            if self.template is None:
                raise PseudoClickError("the model is not loaded")
            s = spawn_session(self.template)
            if self.proposal_rule is not None and hasattr(s, "set_proposal_rule"):
                s.set_proposal_rule(self.proposal_rule)
            self.sessions[token] = s
        self.token = token
        return self.sessions[token]


Op = Callable[[WorkerState], bool]  # returns True when a new prediction should follow


class _Worker(QObject):
    result = Signal(object)
    failed = Signal(int, str)
    done = Signal(int)  # the last generation processed (after its result, if any)
    idle = Signal()  # the queue is empty: background jobs may run (connected back to idle_work, queued)

    def __init__(self):
        super().__init__()
        self.state = WorkerState()
        self._lock = threading.Lock()
        self._queue: list[tuple[int, Op, bool]] = []
        self._background: list[Op] = []
        self._owe_proposal = False  # a proposal was dropped for an operation that may not predict again

    def enqueue(self, generation: int, op: Op, predict: bool) -> None:
        with self._lock:
            self._queue.append((generation, op, predict))

    def _take(self):
        with self._lock:
            q, self._queue = self._queue, []
            return q

    @Slot()
    def process(self) -> None:
        generation = self._process()
        if generation >= 0:
            self.done.emit(generation)
        self.idle.emit()

    @Slot()
    def idle_work(self) -> None:
        """Background jobs, one per event-loop turn, so a queued operation always goes first."""
        if self._run_background():
            self.idle.emit()

    def _process(self) -> int:
        need_predict, self._owe_proposal = self._owe_proposal, False  # the prediction itself is cached
        generation = -1
        while True:
            batch = self._take()
            if not batch:
                break
            for gen, op, predict in batch:
                generation = gen
                try:
                    need_predict |= bool(op(self.state)) or predict
                except Exception as exc:  # noqa: BLE001 - every failure becomes a message
                    self._fail(gen, exc)
                    need_predict = False
        if not need_predict:
            return generation
        st = self.state
        s = st.session
        if s is None or getattr(s, "image", None) is None:
            return generation
        t0 = time.perf_counter()
        try:
            pred = s.predict()
            want_proposal = st.proposals and bool(getattr(s, "human_clicks", True))
            res = WorkResult(generation, st.token, pred, None, s.human_clicks, s.pseudo_clicks,
                             s.withdrawn_clicks, time.perf_counter() - t0, s.image_pseudo_lifetime,
                             getattr(s, "live_pseudo_clicks", None), proposal_pending=want_proposal)  # fmt: skip
        except Exception as exc:  # noqa: BLE001
            self._fail(generation, exc)
            return generation
        self.result.emit(res)  # the mask goes on screen now; the pseudo-click pass follows
        if not want_proposal:
            return generation
        if self.pending():  # the user acted meanwhile: this proposal would be stale, the next batch makes one
            self._owe_proposal = True
            return generation
        try:
            # a click queued while the search runs stops it between network passes: the next batch proposes
            proposal = s.propose_pseudo_click(cancelled=self.pending)
        except Exception as exc:  # noqa: BLE001
            self._fail(generation, exc)
            proposal = None
        if self.pending():  # stopped, or stale already
            self._owe_proposal = True
            return generation
        self.result.emit(replace(res, proposal=proposal, proposal_pending=False, proposal_only=True,
                                 seconds=time.perf_counter() - t0))  # fmt: skip
        return generation

    def pending(self) -> bool:
        with self._lock:
            return bool(self._queue)

    def add_background(self, job: Op) -> None:
        """Queue an idle-time job (run after the queue empties, one at a time; its errors are only logged)."""
        with self._lock:
            self._background.append(job)

    def clear_background(self) -> None:
        with self._lock:
            self._background.clear()

    def _run_background(self) -> bool:
        """Run one background job when no operation waits; True when one ran."""
        with self._lock:
            if self._queue or not self._background:
                return False
            job = self._background.pop(0)
        try:
            job(self.state)
        except Exception:  # noqa: BLE001 - idle work must never disturb annotation
            log.warning("background job failed\n%s", traceback.format_exc())
        return True

    def _fail(self, generation: int, exc: BaseException) -> None:
        if isinstance(exc, PseudoClickError):
            msg = str(exc)
        else:
            msg = f"{type(exc).__name__}: {exc}"
            log.error("worker error\n%s", "".join(traceback.format_exception(exc)))
        self.failed.emit(generation, msg)


class InferenceClient(QObject):
    """UI-thread side: ``submit(op)`` queues an operation and returns its generation number; results older
    than the latest generation are dropped before ``result`` is emitted."""

    result = Signal(object)  # WorkResult, fresh only
    failed = Signal(str)
    busyChanged = Signal(bool)
    _kick = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self._thread = QThread()
        self._thread.setObjectName("pseudoclick-inference")
        self._worker = _Worker()
        self._worker.moveToThread(self._thread)
        self._kick.connect(self._worker.process)
        self._worker.result.connect(self._on_result)
        self._worker.failed.connect(self._on_failed)
        self._worker.done.connect(self._settle)
        self._worker.idle.connect(self._worker.idle_work, Qt.ConnectionType.QueuedConnection)
        self._thread.start()
        self.generation = 0
        self._inflight = 0
        self.dropped = 0  # stale results dropped (for tests and diagnostics)

    def submit(self, op: Op, predict: bool = True) -> int:
        if self._thread is None:  # shut down: nothing runs any more
            return self.generation
        self.generation += 1
        self._worker.enqueue(self.generation, op, predict)
        self._inflight = self.generation
        self.busyChanged.emit(True)
        self._kick.emit()
        return self.generation

    @property
    def busy(self) -> bool:
        return self._inflight != 0

    @Slot(int)
    def _settle(self, generation: int) -> None:
        if generation >= self.generation and self._inflight:
            self._inflight = 0
            self.busyChanged.emit(False)

    @Slot(object)
    def _on_result(self, res: WorkResult) -> None:
        if res.generation < self.generation:
            self.dropped += 1
            return
        self.result.emit(res)

    @Slot(int, str)
    def _on_failed(self, generation: int, message: str) -> None:
        self.failed.emit(message)

    def background(self, job: Op) -> None:
        """Run ``job(state)`` in the worker when it has nothing else to do (see the module docstring)."""
        self._worker.add_background(job)
        self._kick.emit()

    def clear_background(self) -> None:
        self._worker.clear_background()

    def shutdown(self, timeout_ms: int = 30000) -> None:
        """Stop the thread (waiting for the operation in flight); safe to call twice. A thread that does not stop
        in time is terminated, so Qt never destroys a running QThread (which aborts the process)."""
        if self._thread is None:
            return
        self._worker.clear_background()
        with self._worker._lock:
            self._worker._queue.clear()
        self._thread.quit()
        if not self._thread.wait(timeout_ms):
            log.warning("the inference thread did not stop within %d ms; terminating it", timeout_ms)
            self._thread.terminate()
            self._thread.wait(5000)
        self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.isRunning()
