"""The annotation state machine (no widgets): the project, the current image, the object being drawn, the
one undo stack, and the inference client. The main window observes its signals and paints.

Flow of a human click: :meth:`click` pushes a :class:`~.commands.ClickCommand` (the session op is queued to
the worker thread, the click is recorded in the project at once) -> the worker predicts and proposes ->
:meth:`_on_result` keeps the prediction, saves the draft mask to the project, shows the proposal (or
auto-accepts it above the threshold).
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoStack

from ..engine.types import Click
from ..errors import PseudoClickError
from ..project.store import ProjectStore
from . import commands as C
from .settings import data_dir
from .worker import InferenceClient, WorkerState, WorkResult

log = logging.getLogger(__name__)

PROJECT_SUFFIX = ".pcproj"
DEFAULT_CATEGORY = "object"
MAX_AUTO_CHAIN = 5  # auto-accepted proposals in a row after one human action


def load_rgb(path) -> np.ndarray:
    """H x W x 3 uint8 via ``io.images.load_image`` (EXIF orientation applied); ImageLoadError on failure."""
    from ..io.images import load_image

    rgb = load_image(path).rgb
    return rgb if rgb.flags.writeable else rgb.copy()  # torch.from_numpy warns on read-only arrays


def autosave_project_path() -> Path:
    d = data_dir() / "autosave"
    d.mkdir(parents=True, exist_ok=True)
    return d / time.strftime(f"autosave-%Y%m%d-%H%M%S{PROJECT_SUFFIX}")


class Annotator(QObject):
    imageChanged = Signal()  # a new image is shown (rgb attribute)
    predictionChanged = Signal()
    clicksChanged = Signal()
    proposalChanged = Signal()
    instancesChanged = Signal()
    categoriesChanged = Signal()
    filesChanged = Signal()
    projectChanged = Signal()
    statsChanged = Signal()
    message = Signal(str, str)  # level ("info" | "warning" | "error"), text
    modelReady = Signal(str, str)  # device name, warning ("" when a trained model is loaded)
    busyChanged = Signal(bool)

    def __init__(self, session_factory, parent=None):
        """``session_factory() -> (session, warning)`` runs in the worker thread."""
        super().__init__(parent)
        self.client = InferenceClient(self)
        self.client.result.connect(self._on_result)
        self.client.failed.connect(lambda msg: self.message.emit("error", msg))
        self.client.busyChanged.connect(self.busyChanged)
        self.client.busyChanged.connect(self._on_busy)
        self._pending_finish = False
        self.undo_stack = QUndoStack(self)
        self.undo_stack.setUndoLimit(500)
        self.store: ProjectStore | None = None
        self.image_id: int | None = None
        self.image_path: str | None = None
        self.rgb: np.ndarray | None = None
        self.clicks: list[C.DraftClick] = []
        self.prediction = None
        self.proposal: Click | None = None
        self.reopened: int | None = None
        self.token = 0
        self._next_token = 1
        self.category_id: int | None = None
        self.proposals_enabled = True
        self.auto_accept = False
        self.auto_accept_threshold = 0.9
        self._auto_chain = 0
        self.last_ms: float | None = None
        self.device_name = "loading model…"
        self.model_warning = ""
        self.model_loaded = False
        self.auto_accepted = 0

        def load(st: WorkerState) -> bool:
            session, warning = session_factory()
            st.template = session
            self.modelReady.emit(session.device_name, warning or "")  # queued to the UI thread
            return False

        self.modelReady.connect(self._on_model_ready)
        self.client.submit(load, predict=False)

    # ------------------------------------------------------------------ plumbing used by commands
    def run_op(self, op, predict: bool = False) -> int:
        return self.client.submit(op, predict)

    def new_token(self) -> int:
        t = self._next_token
        self._next_token += 1
        return t

    def activate(self, token: int, clicks: list, reopened: int | None) -> None:
        """Show another object (token): its clicks; the prediction comes with the next worker result."""
        self._pending_finish = False
        self.token = token
        self.clicks = clicks
        self.reopened = reopened
        self.prediction = None
        self.proposal = None
        self._auto_chain = 0
        self.predictionChanged.emit()
        self.proposalChanged.emit()

    def notify(self, clicks: bool = False, instances: bool = False) -> None:
        if clicks:
            self.clicksChanged.emit()
            self.proposalChanged.emit()
        if instances:
            self.instancesChanged.emit()
            self.clicksChanged.emit()
            self.filesChanged.emit()
        self.statsChanged.emit()

    def _on_model_ready(self, device: str, warning: str) -> None:
        self.device_name, self.model_warning, self.model_loaded = device, warning, True
        if warning:
            self.message.emit("warning", warning)
        self.statsChanged.emit()

    # ------------------------------------------------------------------ projects
    def open_project(self, path) -> None:
        """Open (or create) a project file; ProjectError when it cannot be read."""
        store = ProjectStore.open(path)
        self.close_project()
        self.store = store
        if not store.categories():
            store.add_category(DEFAULT_CATEGORY)
        cid = store.get_setting("gui.category")
        ids = [c.id for c in store.categories()]
        self.category_id = cid if cid in ids else ids[0]
        self.projectChanged.emit()
        self.categoriesChanged.emit()
        self.filesChanged.emit()
        images = self.images()
        last = store.get_setting("gui.current_image")
        target = last if last in [r.id for r in images] else (images[0].id if images else None)
        if target is not None:
            self.open_image(target)
        self.statsChanged.emit()

    def ensure_project(self) -> ProjectStore:
        if self.store is None:
            p = autosave_project_path()
            self.open_project(p)
            self.message.emit("info", f"Autosave project: {p}")
        return self.store

    def close_project(self) -> None:
        self.undo_stack.clear()
        if self.store is not None:
            self.store.close()
        self.store = None
        self.image_id = self.rgb = self.image_path = None
        self.activate(self.new_token(), [], None)

    def images(self):
        return [] if self.store is None else self.store.images(include_slices=False)

    def add_images(self, paths) -> list[int]:
        """Add image files / folders to the project (creating an autosave project if none); opens the first
        added. Returns the ids; unreadable files are reported in one message."""
        from ..io.images import list_images

        store = self.ensure_project()
        files: list[Path] = []
        for p in paths:
            p = Path(p)
            files += list_images(p) if p.is_dir() else [p]
        ids, errors = [], []
        for f in files:
            try:
                ids.append(store.add_image(f))
            except PseudoClickError as exc:
                errors.append(str(exc))
        if errors:
            self.message.emit("error", "Some files could not be added:\n" + "\n".join(errors[:10]))
        self.filesChanged.emit()
        if ids:
            self.open_image(ids[0])
        elif files == []:
            self.message.emit("warning", "No image files found there.")
        return ids

    # ------------------------------------------------------------------ images
    def open_image(self, image_id: int) -> bool:
        rec = self.store.image(image_id)
        try:
            rgb = load_rgb(rec.path)
        except PseudoClickError as exc:
            self.message.emit("error", str(exc))
            return False
        except Exception as exc:  # noqa: BLE001 - a broken file must never crash the app
            self.message.emit("error", f"{rec.path}: cannot read ({exc})")
            return False
        if rgb.shape[:2] != (rec.height, rec.width):
            self.message.emit("warning", f"{rec.name}: the file's size changed since it was added")
        self.undo_stack.clear()
        self.image_id, self.image_path, self.rgb = image_id, rec.path, rgb
        self.store.set_setting("gui.current_image", image_id)
        token = self.new_token()
        draft = self.store.draft(image_id)
        entries: list[C.DraftClick] = []
        reopened = None
        seed = None
        if draft is not None:
            kinds = {"human": "human", "pseudo_accepted": "pseudo", "pseudo_withdrawn": "withdrawn"}
            for r in draft.clicks:
                kind = kinds[r.kind]
                click = Click(r.x, r.y, r.positive, "human" if kind == "human" else "pseudo", r.confidence)
                entries.append(C.DraftClick(click, kind, r.id))
            reopened = draft.instance_id
            if reopened is not None:
                seed = self.store.instance_mask(reopened)
            elif draft.mask is not None and not entries:
                seed = draft.mask
        first = not getattr(self, "_warmed", False)
        self._warmed = True

        def op(st: WorkerState) -> bool:
            st.template.set_image(rgb)
            st.sessions.clear()
            s = st.switch(token)
            if seed is not None:
                s.set_previous_mask(seed)
            for e in entries:
                if e.kind == "human":
                    s.add_click(e.click.x, e.click.y, e.click.positive)
                    s.predict()
                elif e.kind == "pseudo":
                    s.accept_pseudo_click(e.click)
                    s.predict()
                else:
                    s.withdraw_pseudo_click(e.click)
            if first:
                st.template.warm_up()
            return seed is not None or bool(entries)

        self.client.submit(op, predict=False)
        self.activate(token, entries, reopened)
        self.last_ms = None
        self.imageChanged.emit()
        self.instancesChanged.emit()
        self.clicksChanged.emit()
        self.filesChanged.emit()
        self.statsChanged.emit()
        return True

    def step_image(self, delta: int) -> None:
        ids = [r.id for r in self.images()]
        if not ids:
            return
        i = ids.index(self.image_id) if self.image_id in ids else -1
        j = max(0, min(len(ids) - 1, i + delta))
        if ids[j] != self.image_id:
            self.open_image(ids[j])

    def set_image_done(self, done: bool) -> None:
        if self.image_id is not None:
            self.store.set_image_status(self.image_id, "done" if done else "in_progress")
            self.filesChanged.emit()
            self.statsChanged.emit()

    # ------------------------------------------------------------------ user actions
    def _ready(self) -> bool:
        return self.store is not None and self.image_id is not None

    def click(self, x: float, y: float, positive: bool) -> None:
        if not self._ready():
            return
        self._auto_chain = 0
        self.undo_stack.push(C.ClickCommand(self, C.DraftClick(Click(float(x), float(y), bool(positive)), "human")))

    def accept_proposal(self) -> bool:
        if not self._ready() or self.proposal is None:
            return False
        p = self.proposal
        self.undo_stack.push(C.ClickCommand(self, C.DraftClick(p, "pseudo")))
        return True

    def withdraw_proposal(self) -> bool:
        if not self._ready() or self.proposal is None:
            return False
        p = self.proposal
        self._auto_chain = 0
        self.undo_stack.push(C.ClickCommand(self, C.DraftClick(p, "withdrawn")))
        return True

    def has_object(self) -> bool:
        return bool(self.clicks) or self.reopened is not None

    def finish(self) -> bool:
        """Commit the current mask. While a prediction is running, finishing waits for it (the mask must
        include the latest click)."""
        if not self._ready():
            return False
        if self.client.busy and self.has_object():
            self._pending_finish = True
            self.message.emit("info", "Finishing after the running prediction…")
            return True
        self._pending_finish = False
        if self.prediction is None or not self.has_object():
            self.message.emit("info", "Nothing to finish: click on an object first")
            return False
        if not self.prediction.mask.any():
            self.message.emit("warning", "The mask is empty: add a positive click first")
            return False
        cat = self.category_id if self.reopened is None else self.store.instance(self.reopened).category_id
        self.undo_stack.push(C.FinishCommand(self, cat))
        return True

    def reset(self) -> None:
        if self._ready() and self.has_object():
            self.undo_stack.push(C.ResetCommand(self))

    def reopen_instance(self, instance_id: int) -> bool:
        if not self._ready():
            return False
        if self.has_object():
            self.message.emit("info", "Finish (Space) or reset (Esc) the current object first")
            return False
        self.undo_stack.push(C.ReopenCommand(self, instance_id))
        return True

    def delete_instance(self, instance_id: int) -> None:
        if self._ready():
            if instance_id == self.reopened:
                self.message.emit("info", "This object is being edited: reset it (Esc) first")
                return
            self.undo_stack.push(C.DeleteInstanceCommand(self, instance_id))

    def set_instance_category(self, instance_id: int, category_id: int) -> None:
        if self._ready():
            self.undo_stack.push(C.SetCategoryCommand(self, instance_id, category_id))

    def set_instance_hidden(self, instance_id: int, hidden: bool) -> None:
        self.store.set_instance_hidden(instance_id, hidden)
        self.instancesChanged.emit()

    def set_category(self, category_id: int) -> None:
        self.category_id = category_id
        if self.store is not None:
            self.store.set_setting("gui.category", category_id)
        self.statsChanged.emit()

    def set_proposals_enabled(self, on: bool) -> None:
        self.proposals_enabled = on

        def op(st: WorkerState) -> bool:
            st.proposals = on
            return on and st.session is not None and bool(st.session.human_clicks)

        self.client.submit(op, predict=False)
        if not on:
            self.proposal = None
            self.proposalChanged.emit()

    def undo(self) -> None:
        self.undo_stack.undo()

    def redo(self) -> None:
        self.undo_stack.redo()

    def _on_busy(self, busy: bool) -> None:
        if not busy and self._pending_finish:
            self.finish()

    # ------------------------------------------------------------------ results
    def _on_result(self, res: WorkResult) -> None:
        if res.token != self.token or self.store is None or self.image_id is None:
            return
        self.prediction = res.prediction
        self.last_ms = getattr(res.prediction, "elapsed_ms", None) or res.seconds * 1000
        self.proposal = res.proposal if self.proposals_enabled else None
        if self.has_object() and res.prediction is not None:
            try:
                self.store.save_draft(self.image_id, res.prediction.mask, instance_id=self.reopened)
            except PseudoClickError as exc:
                self.message.emit("error", f"Could not save the draft: {exc}")
        self.predictionChanged.emit()
        self.proposalChanged.emit()
        self.statsChanged.emit()
        p = self.proposal
        if (self.auto_accept and p is not None and p.confidence >= self.auto_accept_threshold
                and self._auto_chain < MAX_AUTO_CHAIN):  # fmt: skip
            self._auto_chain += 1
            self.auto_accepted += 1
            self.accept_proposal()

    # ------------------------------------------------------------------ status
    def object_counts(self) -> tuple[int, int]:
        """(human clicks, accepted pseudo clicks) of the current object."""
        return (sum(e.kind == "human" for e in self.clicks), sum(e.kind == "pseudo" for e in self.clicks))

    def shutdown(self) -> None:
        self.client.shutdown()
        if self.store is not None:
            self.store.close()
            self.store = None


def default_project_name(path) -> str:
    return os.path.splitext(os.path.basename(path))[0]
