"""The inference thread. The UI thread never calls the network: it queues *operations* (small functions
applied to the worker's sessions) and gets :class:`WorkResult` back through a queued signal.

Coalescing: the worker applies every queued operation, and predicts only when the queue is empty again, so
a burst of clicks costs one prediction for the latest click state. Every operation carries the UI's
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
from dataclasses import dataclass, field

from PySide6.QtCore import QObject, QThread, Signal, Slot

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
        self.proposal_rule = ""  # "" = the model's own (Annotator.set_proposal_rule)
        self.grey_network = True  # Annotator.set_grey_network

    @property
    def session(self):
        return self.sessions.get(self.token) if self.token is not None else None

    def switch(self, token: int):
        """Make ``token`` current, creating a fresh session for it when new."""
        if token not in self.sessions:
            if self.template is None:
                raise PseudoClickError("the model is not loaded")
            self.sessions[token] = spawn_session(self.template)
        self.token = token
        return self.sessions[token]


Op = Callable[[WorkerState], bool]  # returns True when a new prediction should follow


class _Worker(QObject):
    result = Signal(object)
    failed = Signal(int, str)
    done = Signal(int)  # the last generation processed (after its result, if any)

    def __init__(self):
        super().__init__()
        self.state = WorkerState()
        self._lock = threading.Lock()
        self._queue: list[tuple[int, Op, bool]] = []

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

    def _process(self) -> int:
        need_predict = False
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
            proposal = s.propose_pseudo_click() if st.proposals else None
            res = WorkResult(generation, st.token, pred, proposal, s.human_clicks, s.pseudo_clicks,
                             s.withdrawn_clicks, time.perf_counter() - t0,
                             s.image_pseudo_lifetime, getattr(s, "live_pseudo_clicks", None))  # fmt: skip
        except Exception as exc:  # noqa: BLE001
            self._fail(generation, exc)
            return generation
        self.result.emit(res)
        return generation

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
        self._thread.start()
        self.generation = 0
        self._inflight = 0
        self.dropped = 0  # stale results dropped (for tests and diagnostics)

    def submit(self, op: Op, predict: bool = True) -> int:
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

    def shutdown(self, timeout_ms: int = 10000) -> None:
        self._thread.quit()
        self._thread.wait(timeout_ms)
