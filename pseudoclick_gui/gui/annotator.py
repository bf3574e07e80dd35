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
from PySide6.QtGui import QUndoGroup, QUndoStack

from ..engine.propagate import derive_clicks, mask_vanished
from ..engine.types import Click
from ..errors import DiskFullError, ProjectError, PseudoClickError
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
MAX_KEPT_HISTORIES = 30  # images whose undo history (and sessions) stay in memory after switching away
SUGGESTIONS = ("on", "off", "paper")  # Preferences > Suggest next clicks
RETRY_SAVE_MS = 3000  # changes not saved because the disk was full are written again this often

try:  # the store's lock error (one writer per project)
    from ..errors import ProjectLockedError
except ImportError:  # pragma: no cover - a store without a writer's lock
    class ProjectLockedError(ProjectError):
        """Another running instance holds the project."""


def is_locked(exc: BaseException) -> bool:
    """Whether ``exc`` says another running instance holds the project (ProjectLockedError)."""
    return isinstance(exc, ProjectLockedError) or any(t.__name__ == "ProjectLockedError" for t in type(exc).__mro__)


def describe_error(exc: BaseException) -> str:
    """A user-facing line for ``exc``: the message of a PseudoClickError, else the type and message."""
    if isinstance(exc, PseudoClickError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def load_rgb(path) -> np.ndarray:
    """H x W x 3 uint8 via ``io.images.load_image`` (EXIF orientation applied); ImageLoadError on failure."""
    from ..io.images import load_image

    rgb = load_image(path).rgb
    return rgb if rgb.flags.writeable else rgb.copy()  # torch.from_numpy warns on read-only arrays


def autosave_project_path() -> Path:
    """A new autosave project (images opened with no project and no common folder). ProjectError when the user
    data folder cannot be created."""
    d = data_dir() / "autosave"
    _make_dir(d)
    return d / time.strftime(f"autosave-%Y%m%d-%H%M%S{PROJECT_SUFFIX}")


def folder_project_path(folder) -> Path:
    """The project the app keeps for an image folder opened without a project: the same file every time the
    folder is opened, ``<data dir>/projects/<folder name>-<8 hex digits of its absolute path>.pcproj``."""
    import hashlib

    folder = Path(folder).expanduser().absolute()
    digest = hashlib.sha1(str(folder).encode("utf-8", "surrogatepass")).hexdigest()[:8]
    name = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in folder.name)[:60] or "root"
    return data_dir() / "projects" / f"{name}-{digest}{PROJECT_SUFFIX}"


def _make_dir(d: Path) -> None:
    try:
        d.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ProjectError(f"cannot create the folder {d} for the app's projects ({exc.strerror or exc}); "
                           "set PSEUDOCLICK_DATA_DIR to a writable folder or open a project with --project") from None


def common_folder(paths) -> Path | None:
    """The folder a set of opened paths belongs to: a folder itself, else the files' deepest common folder."""
    folders = [Path(p).expanduser().absolute() for p in paths]
    folders = [p if p.is_dir() else p.parent for p in folders]
    if not folders:
        return None
    try:
        return Path(os.path.commonpath([str(f) for f in folders]))
    except ValueError:  # different drives
        return None


