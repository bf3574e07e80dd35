"""The annotation state machine (no widgets): the project, the current image, the object being drawn, the
one undo stack, and the inference client. The main window observes its signals and paints.

Flow of a human click: :meth:`click` pushes a :class:`~.commands.ClickCommand` (the session op is queued to
the worker thread, the click is recorded in the project at once) -> the worker predicts and proposes ->
:meth:`_on_result` keeps the prediction, saves the draft mask to the project, shows the proposal (or
auto-accepts it above the threshold).

Volumes: :meth:`open_volume` shows one slice at a time (``volume``, ``volume_id``, ``axis``, ``slice_index``,
``channel``). A slice is annotated exactly like a 2-D image: its image row comes from
``store.slice_image(volume_id, axis, index)`` (created on the first click, so browsing adds nothing to the
project) and everything else (clicks, drafts, instances, undo, persistence) is the 2-D path. The network gets
``Volume.network_slice`` (raw-intensity percentile normalisation of the selected channel); the display
window/level is the main window's business and never reaches the session. :meth:`propagate` carries an
object to the neighbouring slice (:mod:`pseudoclick_gui.engine.propagate`): its derived clicks are stored
with kind ``propagated`` (not counted as human clicks) and its seed mask with the draft.

Drafts: the object being drawn is saved as the image's draft (its clicks, latest mask, re-opened instance and
*seed*, the mask its session started from: ``seed``). :meth:`_show` restores one by seeding a fresh session
with the seed (``set_previous_mask``) and replaying the clicks as they were first given to the session.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QUndoStack

from ..engine.propagate import derive_clicks, mask_vanished
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
AXES = ("axial", "coronal", "sagittal")
VIEW_SAVE_DELAY_MS = 400  # slice/axis changes are remembered in the project after this pause


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
    proposalRuleChanged = Signal(str)  # the rule the sessions follow now ("" = the model's own)
    volumeChanged = Signal()  # a volume was opened or closed, or its axis / channel changed

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
        self.seed: np.ndarray | None = None  # the mask the current object's session started from
        self.token = 0
        self._next_token = 1
        self.category_id: int | None = None
        self.proposals_enabled = True
        self.proposal_rule = ""  # "" = the model's own rule (Session.set_proposal_source)
        self.auto_accept = False
        self.auto_accept_threshold = 0.9
        self._auto_chain = 0
        self.last_ms: float | None = None
        self.last_network = ""  # "grey" when the grey-image network made the last prediction
        self.pseudo_lifetime = "object"  # the session's for this image: "step" = a pseudo click expires (markers)
        self.live_pseudo: set | None = None  # (x, y, positive) of the accepted pseudo clicks still an input
        self.device_name = "loading model…"
        self.model_warning = ""
        self.model_loaded = False
        self.auto_accepted = 0
        # volumes
        self.volume = None  # io.volume.Volume of the volume being shown, or None for a 2-D image
        self.volume_id: int | None = None
        self.volume_path: str | None = None
        self._planes: dict[str, tuple[int, tuple[float, float], float]] = {}
        self.axis = "axial"
        self.slice_index = 0
        self.channel: str | None = None
        self._axis_index: dict[str, int] = {}
        self._propagation: tuple[int, int, int] | None = None  # (token, seed area, target slice)
        self._pending_propagate: tuple[int, int | None] | None = None
        self.volume_loader = None  # (path, series_uid) -> Volume; the main window sets one with a progress dialog
        self._view_timer = QTimer(self)
        self._view_timer.setSingleShot(True)
        self._view_timer.setInterval(VIEW_SAVE_DELAY_MS)
        self._view_timer.timeout.connect(self._save_view)

        def load(st: WorkerState) -> bool:
            session, warning = session_factory()
            session.use_grey_network(st.grey_network)
            st.template = session
            self.modelReady.emit(session.device_name, warning or "")  # queued to the UI thread
            return False

        self.modelReady.connect(self._on_model_ready)
        self.proposalRuleChanged.connect(self._on_proposal_rule)
        self.client.submit(load, predict=False)

    # ------------------------------------------------------------------ plumbing used by commands
    def run_op(self, op, predict: bool = False) -> int:
        return self.client.submit(op, predict)

    def new_token(self) -> int:
        t = self._next_token
        self._next_token += 1
        return t

    def activate(self, token: int, clicks: list, reopened: int | None, seed: np.ndarray | None = None) -> None:
        """Show another object (token): its clicks, the instance it re-opens, the mask its session was seeded
        with; the prediction comes with the next worker result."""
        self._pending_finish = False
        self.token = token
        self.clicks = clicks
        self.reopened = reopened
        self.seed = seed
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
        volumes = [v.id for v in store.volumes()]
        last = store.get_setting("gui.current_image")
        last_volume = store.get_setting("gui.current_volume")
        target = last if last in [r.id for r in images] else (images[0].id if images else None)
        if last_volume in volumes or (target is None and volumes):
            self.open_volume_id(last_volume if last_volume in volumes else volumes[0])
        elif target is not None:
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
        self._flush_view()
        if self.store is not None:
            self.store.close()
        self.store = None
        self.image_id = self.rgb = self.image_path = None
        had_volume = self.volume is not None
        self.volume = self.volume_id = None
        self._propagation = self._pending_propagate = None
        self.activate(self.new_token(), [], None)
        if had_volume:
            self.volumeChanged.emit()

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
        if rec.is_slice:
            return self.open_volume_id(rec.volume_id, rec.axis, rec.slice_index)
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
        self._leave_volume()
        self.store.set_setting("gui.current_image", image_id)
        self.store.set_setting("gui.current_volume", None)
        self._show(image_id, rec.path, rgb)
        self.filesChanged.emit()
        return True

    def _show(self, image_id: int | None, path: str, rgb: np.ndarray) -> None:
        """Show ``rgb`` (the network input, H x W x 3 uint8) as the current image: replay its draft through a
        fresh session. ``image_id`` None: a volume slice without an image row yet (nothing drawn there)."""
        self.undo_stack.clear()
        self._propagation = None
        self.image_id, self.image_path, self.rgb = image_id, path, rgb
        token = self.new_token()
        draft = self.store.draft(image_id) if image_id is not None else None
        entries: list[C.DraftClick] = []
        reopened = None
        seed = None
        if draft is not None:
            kinds = {v: k for k, v in C.STORE_KIND.items()}
            for r in draft.clicks:
                kind = kinds[r.kind]
                click = Click(r.x, r.y, r.positive, "pseudo" if kind in ("pseudo", "withdrawn") else "human",
                              r.confidence)  # fmt: skip
                entries.append(C.DraftClick(click, kind, r.id))
            reopened = draft.instance_id
            if draft.seed is not None:
                seed = draft.seed
            elif reopened is not None:  # saved before drafts kept their seed (schema 1)
                seed = self.store.instance_mask(reopened)
            elif draft.mask is not None and not entries:
                seed = draft.mask
            if seed is not None and draft.seed is None:  # keep it from now on, whatever the next masks are
                try:
                    self.store.save_draft(image_id, draft.mask, instance_id=reopened, seed=seed)
                except PseudoClickError as exc:
                    log.warning("could not save the draft's seed: %s", exc)
        first = not getattr(self, "_warmed", False)
        self._warmed = True

        def op(st: WorkerState) -> bool:
            st.template.set_image(rgb)
            st.sessions.clear()
            s = st.switch(token)
            if seed is not None:
                s.set_previous_mask(seed)
            for i, e in enumerate(entries):
                if e.kind == "human":
                    s.add_click(e.click.x, e.click.y, e.click.positive)
                    s.predict()
                elif e.kind == "propagated":
                    # ordinary clicks for the network, given together after the seed with one prediction
                    # (as SeedCommand does), so each one's previous-mask input is the seed
                    s.add_click(e.click.x, e.click.y, e.click.positive)
                    if i + 1 == len(entries) or entries[i + 1].kind != "propagated":
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
        self.activate(token, entries, reopened, seed)
        self.last_ms = None
        self.imageChanged.emit()
        self.instancesChanged.emit()
        self.clicksChanged.emit()
        self.statsChanged.emit()

    def files(self) -> list[tuple[str, int]]:
        """The file list: ("image", image id) for 2-D images, then ("volume", volume id)."""
        if self.store is None:
            return []
        return [("image", r.id) for r in self.images()] + [("volume", v.id) for v in self.store.volumes()]

    def current_file(self) -> tuple[str, int] | None:
        if self.volume is not None:
            return ("volume", self.volume_id)
        return None if self.image_id is None else ("image", self.image_id)

    def open_file(self, entry: tuple[str, int]) -> bool:
        kind, fid = entry
        return self.open_volume_id(fid) if kind == "volume" else self.open_image(fid)

    def step_image(self, delta: int) -> None:
        """Next / previous entry of the file list (images and volumes)."""
        entries = self.files()
        if not entries:
            return
        cur = self.current_file()
        i = entries.index(cur) if cur in entries else -1
        j = max(0, min(len(entries) - 1, i + delta))
        if entries[j] != cur:
            self.open_file(entries[j])

    # ------------------------------------------------------------------ volumes
    def open_volume(self, path, volume, *, series_uid: str | None = None) -> int:
        """Register an opened :class:`~pseudoclick_gui.io.volume.Volume` (read from ``path``) in the project
        (creating an autosave project if none) and show its middle axial slice, or the slice last shown.
        Returns the volume id."""
        store = self.ensure_project()
        vid = store.add_volume(path, kind=str(volume.source_format or "volume"), shape=volume.shape,
                               affine=volume.affine, series_uid=series_uid)  # fmt: skip
        self._enter_volume(vid, volume)
        self.filesChanged.emit()
        return vid

    def open_volume_id(self, volume_id: int, axis: str | None = None, index: int | None = None,
                       channel: str | None = None) -> bool:  # fmt: skip
        """Show a volume of the project (read again from its file unless it is the one in memory)."""
        rec = self.store.volume(volume_id)
        volume = self.volume if self.volume_id == volume_id else None
        if volume is None:
            from ..io.volume import open_volume

            loader = self.volume_loader or (lambda path, uid: open_volume(path, series_uid=uid))
            try:
                volume = loader(rec.path, rec.series_uid)
            except PseudoClickError as exc:
                self.message.emit("error", f"Cannot open the volume:\n{exc}")
                return False
            except Exception as exc:  # noqa: BLE001 - a broken file must never crash the app
                self.message.emit("error", f"{rec.path}: cannot read ({exc})")
                return False
            if tuple(volume.shape) != tuple(rec.shape[:3]):
                self.message.emit("error", f"{rec.path}: the volume's shape changed since it was added "
                                           f"({tuple(rec.shape)} -> {volume.shape}); its slices cannot be shown")  # fmt: skip
                return False
        self._enter_volume(volume_id, volume, axis, index, channel)
        self.filesChanged.emit()
        return True

    def _enter_volume(self, volume_id: int, volume, axis=None, index=None, channel=None) -> None:
        new = self.volume_id != volume_id or self.volume is not volume
        if new:
            view = self.store.get_setting(f"gui.volume.{volume_id}") or {}
            self.volume, self.volume_id = volume, volume_id
            self.volume_path = self.store.volume(volume_id).path
            # per-plane facts, computed once (Volume derives them from the affine at every call)
            self._planes = {a: (volume.n_slices(a), volume.pixel_spacing(a), volume.pixel_aspect(a)) for a in AXES}
            self._axis_index = {a: int(i) for a, i in (view.get("indices") or {}).items() if a in AXES}
            axis = axis or view.get("axis")
            channel = channel or view.get("channel")
        self.axis = axis if axis in AXES else (self.axis if not new else "axial")
        names = volume.channel_names
        self.channel = channel if channel in names else (self.channel if self.channel in names else names[0])
        if index is None:
            index = self._axis_index.get(self.axis, self.n_slices() // 2)
        self.volumeChanged.emit()
        self.open_slice(self.axis, index)

    def _leave_volume(self) -> None:
        if self.volume is not None:
            self._flush_view()
            self.volume = self.volume_id = None
            self._propagation = self._pending_propagate = None
            self.volumeChanged.emit()

    def n_slices(self, axis: str | None = None) -> int:
        return 0 if self.volume is None else self._planes[axis or self.axis][0]

    def pixel_spacing(self, axis: str | None = None) -> tuple[float, float]:
        """(row height, column width) in mm of the shown plane's pixels."""
        return self._planes[axis or self.axis][1]

    def pixel_aspect(self, axis: str | None = None) -> float:
        return self._planes[axis or self.axis][2]

    def open_slice(self, axis: str | None = None, index: int | None = None) -> bool:
        """Show slice ``index`` (clamped) of ``axis`` of the open volume."""
        if self.volume is None or self.store is None:
            return False
        axis = axis or self.axis
        if axis != self.axis:
            self.axis = axis
            self.volumeChanged.emit()
        n = self.n_slices(axis)
        index = max(0, min(n - 1, int(self.slice_index if index is None else index)))
        self.slice_index = index
        self._axis_index[axis] = index
        rgb = self.volume.network_slice(axis, index, self.channel)
        path = self.volume_path
        self._show(self.store.find_image(path, axis=axis, slice_index=index), path, rgb)
        self._view_timer.start()
        return True

    def step_slice(self, delta: int) -> None:
        if self.volume is not None:
            target = max(0, min(self.n_slices() - 1, self.slice_index + int(delta)))
            if target != self.slice_index:
                self.open_slice(self.axis, target)

    def set_axis(self, axis: str) -> None:
        if self.volume is not None and axis in AXES and axis != self.axis:
            self.open_slice(axis, self._axis_index.get(axis, self.n_slices(axis) // 2))

    def set_channel(self, channel: str) -> None:
        """Display and network use this channel (same annotations: they belong to the slice)."""
        if self.volume is not None and channel in self.volume.channel_names and channel != self.channel:
            self.channel = channel
            self.volumeChanged.emit()
            self.open_slice(self.axis, self.slice_index)

    def _save_view(self) -> None:
        if self.store is None or self.volume_id is None:
            return
        try:
            self.store.set_setting(f"gui.volume.{self.volume_id}",
                                   {"axis": self.axis, "channel": self.channel, "indices": self._axis_index})  # fmt: skip
            self.store.set_setting("gui.current_volume", self.volume_id)
        except PseudoClickError as exc:  # a settings write must never disturb annotation
            log.warning("could not remember the volume view: %s", exc)

    def _flush_view(self) -> None:
        if self._view_timer.isActive():
            self._view_timer.stop()
            self._save_view()

    def _ensure_row(self) -> bool:
        """Create the image row of the shown volume slice (on the first click there)."""
        if self.image_id is None and self.volume is not None and self.store is not None:
            self.image_id = self.store.slice_image(self.volume_id, self.axis, self.slice_index)
        return self.image_id is not None

    def slice_markers(self, axis: str | None = None) -> dict[int, str]:
        """Slice index -> "objects" (has finished objects) or "draft" (clicked on, nothing finished) for the
        open volume's ``axis``."""
        if self.store is None or self.volume_id is None:
            return {}
        out = {}
        for r in self.store.volume_slices(self.volume_id, axis or self.axis):
            if r.n_instances:
                out[r.slice_index] = "objects"
            elif r.status != "untouched":
                out[r.slice_index] = "draft"
        return out

    def propagate(self, delta: int, instance_id: int | None = None) -> bool:
        """Carry an object to slice ``slice_index + delta``: the current object (finished here first), else
        ``instance_id`` (the selected object), else the newest object of this slice. On the new slice the
        session is seeded with its mask plus :func:`~pseudoclick_gui.engine.propagate.derive_clicks`, predicts
        and proposes; when the result vanishes the object is taken back and propagation stops."""
        if self.volume is None or self.store is None:
            self.message.emit("info", "Propagation works on volume slices: open a volume first")
            return False
        if self.client.busy and self.has_object():
            self._pending_propagate = (delta, instance_id)
            return True
        self._pending_propagate = None
        target = self.slice_index + int(delta)
        if not 0 <= target < self.n_slices():
            self.message.emit("info", f"No {self.axis} slice {target}: this is the last slice that way")
            return False
        category = None
        if self.has_object() and self.prediction is not None and self.prediction.mask.any():
            mask = self.prediction.mask.copy()
            category = self.category_id if self.reopened is None else self.store.instance(self.reopened).category_id
            if not self.finish():
                return False
        else:
            if instance_id is None and self.image_id is not None:
                insts = self.store.instances(self.image_id)
                instance_id = insts[-1].id if insts else None
            if instance_id is None:
                self.message.emit("info", "Nothing to propagate: draw an object (or select one) on this slice first")
                return False
            inst = self.store.instance(instance_id)
            mask, category = inst.mask(), inst.category_id
        clicks = derive_clicks(mask)
        if not clicks:
            self.message.emit("info", "Nothing to propagate: the object's mask is empty")
            return False
        self.open_slice(self.axis, target)
        if self.has_object():
            self.message.emit("warning", f"{self.axis.capitalize()} slice {target} already has an unfinished object: "
                                         "finish (Space) or reset (Esc) it first")  # fmt: skip
            return False
        if category is not None and category != self.category_id:
            self.set_category(category)
            self.categoriesChanged.emit()
        self._ensure_row()
        cmd = C.SeedCommand(self, mask, clicks)
        self.undo_stack.push(cmd)
        self._propagation = (cmd.new_token, int(mask.sum()), target)
        self.statsChanged.emit()
        return True

    def set_image_done(self, done: bool) -> None:
        if self.image_id is not None:
            self.store.set_image_status(self.image_id, "done" if done else "in_progress")
            self.filesChanged.emit()
            self.statsChanged.emit()

    # ------------------------------------------------------------------ user actions
    def _ready(self) -> bool:
        return self.store is not None and self.image_id is not None

    def click(self, x: float, y: float, positive: bool) -> None:
        if self.store is None or self.rgb is None or not self._ensure_row():
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

    def brush_target(self, instance_id: int | None) -> bool:
        """Whether ``instance_id`` (the object selected in the Objects panel) can be brushed now; says why not
        in a message otherwise."""
        if not self._ready():
            return False
        if instance_id is None:
            self.message.emit("info", "Brush / eraser: select a finished object in the Objects panel first")
            return False
        if instance_id == self.reopened:
            self.message.emit("info", "This object is being edited: finish (Space) or reset (Esc) it before brushing")
            return False
        try:
            inst = self.store.instance(instance_id)
        except PseudoClickError:
            self.message.emit("info", "Brush / eraser: the selected object no longer exists")
            return False
        if inst.image_id != self.image_id or inst.deleted:
            self.message.emit("info", "Brush / eraser: select an object of this image in the Objects panel")
            return False
        return True

    def brush_stroke(self, instance_id: int | None, points, radius: int, erase: bool = False) -> bool:
        """Paint (or erase) one stroke (image pixels ``(x, y)``, brush ``radius`` in image pixels) into a finished
        instance's mask as one undoable :class:`~.commands.BrushCommand`. False when nothing changed."""
        if not self.brush_target(instance_id):
            return False
        from .brush import apply_stroke, stroke_patch

        mask = self.store.instance_mask(instance_id)
        box, patch = stroke_patch(mask.shape, points, radius)
        if box is None:
            return False
        y0, y1, x0, x1 = box
        old = mask[y0:y1, x0:x1].copy()
        new = apply_stroke(mask, box, patch, erase)
        if np.array_equal(old, new):
            return False
        if erase and not new.any() and int(old.sum()) == int(mask.sum()):
            self.message.emit("warning", "Erasing would leave the object empty: delete it instead (Del)")
            return False
        self.undo_stack.push(C.BrushCommand(self, instance_id, box, old, new, erase))
        return True

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

    def set_proposal_rule(self, rule: str) -> None:
        """Where proposals come from, for every object's session (and the ones made later): "" for the model's
        own rule, or a name of engine.pseudo.PROPOSAL_SOURCES. A rule the model cannot follow becomes a message
        and the previous rule stays."""

        def op(st: WorkerState) -> bool:
            sessions = [s for s in (st.template, *st.sessions.values()) if s is not None]
            before = [(s.proposal_source, s.grey_proposal_source) for s in sessions]
            try:
                for s in sessions:
                    s.set_proposal_source(rule or None)
            except ValueError as exc:
                for s, (colour, grey) in zip(sessions, before):
                    s.proposal_source, s.grey_proposal_source = colour, grey
                self.proposalRuleChanged.emit(st.proposal_rule)  # queued to the UI thread: the menu shows it
                raise PseudoClickError(f"Proposal rule not changed: {exc}.") from None
            st.proposal_rule = rule
            self.proposalRuleChanged.emit(rule)
            return st.proposals and st.session is not None and bool(st.session.human_clicks)

        self.client.submit(op, predict=False)

    def _on_proposal_rule(self, rule: str) -> None:
        self.proposal_rule = rule

    def set_grey_network(self, on: bool) -> None:
        """Whether grey images (medical, EM) go to the grey-image network, for every object's session and the
        ones made later (``Session.use_grey_network``); the current object is predicted again."""

        def op(st: WorkerState) -> bool:
            st.grey_network = on
            for s in (st.template, *st.sessions.values()):
                if s is not None:
                    s.use_grey_network(on)
            return st.session is not None and bool(st.session.clicks)

        self.client.submit(op, predict=False)

    def undo(self) -> None:
        self.undo_stack.undo()

    def redo(self) -> None:
        self.undo_stack.redo()

    def _on_busy(self, busy: bool) -> None:
        if not busy and self._pending_finish:
            self.finish()
        if not busy and self._pending_propagate is not None:
            self.propagate(*self._pending_propagate)

    # ------------------------------------------------------------------ results
    def _on_result(self, res: WorkResult) -> None:
        if res.token != self.token or self.store is None or self.image_id is None:
            return
        self.prediction = res.prediction
        self.last_ms = getattr(res.prediction, "elapsed_ms", None) or res.seconds * 1000
        self.last_network = (getattr(res.prediction, "extra", None) or {}).get("network", "")
        live = None if res.live_pseudo is None else {(c.x, c.y, c.positive) for c in res.live_pseudo}
        if res.pseudo_lifetime != self.pseudo_lifetime or live != self.live_pseudo:
            self.pseudo_lifetime, self.live_pseudo = res.pseudo_lifetime, live
            self.clicksChanged.emit()
        self.proposal = res.proposal if self.proposals_enabled else None
        try:
            if self.has_object() and res.prediction is not None:
                self.store.save_draft(self.image_id, res.prediction.mask, instance_id=self.reopened)
            elif not self.has_object() and self.seed is None:
                # every click undone: no object is being drawn, so no stale mask may come back on reopen
                self.store.clear_draft(self.image_id, discard_clicks=False)
        except PseudoClickError as exc:
            self.message.emit("error", f"Could not save the draft: {exc}")
        self.predictionChanged.emit()
        self.proposalChanged.emit()
        self.statsChanged.emit()
        if self._propagation is not None and self._propagation[0] == res.token:
            _token, seed_area, target = self._propagation
            self._propagation = None
            if res.prediction is None or mask_vanished(res.prediction.mask, seed_area):
                top = self.undo_stack.command(self.undo_stack.index() - 1)
                if isinstance(top, C.SeedCommand) and top.new_token == res.token:
                    self.undo_stack.undo()
                self.message.emit("warning", f"The object vanished on {self.axis} slice {target}: it ends here, "
                                             "propagation stopped.")  # fmt: skip
                return
        p = self.proposal
        if (self.auto_accept and p is not None and p.confidence >= self.auto_accept_threshold
                and self._auto_chain < MAX_AUTO_CHAIN):  # fmt: skip
            self._auto_chain += 1
            self.auto_accepted += 1
            self.accept_proposal()

    # ------------------------------------------------------------------ status
    def click_markers(self) -> list[tuple[float, float, bool, str]]:
        """The current object's clicks for the canvas: (x, y, positive, kind). With the pseudo-click lifetime
        "step" an accepted pseudo click that a later human click has superseded is no longer a network input:
        kind "pseudo-spent" (drawn faded; it still counts, and undo brings it back). With "contradicted" the
        same holds for one a later human click said was wrong (the session's ``live_pseudo_clicks``)."""
        out = [e.as_marker for e in self.clicks]
        if self.pseudo_lifetime == "contradicted" and self.live_pseudo is not None:
            out = [(*m[:3], "pseudo-spent") if m[3] == "pseudo" and m[:3] not in self.live_pseudo else m for m in out]
        if self.pseudo_lifetime == "step":
            later_human = False
            for i in range(len(out) - 1, -1, -1):
                kind = out[i][3]
                if kind in ("human", "propagated"):
                    later_human = True
                elif kind == "pseudo" and later_human:
                    out[i] = (*out[i][:3], "pseudo-spent")
        return out

    def object_counts(self) -> tuple[int, int]:
        """(human clicks, accepted pseudo clicks) of the current object (propagated clicks are neither)."""
        return (sum(e.kind == "human" for e in self.clicks), sum(e.kind == "pseudo" for e in self.clicks))

    def object_propagated(self) -> int:
        """Clicks of the current object derived from the neighbouring slice (propagation)."""
        return sum(e.kind == "propagated" for e in self.clicks)

    def shutdown(self) -> None:
        self._flush_view()
        self.client.shutdown()
        if self.store is not None:
            self.store.close()
            self.store = None


def default_project_name(path) -> str:
    return os.path.splitext(os.path.basename(path))[0]