def app_managed(path) -> bool:
    """Whether a project file is one the app made itself (sample, autosave, a folder's project)."""
    try:
        return Path(path).absolute().is_relative_to(data_dir().absolute())
    except (OSError, ValueError):
        return False


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
    modelFailed = Signal(str)  # the model could not be loaded: why
    busyChanged = Signal(bool)
    proposalRuleChanged = Signal(str)  # the rule the sessions follow now ("" = the model's own)
    volumeChanged = Signal()  # a volume was opened or closed, or its axis / channel changed
    unsavedChanged = Signal(int)  # changes kept in memory because the disk is full (0: everything is saved)

    def __init__(self, session_factory, parent=None):
        """``session_factory() -> (session, warning)`` runs in the worker thread."""
        super().__init__(parent)
        self.client = InferenceClient(self)
        self.client.result.connect(self._on_result)
        self.client.failed.connect(lambda msg: self.message.emit("error", msg))
        self.client.busyChanged.connect(self.busyChanged)
        self.client.busyChanged.connect(self._on_busy)
        self._pending_finish = False
        self.undo_group = QUndoGroup(self)  # one undo history per image (kept when switching images)
        self.undo_stack = self._new_stack()
        self._kept: dict = {}  # image key -> the UI state of an image left (undo history, current object)
        self.read_only = False  # the project is open read-only (another instance holds it)
        self._prefetched: dict[str, object] = {}  # image path -> Future of its pixels (the next file in the list)
        self._pool = None
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
        self.proposal_rule: str | None = None  # None = the checkpoint's own rule, "paper" (Session.set_proposal_rule)
        self.auto_accept = False
        self.auto_accept_threshold = 0.9
        self._auto_chain = 0
        self.last_ms: float | None = None
        self.last_network = ""  # "grey" when the grey-image network made the last prediction
        self.pseudo_lifetime = "object"  # the session's for this image: "step" = a pseudo click expires (markers)
        self.live_pseudo: set | None = None  # (x, y, positive) of the accepted pseudo clicks still an input
        self.device_name = "loading model…"
        self.model_warning = ""
        self.model_loaded = False  # loading finished (see model_error)
        self.model_error = ""  # why no model could be loaded ("" when one is)
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
        # changes the project could not take because the disk is full, oldest first: (what, key, write)
        self._unsaved: list[tuple[str, object, object]] = []
        self._unsaved_objects: dict = {}  # finish command -> (image id, mask, category id) of a queued new object
        self._unsaved_masks: dict[int, np.ndarray] = {}  # instance id -> its mask as a queued write sets it
        self._retry_timer = QTimer(self)
        self._retry_timer.setInterval(RETRY_SAVE_MS)
        self._retry_timer.timeout.connect(self._retry_tick)

        def load(st: WorkerState) -> bool:
            try:
                session, warning = session_factory()
                if st.proposal_rule is not None:
                    session.set_proposal_rule(st.proposal_rule)
            except BaseException as exc:  # noqa: BLE001 - any failure is a message, never a dead app
                log.error("the model could not be loaded", exc_info=True)
                self.modelFailed.emit(describe_error(exc))  # queued to the UI thread
                return False
            st.template = session
            self.modelReady.emit(session.device_name, warning or "")  # queued to the UI thread
            return False

        self.modelReady.connect(self._on_model_ready)
        self.modelFailed.connect(self._on_model_failed)
        self.proposalRuleChanged.connect(self._on_proposal_rule)
        self.client.submit(load, predict=False)

    def _new_stack(self) -> QUndoStack:
        stack = QUndoStack(self)
        stack.setUndoLimit(500)
        self.undo_group.addStack(stack)
        self.undo_group.setActiveStack(stack)
        return stack

    def _set_stack(self, stack: QUndoStack) -> None:
        self.undo_stack = stack
        self.undo_group.setActiveStack(stack)

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
        if self.rgb is not None:
            self._warm(self.rgb.shape[:2])
        self.statsChanged.emit()

    def _on_model_failed(self, why: str) -> None:
        self.device_name, self.model_error, self.model_loaded = "no model", why, True
        self.message.emit("error", f"The segmentation model could not be loaded, so clicks cannot make masks:\n{why}")
        self.statsChanged.emit()

    def _can_edit(self) -> bool:
        """Whether the user may change the project now; says why not in a message otherwise."""
        if self.read_only:
            why = getattr(self.store, "read_only_reason", "") or "another PseudoClick window holds it"
            self.message.emit("info", f"This project is open read-only ({why}): nothing can be changed here")
            return False
        return True

    # ------------------------------------------------------------------ saving (a full disk loses nothing)
    def save(self, what: str, write, key=None, mask=None) -> bool:
        """Run ``write()``, the store writes of one change (``what`` names it for messages: "the click").

        When the disk is full (DiskFullError) the change stays in memory: ``write`` is queued, every later change
        is queued behind it (the project gets them in order), and the queue is written again every
        RETRY_SAVE_MS and at each new change until it goes through; the user is told once, and
        ``unsavedChanged`` keeps the status bar's count. A queued change with the same ``key`` as the newest
        one replaces it (a newer draft mask). ``mask=(instance id, mask)``: the write sets that instance's mask;
        until it is in, :meth:`instance_mask` and the canvas use it. Returns whether everything is saved now.
        Other errors raise as before. ``write`` must read ids it needs (a click's store id) when it runs, not
        when it is made."""
        if mask is None:
            return self._save(what, write, key)
        iid, m = int(mask[0]), mask[1]
        ran = []

        def write_mask() -> None:
            write()
            ran.append(True)
            if self._unsaved_masks.get(iid) is m:
                del self._unsaved_masks[iid]

        ok = self._save(what, write_mask, key)
        if not ran:
            self._unsaved_masks[iid] = m
        return ok

    def instance_mask(self, instance_id: int) -> np.ndarray:
        """A finished object's mask as the user last made it: the one a write waiting for space sets, else the
        project's."""
        m = self._unsaved_masks.get(int(instance_id))
        return m.copy() if m is not None else self.store.instance_mask(instance_id)

    def unsaved_mask(self, instance_id: int) -> np.ndarray | None:
        """The mask a write waiting for space gives ``instance_id``, or None when the project has it."""
        return self._unsaved_masks.get(int(instance_id))

    def _save(self, what: str, write, key) -> bool:
        if self._unsaved:
            if key is not None and self._unsaved[-1][1] == key:
                self._unsaved[-1] = (what, key, write)
            else:
                self._unsaved.append((what, key, write))
            return self.retry_unsaved()
        try:
            write()
        except DiskFullError as exc:
            self._unsaved.append((what, key, write))
            self._disk_full(exc)
            return False
        return True

    def show_unsaved_object(self, owner, image_id: int, mask: np.ndarray, category_id) -> None:
        """A finished object whose write waits for space is still drawn (``unsaved_objects``) until ``owner``
        (its command) drops it: when the write runs, or when the finish is undone."""
        self._unsaved_objects[owner] = (image_id, mask, category_id)

    def drop_unsaved_object(self, owner) -> None:
        self._unsaved_objects.pop(owner, None)

    def unsaved_objects(self, image_id: int | None) -> list[tuple[np.ndarray, int | None]]:
        """(mask, category id) of the finished objects of ``image_id`` that are not in the project yet."""
        return [(m, c) for i, m, c in self._unsaved_objects.values() if i == image_id]

    @property
    def unsaved(self) -> int:
        """How many changes are kept in memory because the disk is full."""
        return len(self._unsaved)

    def _disk_full(self, exc: DiskFullError) -> None:
        first = not self._retry_timer.isActive()
        self._retry_timer.start()
        n = len(self._unsaved)
        self.unsavedChanged.emit(n)
        if first:
            what = self._unsaved[0][0]
            self.message.emit("error", f"Not saved yet: the disk is full, so {what} could not be written to the "
                                       f"project. It is kept in memory with every change after it, and saved as "
                                       f"soon as there is space (tried again every {RETRY_SAVE_MS // 1000} s). "
                                       f"Free some space on the disk; keep this window open until the status bar "
                                       f"says everything is saved.\n\n{exc}")  # fmt: skip

    def _retry_tick(self) -> None:  # a slot returns nothing (a bool given back to Qt upsets PySide's refcounts)
        self.retry_unsaved()

    def retry_unsaved(self) -> bool:
        """Write the changes kept because the disk was full, in order; True when none is left. A change that
        fails for another reason than a full disk is dropped with a message (the rest still goes in)."""
        if not self._unsaved:
            self._retry_timer.stop()
            return True
        if self.store is None:
            return False
        while self._unsaved:
            what, _key, write = self._unsaved[0]
            try:
                write()
            except DiskFullError as exc:
                self._disk_full(exc)
                return False
            except Exception as exc:  # noqa: BLE001 - one bad change must not hold back the others
                log.error("could not save %s", what, exc_info=True)
                self.message.emit("error", f"Could not save {what}: {describe_error(exc)}")
            self._unsaved.pop(0)
        self._retry_timer.stop()
        self.unsavedChanged.emit(0)
        self.message.emit("info", "Saved: there is space on the disk again and every change is in the project")
        self.categoriesChanged.emit()
        self.notify(instances=True)
        return True

    def discard_unsaved(self) -> int:
        """Forget the changes kept because the disk was full (the user chose to); how many there were."""
        n = len(self._unsaved)
        if n:
            log.error("%d change(s) not saved (the disk is full) were discarded", n)
        self._unsaved.clear()
        self._unsaved_objects.clear()
        self._unsaved_masks.clear()
        self._retry_timer.stop()
        self.unsavedChanged.emit(0)
        return n

    def _setting(self, key: str, default=None):
        """A project setting, or ``default`` when it is missing or unreadable (a bad row never stops the app)."""
        if self.store is None:
            return default
        try:
            value = self.store.get_setting(key)
        except Exception as exc:  # noqa: BLE001
            log.warning("project setting %s unreadable: %s", key, exc)
            return default
        return default if value is None else value

    def _remember(self, key: str, value) -> None:
        """Write a project setting unless read-only; a failure is only logged (settings are a convenience)."""
        if self.store is None or self.read_only:
            return
        try:
            self.store.set_setting(key, value)
        except Exception as exc:  # noqa: BLE001
            log.warning("could not remember %s: %s", key, exc)

    # ------------------------------------------------------------------ projects
    def open_project(self, path, *, read_only: bool = False) -> None:
        """Open (or create) a project file; ProjectError when it cannot be read (ProjectLockedError when another
        running instance holds it: ``read_only=True`` then opens it for viewing only). A part of the project
        that cannot be read (a bad row) becomes a message; the rest opens."""
        if read_only:
            try:
                store = ProjectStore.open(path, read_only=True)
            except TypeError:
                raise ProjectError("this version cannot open a project read-only") from None
        else:
            store = ProjectStore.open(path)
        self.close_project()
        self.store = store
        self.read_only = bool(read_only or getattr(store, "read_only", False))
        problems = []
        try:
            if not store.categories() and not self.read_only:
                store.add_category(DEFAULT_CATEGORY)
            ids = [c.id for c in store.categories()]
        except Exception as exc:  # noqa: BLE001
            problems.append(f"categories: {describe_error(exc)}")
            ids = []
        cid = self._setting("gui.category")
        self.category_id = cid if cid in ids else (ids[0] if ids else None)
        self.projectChanged.emit()
        self.categoriesChanged.emit()
        try:
            images = self.images()
        except Exception as exc:  # noqa: BLE001
            problems.append(f"images: {describe_error(exc)}")
            images = []
        try:
            volumes = [v.id for v in store.volumes()]
        except Exception as exc:  # noqa: BLE001
            problems.append(f"volumes: {describe_error(exc)}")
            volumes = []
        self.filesChanged.emit()
        last = self._setting("gui.current_image")
        last_volume = self._setting("gui.current_volume")
        target = last if last in [r.id for r in images] else (images[0].id if images else None)
        try:
            if last_volume in volumes or (target is None and volumes):
                self.open_volume_id(last_volume if last_volume in volumes else volumes[0])
            elif target is not None:
                self.open_image(target)
        except Exception as exc:  # noqa: BLE001
            log.error("could not show the project's last image", exc_info=True)
            problems.append(f"the last image: {describe_error(exc)}")
        if problems:
            self.message.emit("error", f"Part of the project {Path(path).name} could not be read:\n"
                                       + "\n".join(problems))  # fmt: skip
        self._show_open_warnings(store, Path(path).name)
        self.statsChanged.emit()

    def _show_open_warnings(self, store, name: str) -> None:
        """Tell the user once what the store skipped or repaired while opening (``store.warnings``) and why a
        project opened read-only when nobody asked for it."""
        notes = [str(w) for w in (getattr(store, "warnings", None) or [])]
        reason = getattr(store, "read_only_reason", "")
        if self.read_only and reason and reason != "opened for viewing only":
            notes.insert(0, f"it is open read-only ({reason}): you can look, but nothing can be changed")
        if not notes:
            return
        first = notes[0] + (f" (and {len(notes) - 1} more)" if len(notes) > 1 else "")
        self.message.emit("notice", f"{name}: {first}\n\n" + "\n".join(f"• {n}" for n in notes))

    def ensure_project(self, for_paths=None) -> ProjectStore:
        """The open project; else the project the app keeps for the folder of ``for_paths`` (the same file each
        time that folder is opened), else a new autosave project."""
        if self.store is None:
            folder = common_folder(for_paths or [])
            p = folder_project_path(folder) if folder is not None else autosave_project_path()
            _make_dir(p.parent)
            self.open_project(p)
            self.message.emit("info", f"Project: {p}")
        return self.store

    def close_project(self) -> None:
        if self._unsaved and not self.retry_unsaved():
            n = self.discard_unsaved()
            self.message.emit("error", f"{n} change(s) could not be saved before the project was closed: the disk is "
                                       "full")  # fmt: skip
        self._drop_histories()
        self._flush_view()
        if self.store is not None:
            try:
                self.store.close()
            except Exception as exc:  # noqa: BLE001
                log.warning("closing the project: %s", exc)
        self.store = None
        self.read_only = False
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

        store = self.ensure_project(paths)
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
            except Exception as exc:  # noqa: BLE001 - one odd file must not stop the others
                errors.append(f"{f}: {describe_error(exc)}")
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
        try:
            rec = self.store.image(image_id)
        except Exception as exc:  # noqa: BLE001
            self.message.emit("error", describe_error(exc))
            return False
        if rec.is_slice:
            return self.open_volume_id(rec.volume_id, rec.axis, rec.slice_index)
        try:
            rgb = self._take_prefetched(rec.path)
            if rgb is None:
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
        self._remember("gui.current_image", image_id)
        self._remember("gui.current_volume", None)
        self._show(image_id, rec.path, rgb)
        self.filesChanged.emit()
        self._prefetch_next()
        return True

    # ------------------------------------------------------------------ background preparation
    def _prefetch_next(self) -> None:
        """Decode the next file of the list in a background thread, so D (next image) shows it at once."""
        from concurrent.futures import ThreadPoolExecutor

        entries = self.files()
        cur = self.current_file()
        if cur not in entries:
            return
        i = entries.index(cur)
        if i + 1 >= len(entries) or entries[i + 1][0] != "image":
            return
        try:
            path = self.store.image(entries[i + 1][1]).path
        except Exception:  # noqa: BLE001
            return
        if path in self._prefetched:
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="pseudoclick-prefetch")
        while len(self._prefetched) >= 2:
            self._prefetched.pop(next(iter(self._prefetched))).cancel()
        self._prefetched[path] = self._pool.submit(load_rgb, path)

    def _take_prefetched(self, path: str) -> np.ndarray | None:
        fut = self._prefetched.pop(path, None)
        if fut is None or fut.cancelled():
            return None
        try:
            return fut.result(timeout=30)
        except Exception:  # noqa: BLE001 - read it again in the UI thread, which reports the error
            return None

    def _warm(self, shape: tuple[int, int]) -> None:
        """In the worker's idle time: one prediction on a scratch session at this image size, so the first real
        click does not pay for the network's first run at a new input size (several hundred ms on a CPU)."""
        h, w = int(shape[0]), int(shape[1])

        def job(st: WorkerState) -> bool:
            done = st.__dict__.setdefault("warmed", set())
            if st.template is None or (h, w) in done or getattr(st.template, "image", None) is None:
                return False
            if tuple(st.template.image.shape[:2]) != (h, w):
                return False
            done.add((h, w))
            s = st.template.spawn()
            s.add_click(w / 2, h / 2, True)
            s.predict()
            s.add_click(w / 2 + 1, h / 2 + 1, True)  # the zoomed-in view of a second click
            s.predict()
            return False

        self.client.background(job)

    def _image_key(self, image_id: int | None):
        """What a kept undo history belongs to: the image row (and, for a volume slice, the channel shown)."""
        if image_id is None:
            return None
        return (image_id, self.channel) if self.volume is not None else (image_id, None)

    def _leave_image(self) -> None:
        """Keep the current image's undo history and object (and its worker sessions) for when it comes back."""
        key = self._image_key(self.image_id)
        if key is None or self.rgb is None or self.store is None or self.undo_stack.count() == 0:
            return
        self._kept.pop(key, None)
        self._kept[key] = {"stack": self.undo_stack, "token": self.token, "clicks": list(self.clicks),
                           "reopened": self.reopened, "seed": self.seed, "rgb_shape": self.rgb.shape}  # fmt: skip

        def op(st: WorkerState) -> bool:
            st.kept[key] = (st.sessions, st.token)
            st.sessions = {}
            return False

        self.client.submit(op, predict=False)
        while len(self._kept) > MAX_KEPT_HISTORIES:
            old = next(iter(self._kept))
            self._forget(old)

    def _forget(self, key) -> None:
        entry = self._kept.pop(key, None)
        if entry is not None:
            self.undo_group.removeStack(entry["stack"])
            entry["stack"].deleteLater()
        self.client.submit(lambda st: bool(st.kept.pop(key, None)) and False, predict=False)

    def _drop_histories(self) -> None:
        for key in list(self._kept):
            self._forget(key)
        self.undo_stack.clear()

    def _show(self, image_id: int | None, path: str, rgb: np.ndarray) -> None:
        """Show ``rgb`` (the network input, H x W x 3 uint8) as the current image. An image shown before in this
        run gets its undo history and object back as they were; otherwise its draft is replayed through a fresh
        session. ``image_id`` None: a volume slice without an image row yet (nothing drawn there)."""
        self._leave_image()
        self._propagation = None
        old_stack = self.undo_stack
        key = self._image_key(image_id)
        kept = self._kept.pop(key, None) if key is not None else None
        if kept is not None and kept["rgb_shape"] != rgb.shape:
            self._kept[key] = kept
            self._forget(key)
            kept = None
        self.image_id, self.image_path, self.rgb = image_id, path, rgb
        if kept is not None:
            self._set_stack(kept["stack"])

            def restore(st: WorkerState) -> bool:
                if st.template is None:
                    return False
                st.template.set_image(rgb)
                st.sessions, st.token = st.kept.pop(key, ({}, None))
                return st.session is not None

            self.client.submit(restore, predict=False)
            self.activate(kept["token"], kept["clicks"], kept["reopened"], kept["seed"])
        else:
            self._set_stack(self._new_stack())
            self._replay(image_id, rgb)
        if old_stack is not self.undo_stack and not any(e["stack"] is old_stack for e in self._kept.values()):
            self.undo_group.removeStack(old_stack)
            old_stack.deleteLater()
        self.last_ms = None
        self.imageChanged.emit()
        self.instancesChanged.emit()
        self.clicksChanged.emit()
        self.statsChanged.emit()
        if self.model_loaded:
            self._warm(rgb.shape[:2])

    def _read_draft(self, image_id: int):
        """(entries, reopened, seed) of the image's saved draft; a draft that cannot be read becomes a message
        and an empty object."""
        draft = self.store.draft(image_id) if image_id is not None else None
        entries: list[C.DraftClick] = []
        reopened = None
        seed = None
        if draft is None:
            return entries, reopened, seed
        kinds = {v: k for k, v in C.STORE_KIND.items()}
        for r in draft.clicks:
            if r.kind not in kinds:
                raise ProjectError(f"a click of unknown kind {r.kind!r}")
            kind = kinds[r.kind]
            click = Click(r.x, r.y, r.positive, "pseudo" if kind in ("pseudo", "withdrawn") else "human", r.confidence)
            entries.append(C.DraftClick(click, kind, r.id))
        reopened = draft.instance_id
        if draft.seed is not None:
            seed = draft.seed
        elif reopened is not None:  # saved before drafts kept their seed (schema 1)
            seed = self.store.instance_mask(reopened)
        elif draft.mask is not None and not entries:
            seed = draft.mask
        if seed is not None and draft.seed is None and not self.read_only:  # keep it from now on
            try:
                self.store.save_draft(image_id, draft.mask, instance_id=reopened, seed=seed)
            except PseudoClickError as exc:
                log.warning("could not save the draft's seed: %s", exc)
        return entries, reopened, seed

    def _replay(self, image_id: int | None, rgb: np.ndarray) -> None:
        """A fresh session for the image, with its saved draft (clicks as first given, seed) replayed."""
        token = self.new_token()
        try:
            entries, reopened, seed = self._read_draft(image_id)
        except Exception as exc:  # noqa: BLE001 - a bad row: the image opens without its unfinished object
            log.error("draft unreadable", exc_info=True)
            self.message.emit("error", f"The unfinished object of this image could not be restored: "
                                       f"{describe_error(exc)}")  # fmt: skip
            entries, reopened, seed = [], None, None

        def op(st: WorkerState) -> bool:
            if st.template is None:
                return False
            st.template.set_image(rgb)
            st.sessions = {}
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
            return seed is not None or bool(entries)

        self.client.submit(op, predict=False)
        self.activate(token, entries, reopened, seed)

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
        store = self.ensure_project([path])
        if not self._can_edit():
            return -1
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
            view = self._setting(f"gui.volume.{volume_id}", {})
            view = view if isinstance(view, dict) else {}
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
        self._remember(f"gui.volume.{self.volume_id}",
                       {"axis": self.axis, "channel": self.channel, "indices": self._axis_index})  # fmt: skip
        self._remember("gui.current_volume", self.volume_id)

    def _flush_view(self) -> None:
        if self._view_timer.isActive():
            self._view_timer.stop()
            self._save_view()

    def _ensure_row(self) -> bool:
        """Create the image row of the shown volume slice (on the first click there); a message when the
        project cannot take it (full disk)."""
        if self.image_id is None and self.volume is not None and self.store is not None:
            try:
                self.image_id = self.store.slice_image(self.volume_id, self.axis, self.slice_index)
            except PseudoClickError as exc:
                self.message.emit("error", f"Cannot start an object on this slice: {exc}")
                return False
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
            mask, category = self.instance_mask(inst.id), inst.category_id
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
        if self.image_id is not None and self._can_edit():
            store, iid, status = self.store, self.image_id, "done" if done else "in_progress"
            self.save("the image's status", lambda: store.set_image_status(iid, status))
            self.filesChanged.emit()
            self.statsChanged.emit()

    # ------------------------------------------------------------------ user actions
    def _ready(self) -> bool:
        return self.store is not None and self.image_id is not None

    def _model_ok(self) -> bool:
        if self.model_error:
            self.message.emit("error", f"No segmentation model is loaded: {self.model_error}")
            return False
        return True

    def click(self, x: float, y: float, positive: bool) -> None:
        if self.store is None or self.rgb is None or not self._model_ok() or not self._can_edit():
            return
        if not self._ensure_row():
            return
        self._auto_chain = 0
        self.undo_stack.push(C.ClickCommand(self, C.DraftClick(Click(float(x), float(y), bool(positive)), "human")))

    def accept_proposal(self) -> bool:
        if not self._ready() or self.proposal is None or not self._can_edit():
            return False
        p = self.proposal
        self.undo_stack.push(C.ClickCommand(self, C.DraftClick(p, "pseudo")))
        return True

    def withdraw_proposal(self) -> bool:
        if not self._ready() or self.proposal is None or not self._can_edit():
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
        if not self._ready() or (self.has_object() and not self._can_edit()):
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
        if self._ready() and self.has_object() and self._can_edit():
            self.undo_stack.push(C.ResetCommand(self))

    def reopen_instance(self, instance_id: int) -> bool:
        if not self._ready() or not self._can_edit():
            return False
        if self.has_object():
            self.message.emit("info", "Finish (Space) or reset (Esc) the current object first")
            return False
        self.undo_stack.push(C.ReopenCommand(self, instance_id))
        return True

    def delete_instance(self, instance_id: int) -> None:
        if self._ready() and self._can_edit():
            if instance_id == self.reopened:
                self.message.emit("info", "This object is being edited: reset it (Esc) first")
                return
            self.undo_stack.push(C.DeleteInstanceCommand(self, instance_id))

    def brush_target(self, instance_id: int | None) -> bool:
        """Whether ``instance_id`` (the object selected in the Objects panel) can be brushed now; says why not
        in a message otherwise."""
        if not self._ready() or not self._can_edit():
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

        mask = self.instance_mask(instance_id)
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
        if self._ready() and self._can_edit():
            self.undo_stack.push(C.SetCategoryCommand(self, instance_id, category_id))

    def set_instance_hidden(self, instance_id: int, hidden: bool) -> None:
        if not self._can_edit():
            self.instancesChanged.emit()
            return
        store = self.store
        self.save("the object's visibility", lambda: store.set_instance_hidden(instance_id, hidden))
        self.instancesChanged.emit()

    def set_category(self, category_id: int) -> None:
        self.category_id = category_id
        self._remember("gui.category", category_id)
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

    def set_suggestions(self, mode: str) -> None:
        """Preferences > Suggest next clicks: "on" (the checkpoint's own rule), "off" (no proposals are asked
        for or shown) or "paper" (the paper's rule: the largest region of the predicted error maps)."""
        if mode not in SUGGESTIONS:
            raise ValueError(f"suggestions must be one of {SUGGESTIONS}, not {mode!r}")
        if mode != "off":
            self.set_proposal_rule("paper" if mode == "paper" else None)
        self.set_proposals_enabled(mode != "off")

    def set_proposal_rule(self, rule: str | None) -> None:
        """The proposal rule of every object's session (and the ones made later): None for the checkpoint's own,
        "paper" for the paper's (``Session.set_proposal_rule``); the current object is proposed for again."""
        if rule == self.proposal_rule:
            return
        self.proposal_rule = rule

        def op(st: WorkerState) -> bool:
            st.proposal_rule = rule
            for s in (st.template, *st.sessions.values()):
                if s is not None:
                    s.set_proposal_rule(rule)
            self.proposalRuleChanged.emit(rule or "")
            return st.proposals and st.session is not None and bool(st.session.human_clicks)

        self.client.submit(op, predict=False)

    def _on_proposal_rule(self, rule: str) -> None:
        self.proposal_rule = rule or None

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
        if res.proposal_only:  # the pseudo-click pass for the mask already shown
            if res.prediction is not self.prediction:
                return
            self.proposal = res.proposal if self.proposals_enabled else None
            self.proposalChanged.emit()
            self._maybe_auto_accept()
            return
        self.prediction = res.prediction
        self.last_ms = getattr(res.prediction, "elapsed_ms", None) or res.seconds * 1000
        self.last_network = (getattr(res.prediction, "extra", None) or {}).get("network", "")
        live = None if res.live_pseudo is None else {(c.x, c.y, c.positive) for c in res.live_pseudo}
        if res.pseudo_lifetime != self.pseudo_lifetime or live != self.live_pseudo:
            self.pseudo_lifetime, self.live_pseudo = res.pseudo_lifetime, live
            self.clicksChanged.emit()
        self.proposal = res.proposal if self.proposals_enabled else None
        store, iid, reopened = self.store, self.image_id, self.reopened
        try:
            if self.read_only:
                pass
            elif self.has_object() and res.prediction is not None:
                mask = res.prediction.mask
                self.save("the object's mask", lambda: store.save_draft(iid, mask, instance_id=reopened),
                          key=("draft", iid))  # fmt: skip
            elif not self.has_object() and self.seed is None:
                # every click undone: no object is being drawn, so no stale mask may come back on reopen
                self.save("the object's mask", lambda: store.clear_draft(iid, discard_clicks=False),
                          key=("draft", iid))  # fmt: skip
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
        self._maybe_auto_accept()

    def _maybe_auto_accept(self) -> None:
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
        """Stop the worker thread and close the project (safe to call twice)."""
        try:
            self._flush_view()
        except Exception:  # noqa: BLE001
            log.warning("could not save the view", exc_info=True)
        if self._unsaved and not self.retry_unsaved():
            log.error("%d change(s) could not be saved (the disk is full) and are lost", self.discard_unsaved())
        self._retry_timer.stop()
        self.client.shutdown()
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
        if self.store is not None:
            try:
                self.store.close()
            except Exception:  # noqa: BLE001
                log.warning("closing the project", exc_info=True)
            self.store = None


def default_project_name(path) -> str:
    return os.path.splitext(os.path.basename(path))[0]
