"""The main window: menus and toolbar built from :mod:`.shortcuts`, the canvas, the docks, the status bar.
It turns annotator signals into canvas layers and user input into annotator calls."""

from __future__ import annotations

import logging
import math
import threading
import time
from pathlib import Path

import numpy as np
from PySide6.QtCore import QByteArray, QEvent, QObject, Qt, QTimer
from PySide6.QtGui import QAction, QColor, QKeySequence
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QApplication,
    QButtonGroup,
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QDockWidget,
    QDoubleSpinBox,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMessageBox,
    QProgressDialog,
    QRadioButton,
    QSlider,
    QTextBrowser,
    QTextEdit,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from .. import __version__
from ..errors import PseudoClickError
from . import brush as br
from . import overlay as ov
from .annotator import PROJECT_SUFFIX, Annotator, app_managed, describe_error, is_locked
from .canvas import Canvas
from .panels import CategoriesPanel, FilesPanel, InstancesPanel
from .settings import AppSettings, data_dir
from .shortcuts import HELP_INTRO, HELP_SAVING, SHORTCUTS, help_html
from .slots import no_return
from .volume_view import (
    MARKER_COLORS,
    WINDOW_AUTO,
    WINDOW_CUSTOM,
    WINDOW_DEFAULT,
    SliceRenderer,
    VolumeBar,
    dicom_series_choices,
    looks_like_volume,
)

log = logging.getLogger(__name__)

PROJECT_FILTER = f"PseudoClick projects (*{PROJECT_SUFFIX} *.sqlite *.db);;All files (*)"
IMAGE_FILTER = "Images (*.jpg *.jpeg *.png *.bmp *.tif *.tiff);;All files (*)"
VOLUME_FILTER = "Volumes (*.nii *.nii.gz *.dcm *.dicom *.ima *.tif *.tiff);;All files (*)"
# Edit > Preferences > Suggest next clicks
SUGGESTION_CHOICES = (("on", "On"), ("off", "Off"),
                      ("paper", "The paper's rule (the largest region the network marks as wrong)"))
DEFAULT_SIZE = (1280, 800)


class PreferencesDialog(QDialog):
    """Edit > Preferences: the one choice about suggested clicks."""

    def __init__(self, current: str, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Preferences")
        box = QGroupBox("Suggest next clicks")
        lay = QVBoxLayout(box)
        self.group = QButtonGroup(self)
        self.buttons: dict[str, QRadioButton] = {}
        for key, text in SUGGESTION_CHOICES:
            b = QRadioButton(text)
            self.group.addButton(b)
            self.buttons[key] = b
            lay.addWidget(b)
        note = QLabel("After each click the app proposes the next one (a dashed ring): Enter accepts it, Backspace "
                      "withdraws it. “On” uses the rule the shipped model was tuned with; the paper's rule is the "
                      "method's reference.")  # fmt: skip
        note.setWordWrap(True)
        note.setStyleSheet("color:#666")
        lay.addWidget(note)
        self.buttons.get(current, self.buttons["on"]).setChecked(True)
        bb = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        bb.accepted.connect(self.accept)
        bb.rejected.connect(self.reject)
        outer = QVBoxLayout(self)
        outer.addWidget(box)
        outer.addWidget(bb)
        self.setMinimumWidth(520)
        note.setMinimumHeight(note.heightForWidth(480))  # the wrapped note is never cut

    def choice(self) -> str:
        return next(k for k, b in self.buttons.items() if b.isChecked())


TEXT_INPUTS = (QLineEdit, QTextEdit, QAbstractSpinBox)


class _SpaceRouter(QObject):
    """Space belongs to the canvas (tap: finish the object; hold + drag: pan) whatever widget of the main window
    has focus, so it never presses a button (e.g. re-opens "New category"); text fields keep their Space."""

    def __init__(self, window):
        super().__init__(window)
        self.window = window

    def eventFilter(self, obj, ev):  # noqa: N802 - Qt's name
        t = ev.type()
        if t not in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease, QEvent.Type.ShortcutOverride):
            return False
        if ev.key() != Qt.Key.Key_Space or ev.modifiers() & ~Qt.KeyboardModifier.KeypadModifier:
            return False
        w = self.window
        focus = QApplication.focusWidget()
        if focus is None or focus is w.canvas or isinstance(focus, TEXT_INPUTS):
            return False
        top = focus.window()
        if top is not w and not (top.parent() is w or (top.parentWidget() is not None and top.parentWidget().window() is w)):
            return False  # another window (a dialog): its Space is its own
        if QApplication.activeModalWidget() is not None:
            return False
        if t == QEvent.Type.ShortcutOverride:
            ev.accept()
            return True
        (w.canvas.keyPressEvent if t == QEvent.Type.KeyPress else w.canvas.keyReleaseEvent)(ev)
        return True


class MainWindow(QMainWindow):
    def __init__(self, session_factory, settings: AppSettings | None = None):
        super().__init__()
        self.settings = settings or AppSettings.load()
        self.ann = Annotator(session_factory, self)
        self.ann.proposals_enabled = self.settings.suggestions != "off"
        self.ann.auto_accept = self.settings.auto_accept
        self.ann.auto_accept_threshold = self.settings.auto_accept_threshold
        self.setWindowTitle("PseudoClick")
        self.resize(*DEFAULT_SIZE)
        self._boxes: list[QMessageBox] = []
        self._mask_cache: dict[tuple[int, float], np.ndarray] = {}
        self._scale = 1.0
        self._overlay_visible = True
        self._stroke_target: int | None = None  # the object the brush stroke being drawn edits

        self.canvas = Canvas()
        self.banner = QLabel()
        self.banner.setWordWrap(True)
        self.banner.setStyleSheet("background:#8a1c1c;color:white;padding:6px;font-weight:bold")
        self.banner.hide()
        # reader warnings about the open volume (gantry tilt, irregular spacing, ...): shown until dismissed
        self.volume_banner = QWidget()
        self.volume_banner.setStyleSheet("background:#7a5a00;color:white")
        vb = QHBoxLayout(self.volume_banner)
        vb.setContentsMargins(6, 3, 3, 3)
        self.volume_warning = QLabel()
        self.volume_warning.setWordWrap(True)
        self.volume_warning.setStyleSheet("font-weight:bold")
        close = QToolButton()
        close.setText("✕")
        close.setToolTip("Dismiss")
        close.setAutoRaise(True)
        close.clicked.connect(self.volume_banner.hide)
        vb.addWidget(self.volume_warning, 1)
        vb.addWidget(close)
        self.volume_banner.hide()
        self.volume_bar = VolumeBar()
        self.volume_bar.hide()
        self.renderer: SliceRenderer | None = None
        self._window_choice = WINDOW_DEFAULT
        self._window = (0.0, 1.0)  # (level, width) of the display
        self._view_key = None  # (volume, axis) last shown, to keep zoom/pan while stepping slices
        central = QWidget()
        lay = QVBoxLayout(central)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        lay.addWidget(self.banner)
        lay.addWidget(self.volume_banner)
        lay.addWidget(self.canvas, 1)
        lay.addWidget(self.volume_bar)
        self.setCentralWidget(central)

        self.files_panel = FilesPanel(self.ann)
        self.instances_panel = InstancesPanel(self.ann)
        self.categories_panel = CategoriesPanel(self.ann)
        for title, w, area in (("Categories", self.categories_panel, Qt.DockWidgetArea.RightDockWidgetArea),
                               ("Objects", self.instances_panel, Qt.DockWidgetArea.RightDockWidgetArea),
                               ("Files", self.files_panel, Qt.DockWidgetArea.LeftDockWidgetArea)):  # fmt: skip
            d = QDockWidget(title, self)
            d.setObjectName(f"dock_{title}")
            d.setWidget(w)
            self.addDockWidget(area, d)

        self._build_actions()
        self._build_toolbar()
        self._build_menus()
        self._build_statusbar()
        self._connect()
        self._apply_settings()

    # ------------------------------------------------------------------ construction
    def _build_actions(self) -> None:
        slots = {
            "accept": self.ann.accept_proposal, "withdraw": self.ann.withdraw_proposal,
            "undo": self.ann.undo, "redo": self.ann.redo, "finish": self.ann.finish, "reset": self.escape,
            "brush": lambda: self.toggle_brush("brush"), "eraser": lambda: self.toggle_brush("erase"),
            "brush_bigger": lambda: self.set_brush_radius(br.bigger(self.canvas.brush_radius)),
            "brush_smaller": lambda: self.set_brush_radius(br.smaller(self.canvas.brush_radius)),
            "delete_instance": self.instances_panel.delete_selected,
            "reopen_instance": self.instances_panel.reopen_selected,
            "next_category": self.categories_panel.select_next,
            "fit": self.canvas.fit, "actual_size": self.canvas.actual_size,
            "next_image": lambda: self.ann.step_image(1), "prev_image": lambda: self.ann.step_image(-1),
            "mark_done": self.toggle_done, "open_image": self.open_images_dialog,
            "next_slice": lambda: self.step_slice(1), "prev_slice": lambda: self.step_slice(-1),
            "propagate_next": lambda: self.propagate(1), "propagate_prev": lambda: self.propagate(-1),
            "next_axis": self.next_axis, "next_window": self.next_window, "next_channel": self.next_channel,
            "open_volume": self.open_volume_dialog, "open_volume_folder": self.open_volume_folder_dialog,
            "open_folder": self.open_folder_dialog, "open_project": self.open_project_dialog,
            "new_project": self.new_project_dialog, "export_coco": lambda: self.export_dialog("coco"),
            "help": self.show_help, "quit": self.close, "preferences": self.show_preferences,
        }  # fmt: skip
        checkable = {"toggle_proposals": self.set_proposals, "toggle_contours": self.set_contours,
                     "toggle_errors": self.set_errors, "toggle_overlay": self.set_overlay_visible}  # fmt: skip
        self.actions: dict[str, QAction] = {}
        for s in SHORTCUTS:
            if not s.action:
                continue
            a = QAction(s.text.split(" (")[0], self)
            a.setToolTip(f"{s.text} ({' / '.join(s.keys)})")
            a.setShortcuts([QKeySequence(k) for k in s.keys if k != "Space"])  # Space: canvas (Space+drag pans)
            # whatever widget has focus (a dock, a floating dock, a button after a dialog); modal dialogs and
            # text fields still keep their keys
            a.setShortcutContext(Qt.ShortcutContext.ApplicationShortcut)
            if s.action in checkable:
                a.setCheckable(True)
                a.toggled.connect(checkable[s.action])
            else:
                a.triggered.connect(lambda _=False, f=slots[s.action]: no_return(f))
            self.addAction(a)
            self.actions[s.action] = a
        short = {"open_image": "Open", "open_folder": "Folder", "open_volume": "Volume", "prev_image": "◀ Prev", "next_image": "Next ▶",
                 "finish": "Finish", "reset": "Reset", "accept": "Accept", "withdraw": "Withdraw",
                 "fit": "Fit", "actual_size": "1:1", "undo": "Undo", "redo": "Redo"}  # fmt: skip
        for k, text in short.items():
            self.actions[k].setIconText(text)
        self.actions["undo"].setEnabled(False)
        self.actions["redo"].setEnabled(False)
        self.actions["toggle_proposals"].setText("Suggestions")
        self.actions["toggle_proposals"].setIconText("Suggest")
        self.actions["finish"].setText("Finish the object\tSpace")  # Space is the canvas's (tap: finish)
        self.actions["toggle_errors"].setText("Error maps")
        self.actions["toggle_contours"].setText("Contours")
        self.actions["toggle_overlay"].setText("Masks")
        for k, text in (("brush", "Brush"), ("eraser", "Eraser")):
            self.actions[k].setCheckable(True)  # checked state follows the canvas mode (see _sync_brush)
            self.actions[k].setText(text)
        extra = {"export_coco_poly": ("Export COCO (polygons)…", lambda: self.export_dialog("coco", polygons=True)),
                 "export_png": ("Export PNG masks…", lambda: self.export_dialog("png"))}  # fmt: skip
        for k, (text, f) in extra.items():
            a = QAction(text, self)
            a.triggered.connect(lambda _=False, f=f: no_return(f))
            self.actions[k] = a
        self.actions["export_coco"].setText("Export COCO (RLE)…")
        self.actions["preferences"].setText("Preferences…")

    def _build_toolbar(self) -> None:
        tb = self.addToolBar("Main")
        tb.setObjectName("toolbar_main")
        for k in ("open_image", "open_folder", "open_volume", "prev_image", "next_image", None, "undo", "redo", "finish", "reset",
                  None, "accept", "withdraw", "toggle_proposals", None, "brush", "eraser"):  # fmt: skip
            tb.addSeparator() if k is None else tb.addAction(self.actions[k])
        self.auto_box = QCheckBox("Auto-accept ≥")
        self.auto_box.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.auto_box.setToolTip("Accept proposals automatically when their confidence is at least this")
        self.auto_spin = QDoubleSpinBox()
        self.auto_spin.setRange(0.05, 1.0)
        self.auto_spin.setSingleStep(0.05)
        self.auto_spin.setDecimals(2)
        tb.addWidget(self.auto_box)
        tb.addWidget(self.auto_spin)
        self.addToolBarBreak()  # the view tools on a second row: nothing hides in an overflow menu at 1280 px
        tb2 = self.addToolBar("View")
        tb2.setObjectName("toolbar_view")
        tb2.addWidget(QLabel(" Opacity "))
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setFixedWidth(110)
        self.opacity.setToolTip("Mask opacity")
        self.opacity.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        tb2.addWidget(self.opacity)
        for k in ("toggle_overlay", "toggle_contours", "toggle_errors", "fit", "actual_size"):
            tb2.addAction(self.actions[k])

    def _build_menus(self) -> None:
        mb = self.menuBar()
        m = mb.addMenu("&File")
        for k in ("new_project", "open_project"):
            m.addAction(self.actions[k])
        self.recent_menu = m.addMenu("Recent projects")
        m.addSeparator()
        for k in ("open_image", "open_folder", "open_volume", "open_volume_folder", "prev_image", "next_image",
                  "mark_done"):  # fmt: skip
            m.addAction(self.actions[k])
        m.addSeparator()
        em = m.addMenu("Export")
        for k in ("export_coco", "export_coco_poly", "export_png"):
            em.addAction(self.actions[k])
        m.addSeparator()
        m.addAction(self.actions["quit"])
        m = mb.addMenu("&Edit")
        for k in ("undo", "redo", None, "accept", "withdraw", "toggle_proposals", None, "finish", "reset",
                  "reopen_instance", "delete_instance", "next_category", None, "brush", "eraser", "brush_smaller",
                  "brush_bigger"):  # fmt: skip
            m.addSeparator() if k is None else m.addAction(self.actions[k])
        m.addSeparator()
        m.addAction(self.actions["preferences"])
        m = mb.addMenu("&View")
        for k in ("fit", "actual_size", None, "toggle_overlay", "toggle_contours", "toggle_errors"):
            m.addSeparator() if k is None else m.addAction(self.actions[k])
        m = mb.addMenu("V&olume")
        for k in ("next_slice", "prev_slice", None, "propagate_next", "propagate_prev", None, "next_axis",
                  "next_window", "next_channel"):  # fmt: skip
            m.addSeparator() if k is None else m.addAction(self.actions[k])
        self.actions["propagate_next"].setText("Propagate the object to the next slice")
        self.actions["propagate_prev"].setText("Propagate the object to the previous slice")
        for k in ("propagate_next", "propagate_prev", "next_axis", "next_window", "next_channel"):
            self.actions[k].setEnabled(False)  # until a volume is open
        m = mb.addMenu("&Help")
        m.addAction(self.actions["help"])
        about = QAction("About", self)
        about.triggered.connect(self.show_about)
        m.addAction(about)

    def _build_statusbar(self) -> None:
        sb = self.statusBar()
        self.st_device = QLabel("loading model…")
        self.st_ms = QLabel("")
        self.st_object = QLabel("")
        self.st_saved = QLabel("")
        self.st_busy = QLabel("")
        self.st_slice = QLabel("")
        self.st_brush = QLabel("")
        self.st_unsaved = QLabel("")  # changes kept in memory because the disk is full
        self.st_unsaved.setStyleSheet("color: #c0392b; font-weight: bold")
        self.st_unsaved.setToolTip("The disk is full: these changes are kept in memory and saved as soon as there is "
                                   "space. Free some space; keep this window open until this goes away.")  # fmt: skip
        self.st_unsaved.hide()
        for w in (self.st_unsaved, self.st_brush, self.st_slice, self.st_busy, self.st_object, self.st_saved,
                  self.st_ms, self.st_device):  # fmt: skip
            sb.addPermanentWidget(w)
        self.st_saved.setToolTip("Objects finished in this project, and the human clicks that accepted pseudo "
                                 "clicks saved")  # fmt: skip

    def _connect(self) -> None:
        a, c = self.ann, self.canvas
        c.clicked.connect(self._on_canvas_click)
        c.proposalClicked.connect(lambda: no_return(a.accept_proposal))
        c.spaceTapped.connect(lambda: no_return(a.finish))
        a.imageChanged.connect(self._on_image)
        a.predictionChanged.connect(self._draw_current)
        a.instancesChanged.connect(self._draw_instances)
        a.categoriesChanged.connect(self._draw_instances)
        a.categoriesChanged.connect(self._draw_current)
        a.clicksChanged.connect(self._draw_clicks)
        a.proposalChanged.connect(lambda: c.set_proposal(a.proposal))
        a.statsChanged.connect(self._update_status)
        a.message.connect(self.show_message)
        a.unsavedChanged.connect(self._on_unsaved)
        a.clicksChanged.connect(self._maybe_refresh_files)
        a.modelReady.connect(self._on_model)
        a.busyChanged.connect(lambda b: self.st_busy.setText("⏳ predicting…" if b else ""))
        a.projectChanged.connect(self._on_project)
        a.undo_group.canUndoChanged.connect(self.actions["undo"].setEnabled)
        a.undo_group.canRedoChanged.connect(self.actions["redo"].setEnabled)
        a.volumeChanged.connect(self._on_volume)
        a.instancesChanged.connect(self._refresh_markers)
        a.clicksChanged.connect(self._refresh_markers)
        c.sliceWheel.connect(self.step_slice)
        c.windowDragged.connect(self._drag_window)
        c.cursorMoved.connect(self._show_value)
        c.strokeStarted.connect(self._on_stroke_started)
        c.strokeFinished.connect(self._on_stroke_finished)
        vbar = self.volume_bar
        vbar.sliceRequested.connect(lambda i: no_return(self.ann.open_slice, self.ann.axis, i))
        vbar.axisRequested.connect(self.ann.set_axis)
        vbar.channelRequested.connect(self.ann.set_channel)
        vbar.windowChosen.connect(self.set_window_choice)
        vbar.spin.editingFinished.connect(self.canvas.setFocus)
        self.auto_spin.editingFinished.connect(self.canvas.setFocus)
        self.categories_panel.dialogClosed.connect(self.canvas.setFocus)
        self.instances_panel.dialogClosed.connect(self.canvas.setFocus)
        self._space_router = _SpaceRouter(self)
        QApplication.instance().installEventFilter(self._space_router)
        self.ann.volume_loader = self._load_volume
        self.opacity.valueChanged.connect(self._set_opacity)
        self.auto_box.toggled.connect(self._set_auto)
        self.auto_spin.valueChanged.connect(self._set_auto)

    def _apply_settings(self) -> None:
        s = self.settings
        self.opacity.setValue(round(s.overlay_opacity * 100))
        self._set_opacity(self.opacity.value())
        self.actions["toggle_overlay"].setChecked(True)
        self.actions["toggle_proposals"].setChecked(s.suggestions != "off")
        self.actions["toggle_contours"].setChecked(s.contour_mode)
        self.actions["toggle_errors"].setChecked(s.show_error_maps)
        self.auto_spin.setValue(s.auto_accept_threshold)
        self.auto_box.setChecked(s.auto_accept)
        if s.suggestions == "paper" or (s.suggestions == "off" and s.suggestions_on == "paper"):
            self.ann.set_proposal_rule("paper")
        self.canvas.show_hint(not s.hint_done)
        if s.window_geometry:
            self.restoreGeometry(QByteArray.fromBase64(s.window_geometry.encode()))
        if s.window_state:
            self.restoreState(QByteArray.fromBase64(s.window_state.encode()))
        self._refresh_recent()

    # ------------------------------------------------------------------ drawing
    def _on_image(self) -> None:
        a = self.ann
        rgb = a.rgb
        self._mask_cache.clear()
        self._scale = ov.overlay_scale(*rgb.shape[:2])
        if a.volume is not None and self.renderer is not None:
            key = (id(a.volume), a.axis)
            self.canvas.set_image(self._slice_pixmap(), aspect=a.pixel_aspect(),
                                  keep_view=key == self._view_key)  # fmt: skip
            self._view_key = key
            self.volume_bar.set_index(a.slice_index)
            name = f"{self._volume_name()} — {a.axis} {a.slice_index}/{a.n_slices() - 1}"
            self._update_slice_status()
            QTimer.singleShot(0, self._prefetch)  # after this slice is painted
        else:
            self.canvas.set_image(ov.rgb_to_qimage(rgb))
            self._view_key = None
            name = Path(a.image_path).name
        self._draw_instances()
        self._draw_current()
        self._draw_clicks()
        self.canvas.setFocus()  # Space / Enter / Backspace go to the canvas
        self.setWindowTitle(f"{name} — {self._project_name()} — PseudoClick")

    def _project_name(self) -> str:
        if self.ann.store is None:
            return "no project"
        return Path(self.ann.store.path).name + (" [read-only]" if self.ann.read_only else "")

    def _display_shape(self) -> tuple[int, int]:
        return ov.display_size(*self.ann.rgb.shape[:2], self._scale)

    def _instance_mask(self, inst) -> np.ndarray:
        pending = self.ann.unsaved_mask(inst.id)  # a stroke waiting for space on the disk is shown as made
        if pending is not None:
            return ov.downsample(pending, self._scale)
        key = (inst.id, inst.updated)
        m = self._mask_cache.get(key)
        if m is None:
            m = ov.downsample(inst.mask(), self._scale)
            self._mask_cache[key] = m
        return m

    def _draw_instances(self) -> None:
        a = self.ann
        if a.store is None or a.rgb is None or a.image_id is None:  # None: a volume slice nobody drew on yet
            self.canvas.set_layer("instances", None)
            self.instances_panel.refresh()
            return
        colors = {c.id: c.color for c in a.store.categories()}
        insts = [i for i in a.store.instances(a.image_id) if not i.hidden and i.id != a.reopened]
        layers = [(self._instance_mask(i), ov.instance_color(colors.get(i.category_id, "#ff00ff"), i.id)) for i in insts]
        outlines = [(self._instance_outline(i, m), c) for i, (m, c) in zip(insts, layers)]
        for mask, cid in a.unsaved_objects(a.image_id):  # finished, waiting for space on the disk: still shown
            m = ov.downsample(mask, self._scale)
            layers.append((m, colors.get(cid, "#ff00ff")))
            outlines.append((ov.mask_outlines(m, self._scale), colors.get(cid, "#ff00ff")))
        shape = self._display_shape()
        if self.actions["toggle_contours"].isChecked():
            self.canvas.set_layer("instances", None)
        else:
            rgba = ov.paint_masks(layers, shape, thickness=0)
            self.canvas.set_layer("instances", ov.rgba_to_qimage(rgba))
        # outlines: vector paths with cosmetic pens, one screen pixel wide at any zoom
        self.canvas.set_outlines("instances", outlines)
        self.instances_panel.refresh()

    def _instance_outline(self, inst, mask: np.ndarray) -> list:
        if self.ann.unsaved_mask(inst.id) is not None:
            return ov.mask_outlines(mask, self._scale)
        key = ("outline", inst.id, inst.updated)
        polys = self._mask_cache.get(key)
        if polys is None:
            polys = ov.mask_outlines(mask, self._scale)
            self._mask_cache[key] = polys
        return polys

    def _current_color(self) -> str:
        a = self.ann
        if a.store is None:
            return "#ffcc00"
        try:
            cid = a.store.instance(a.reopened).category_id if a.reopened is not None else a.category_id
            return a.store.category(cid).color
        except PseudoClickError:
            return "#ffcc00"

    def _draw_current(self) -> None:
        a = self.ann
        pred = a.prediction
        if pred is None or a.rgb is None or not a.has_object():
            self.canvas.set_layer("current", None)
            self.canvas.set_outlines("current", [])
            self.canvas.set_layer("errors", None)
            return
        m = ov.downsample(pred.mask, self._scale)
        color = self._current_color()
        if self.actions["toggle_contours"].isChecked():
            self.canvas.set_layer("current", None)
            self.canvas.set_outlines("current", [(ov.mask_outlines(m, self._scale), color)])
        else:
            rgba = ov.paint_masks([(m, color)], m.shape, thickness=0)
            self.canvas.set_layer("current", ov.rgba_to_qimage(rgba))
            self.canvas.set_outlines("current", [(ov.mask_outlines(m, self._scale), "#ffffff")])
        if self.actions["toggle_errors"].isChecked():
            heat = ov.error_heatmap(ov.downsample(pred.fp, self._scale), ov.downsample(pred.fn, self._scale))
            self.canvas.set_layer("errors", ov.rgba_to_qimage(heat))
        else:
            self.canvas.set_layer("errors", None)

    def _draw_clicks(self) -> None:
        self.canvas.set_clicks(self.ann.click_markers())
        self.canvas.set_proposal(self.ann.proposal)
        self._update_status()

    def _maybe_refresh_files(self) -> None:
        """The first click on an untouched image makes it 'in progress': show it."""
        a = self.ann
        if a.store is not None and a.image_id is not None and a.clicks:
            if a.store.image(a.image_id).status == "untouched":
                return
            it = self.files_panel.list.currentItem()
            if it is not None and it.text().startswith("○"):
                self.files_panel.refresh()

    def _update_status(self) -> None:
        a = self.ann
        self.st_device.setText(f"Device: {a.device_name}")
        grey = " (grey network)" if a.last_network == "grey" else ""
        self.st_ms.setText(f"{a.last_ms:.0f} ms{grey}" if a.last_ms else "")
        self.st_ms.setToolTip("How long the network took for the last prediction")
        h, p = a.object_counts()
        n_prop = a.object_propagated()
        self.st_object.setText(f"object: {h} click{'s' if h != 1 else ''} + {p} suggested"
                               + (f" + {n_prop} propagated" if n_prop else ""))  # fmt: skip
        self.st_object.setToolTip("The current object: your clicks, accepted suggested (pseudo) clicks and clicks "
                                  "propagated from the neighbouring slice")  # fmt: skip
        if a.store is not None:
            try:
                st = a.store.stats()
                ro = " · read-only" if a.read_only else ""
                n, k = st["instances"], st["human_clicks_saved"]
                self.st_saved.setText(f"project: {n} object{'s' * (n != 1)} · {k} click{'s' * (k != 1)} "
                                      f"saved{ro}")  # fmt: skip
            except Exception as exc:  # noqa: BLE001 - a status line never stops the app
                log.warning("project stats: %s", exc)
        else:
            self.st_saved.setText("no project")

    # ------------------------------------------------------------------ volumes
    def _volume_name(self) -> str:
        from .panels import volume_display_name

        path = self.ann.volume_path or ""
        if getattr(self, "_volume_name_of", (None, ""))[0] != path:
            self._volume_name_of = (path, volume_display_name(path) if path else "")
        return self._volume_name_of[1]

    def _on_volume(self) -> None:
        """A volume was opened or closed, or its plane / channel changed."""
        a = self.ann
        vol = a.volume
        for k in ("propagate_next", "propagate_prev", "next_axis", "next_window", "next_channel"):
            self.actions[k].setEnabled(vol is not None)
        if vol is None:
            self.renderer = None
            self.volume_bar.hide()
            self.volume_banner.hide()
            self.canvas.volume_input = False
            self.st_slice.setText("")
            return
        if self.renderer is None or self.renderer.volume is not vol:
            self.renderer = SliceRenderer(vol)
            self._window_choice = WINDOW_DEFAULT
            self._window_channel = None
            warnings = list(vol.warnings)
            if warnings:
                self.volume_warning.setText(f"⚠ {self._volume_name()}: " + "  •  ".join(warnings))
                self.volume_banner.show()
            else:
                self.volume_banner.hide()
        if getattr(self, "_window_channel", None) != a.channel and self._window_choice != WINDOW_CUSTOM:
            self._window = self._window_for(self._window_choice)
        self._window_channel = a.channel
        self.volume_bar.set_volume(a.axis, a.n_slices(), vol.channel_names, a.channel)
        self.volume_bar.set_window(self._window_choice, *self._window)
        self.volume_bar.show()
        self.canvas.volume_input = True
        self._refresh_markers()

    def _window_for(self, choice: str) -> tuple[float, float]:
        from ..io.windowing import WINDOW_PRESETS

        r, ch = self.renderer, self.ann.channel
        if choice == WINDOW_AUTO:
            return r.auto_window(ch)
        if choice in WINDOW_PRESETS:
            return WINDOW_PRESETS[choice]
        if choice == WINDOW_CUSTOM:
            return self._window
        return r.default_window(ch)

    def _slice_pixmap(self):
        a = self.ann
        return self.renderer.pixmap(a.axis, a.slice_index, a.channel, *self._window)

    def _prefetch(self) -> None:
        a = self.ann
        if self.renderer is not None and a.volume is self.renderer.volume:
            self.renderer.prefetch(a.axis, a.slice_index, a.channel, *self._window)

    def set_window(self, level: float, width: float, choice: str = WINDOW_CUSTOM) -> None:
        """Display window/level (raw intensity units). Display only: the network input does not change."""
        if self.renderer is None or not width > 0:
            return
        self._window_choice = choice
        self._window = (float(level), float(width))
        self.volume_bar.set_window(choice, *self._window)
        self.canvas.replace_image(self._slice_pixmap())
        self._update_slice_status()
        QTimer.singleShot(0, self._prefetch)

    def set_window_choice(self, choice: str) -> None:
        if self.renderer is not None:
            self.set_window(*self._window_for(choice), choice=choice)

    def next_window(self) -> None:
        if self.renderer is None:
            return
        items = [self.volume_bar.window.itemText(i) for i in range(self.volume_bar.window.count())]
        items.remove(WINDOW_CUSTOM)
        i = items.index(self._window_choice) if self._window_choice in items else -1
        self.set_window_choice(items[(i + 1) % len(items)])

    def _drag_window(self, dx: float, dy: float) -> None:
        """Ctrl+right-drag: right = wider, down = higher level (darker), scaled to the current width."""
        level, width = self._window
        width = max(width * math.exp(dx / 150.0), 1e-6)
        self.set_window(level + dy * width / 300.0, width)

    def step_slice(self, delta: int) -> None:
        if self.ann.volume is not None:
            self.ann.step_slice(delta)
        else:
            self.ann.step_image(1 if delta > 0 else -1)

    def next_axis(self) -> None:
        from .annotator import AXES

        a = self.ann
        if a.volume is not None:
            a.set_axis(AXES[(AXES.index(a.axis) + 1) % len(AXES)])

    def next_channel(self) -> None:
        a = self.ann
        if a.volume is not None and len(a.volume.channel_names) > 1:
            names = a.volume.channel_names
            a.set_channel(names[(names.index(a.channel) + 1) % len(names)])

    def propagate(self, delta: int) -> bool:
        return self.ann.propagate(delta, self.instances_panel.selected())

    def _refresh_markers(self) -> None:
        a = self.ann
        if a.volume is None:
            self.volume_bar.slider.set_markers({})
            return
        self.volume_bar.slider.set_markers({i: MARKER_COLORS[k] for i, k in a.slice_markers().items()})

    def _update_slice_status(self, value_text: str = "") -> None:
        a = self.ann
        if a.volume is None:
            return
        h, w = a.pixel_spacing()
        ch = f" · {a.channel}" if len(a.volume.channel_names) > 1 else ""
        self.st_slice.setText(f"{a.axis} {a.slice_index}/{a.n_slices() - 1} · pixel {w:.2f}×{h:.2f} mm{ch}"
                              + (f" · {value_text}" if value_text else ""))  # fmt: skip

    def _show_value(self, x: int, y: int) -> None:
        a = self.ann
        if a.volume is None or a.rgb is None:
            return
        hh, ww = a.rgb.shape[:2]
        if 0 <= x < ww and 0 <= y < hh:
            v = float(a.volume.slice(a.axis, a.slice_index, a.channel)[y, x])
            self._update_slice_status(f"({x}, {y}) = {v:.4g}")

    def _load_volume(self, path, series_uid=None):
        """Read a volume behind a progress dialog (the annotator's loader); raises VolumeLoadError."""
        from ..io.volume import open_volume

        return self.run_with_progress("Opening the volume…", lambda: open_volume(path, series_uid=series_uid))

    def choose_series(self, infos):
        """Ask which DICOM series of a folder to open; the chosen ``SeriesInfo`` or None."""
        items = [i.describe() for i in infos]
        item, ok = QInputDialog.getItem(self, "Choose a DICOM series", "This folder holds several series:", items, 0, False)
        return infos[items.index(item)] if ok and item in items else None

    def open_volume(self, path, series_uid: str | None = None) -> bool:
        """Open a volume (NIfTI file, DICOM folder or file, BraTS case folder, TIFF stack, folder of sections),
        register it in the project and show it. A folder with several DICOM series asks which one."""
        p = Path(path)
        register = p
        try:
            if series_uid is None and p.is_dir():
                infos = self.run_with_progress("Reading DICOM headers…", lambda: dicom_series_choices(p))
                if len(infos) > 1:
                    info = self.choose_series(infos)
                    if info is None:
                        return False
                    # registered by its first file: the project keeps one entry per series, and reopening the
                    # file reads exactly that series
                    series_uid, register = info.uid, Path(info.paths[0])
            vol = self._load_volume(p, series_uid)
            self.ann.open_volume(register, vol, series_uid=series_uid)
        except PseudoClickError as exc:
            self.show_message("error", f"Cannot open the volume:\n{exc}")
            return False
        return True

    def open_volume_dialog(self) -> None:
        f, _ = QFileDialog.getOpenFileName(self, "Open a volume", self._start_dir(), VOLUME_FILTER)
        if f:
            self.settings.last_dir = str(Path(f).parent)
            self.open_volume(f)

    def open_volume_folder_dialog(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Open a volume folder (DICOM series, BraTS case, sections)",
                                             self._start_dir())  # fmt: skip
        if d:
            self.settings.last_dir = str(Path(d).parent)
            self.open_volume(d)

    # ------------------------------------------------------------------ brush / eraser
    def toggle_brush(self, mode: str) -> None:
        """B / X: enter that mode, or leave it when it is already on."""
        self.set_brush_mode(None if self.canvas.brush_mode == mode else mode)

    def set_brush_mode(self, mode: str | None) -> None:
        self.canvas.set_brush_mode(mode)
        self._sync_brush()
        if mode is not None and self.instances_panel.selected() is None:
            self.show_message("info", "Brush / eraser: select a finished object in the Objects panel first")
        self.canvas.setFocus()

    def set_brush_radius(self, radius: int) -> None:
        self.canvas.set_brush_radius(radius)
        self._sync_brush()
        self.statusBar().showMessage(f"Brush radius {self.canvas.brush_radius} px", 3000)

    def escape(self) -> None:
        """Esc: leave brush / eraser mode when it is on, else reset the current object."""
        if self.canvas.brush_mode is not None:
            self.set_brush_mode(None)
        else:
            self.ann.reset()

    def _sync_brush(self) -> None:
        mode = self.canvas.brush_mode
        for k, m in (("brush", "brush"), ("eraser", "erase")):
            a = self.actions[k]
            a.blockSignals(True)
            a.setChecked(mode == m)
            a.blockSignals(False)
        r = self.canvas.brush_radius
        self.st_brush.setText("" if mode is None else f"{'Eraser' if mode == 'erase' else 'Brush'} r={r} px")

    def _on_stroke_started(self, erase: bool) -> None:
        iid = self._stroke_target = self.instances_panel.selected()  # the stroke keeps its object to the end
        if not self.ann.brush_target(iid):  # says why
            self.canvas.cancel_stroke()
            return
        try:
            inst = self.ann.store.instance(iid)
            color = ov.instance_color(self.ann.store.category(inst.category_id).color, inst.id)
        except PseudoClickError:
            return
        c = QColor(color)
        c.setAlpha(150)
        self.canvas.set_paint_color(c)

    def _on_stroke_finished(self, points, radius: int, erase: bool) -> None:
        self.ann.brush_stroke(self._stroke_target, points, radius, erase)

    # ------------------------------------------------------------------ view toggles
    def _set_opacity(self, value: int) -> None:
        v = value / 100.0
        self.settings.overlay_opacity = v
        if self.actions["toggle_contours"].isChecked():  # thin lines: keep them readable
            v = max(v, 0.9)
        self.canvas.set_layer_opacity("instances", v)
        self.canvas.set_layer_opacity("current", min(1.0, v + 0.15))
        self.canvas.set_layer_opacity("errors", 0.85)

    def set_overlay_visible(self, on: bool) -> None:
        for layer in ("instances", "current"):
            self.canvas.set_layer_visible(layer, on)

    def set_contours(self, on: bool) -> None:
        self.settings.contour_mode = on
        self._set_opacity(self.opacity.value())
        self._draw_instances()
        self._draw_current()

    def set_errors(self, on: bool) -> None:
        self.settings.show_error_maps = on
        self.canvas.show_legend(on)
        self._draw_current()

    def set_proposals(self, on: bool) -> None:
        """P / the Suggest button: suggestions off, or back on with the rule chosen in Preferences."""
        self.set_suggestions(self.settings.suggestions_on if on else "off")

    def set_suggestions(self, mode: str) -> None:
        """Preferences > Suggest next clicks: "on", "off" or "paper" (kept in the app settings)."""
        s = self.settings
        s.suggestions = mode
        if mode != "off":
            s.suggestions_on = mode
        self.ann.set_suggestions(mode)
        a = self.actions["toggle_proposals"]
        if a.isChecked() != (mode != "off"):
            a.blockSignals(True)
            a.setChecked(mode != "off")
            a.blockSignals(False)

    def show_preferences(self) -> None:
        dlg = PreferencesDialog(self.settings.suggestions, self)
        if dlg.exec() == QDialog.DialogCode.Accepted:
            self.set_suggestions(dlg.choice())
            self.settings.save()
        self.activateWindow()  # keys go to the main window again, whatever the window manager does
        self.canvas.setFocus()

    def _on_canvas_click(self, x: float, y: float, positive: bool) -> None:
        if not self.settings.hint_done:
            self.settings.hint_done = True
            self.canvas.show_hint(False)
        self.ann.click(x, y, positive)

    def _set_auto(self, *_):
        self.ann.auto_accept = self.settings.auto_accept = self.auto_box.isChecked()
        self.ann.auto_accept_threshold = self.settings.auto_accept_threshold = float(self.auto_spin.value())

    # ------------------------------------------------------------------ messages
    def show_message(self, level: str, text: str) -> None:
        """The first line goes to the status bar; an "error" (and a "notice": something the user should read
        once, such as what was skipped while opening a project) also opens a non-blocking box with all of it."""
        self.statusBar().showMessage(text.splitlines()[0] if text else "", 15000 if level == "notice" else 8000)
        if level in ("error", "notice"):
            icon = QMessageBox.Icon.Critical if level == "error" else QMessageBox.Icon.Warning
            box = QMessageBox(icon, "PseudoClick", text, QMessageBox.StandardButton.Ok, self)
            box.setModal(False)
            box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            box.finished.connect(lambda _=0, b=box: self._boxes.remove(b) if b in self._boxes else None)
            self._boxes.append(box)
            box.show()

    def _on_unsaved(self, n: int) -> None:
        self.st_unsaved.setText(f"⚠ {n} change{'s' if n != 1 else ''} not saved yet: the disk is full")
        self.st_unsaved.setVisible(n > 0)

    def ask_unsaved(self, n: int) -> str:
        """What to do with ``n`` changes that cannot be saved (full disk) before the project goes: "retry",
        "discard" or "cancel"."""
        box = QMessageBox(QMessageBox.Icon.Warning, "Not saved: the disk is full",
                          f"{n} change{'s are' if n != 1 else ' is'} not saved yet because the disk is full.\n\n"
                          "Free some space on the disk, then choose Retry. Discard loses them.",
                          QMessageBox.StandardButton.Retry | QMessageBox.StandardButton.Discard
                          | QMessageBox.StandardButton.Cancel, self)  # fmt: skip
        answer = box.exec()
        return {QMessageBox.StandardButton.Retry: "retry",
                QMessageBox.StandardButton.Discard: "discard"}.get(answer, "cancel")  # fmt: skip

    def settle_unsaved(self) -> bool:
        """Before the project is closed: write what the full disk held back, asking the user while it still
        cannot be written. False when the user keeps the project open (Cancel)."""
        a = self.ann
        while a.unsaved and not a.retry_unsaved():
            choice = self.ask_unsaved(a.unsaved)
            if choice == "discard":
                a.discard_unsaved()
            elif choice == "cancel":
                return False
        return True

    def _on_model(self, device: str, warning: str) -> None:
        if warning:
            self.banner.setText(f"⚠ {warning}")
            self.banner.show()
        else:
            self.banner.hide()
        self._update_status()

    def _on_project(self) -> None:
        if self.ann.store is not None:
            p = str(self.ann.store.path)
            if not Path(p).is_relative_to(data_dir()):
                self.settings.add_recent(p)
            self.settings.last_project = p
            self._refresh_recent()
        self.setWindowTitle(f"{self._project_name()} — PseudoClick")

    def _refresh_recent(self) -> None:
        self.recent_menu.clear()
        for p in self.settings.recent_projects:
            act = self.recent_menu.addAction(p)
            act.triggered.connect(lambda _=False, p=p: no_return(self.open_project, p))
        self.recent_menu.setEnabled(bool(self.settings.recent_projects))

    # ------------------------------------------------------------------ files
    def open_project(self, path, *, ask_read_only: bool = True) -> bool:
        """Open (or create) a project. When another running PseudoClick holds it, offer to open it read-only."""
        if not self.settle_unsaved():
            return False
        try:
            self.ann.open_project(path)
        except Exception as exc:  # noqa: BLE001 - a bad or busy project is a message, never a crash
            if not is_locked(exc):
                log.error("cannot open the project %s", path, exc_info=not isinstance(exc, PseudoClickError))
                self.show_message("error", f"Cannot open the project:\n{describe_error(exc)}")
                return False
            if not ask_read_only:
                self.show_message("error", f"Cannot open the project:\n{exc}")
                return False
            box = QMessageBox(QMessageBox.Icon.Question, "Project in use",
                              f"{exc}\n\nOpen it read-only (to look, not to change)?",
                              QMessageBox.StandardButton.Open | QMessageBox.StandardButton.Cancel, self)  # fmt: skip
            box.button(QMessageBox.StandardButton.Open).setText("Open read-only")
            answer = box.exec()
            self.canvas.setFocus()
            if answer != QMessageBox.StandardButton.Open:
                self.show_message("info", f"Not opened: {exc}")
                return False
            try:
                self.ann.open_project(path, read_only=True)
            except Exception as exc2:  # noqa: BLE001
                self.show_message("error", f"Cannot open the project read-only:\n{describe_error(exc2)}")
                return False
        return True

    def open_paths(self, paths) -> None:
        """Images and image folders are added to the project; volumes (see ``looks_like_volume``) opened."""
        paths = [Path(p) for p in paths]
        volumes = [p for p in paths if looks_like_volume(p)]
        images = [p for p in paths if p not in volumes]
        if images and (self.ann.store is None or app_managed(self.ann.store.path)):
            # no project of the user's own is open: the folder's project (the same file every time)
            from .annotator import common_folder, folder_project_path

            folder = common_folder(images)
            if folder is not None:
                target = folder_project_path(folder)
                if self.ann.store is None or Path(self.ann.store.path).absolute() != target.absolute():
                    try:
                        target.parent.mkdir(parents=True, exist_ok=True)
                    except OSError as exc:
                        self.show_message("error", f"Cannot create {target.parent}: {exc.strerror or exc}")
                        return
                    if not self.open_project(target):
                        return
        try:
            if images:
                self.ann.add_images(images)
        except Exception as exc:  # noqa: BLE001
            self.show_message("error", describe_error(exc))
        for v in volumes:
            self.open_volume(v)

    def open_sample(self) -> bool:
        from ..paths import samples_dir

        d = samples_dir()
        sample = d / "sample.jpg" if d else None
        if sample is None or not sample.is_file():
            self.show_message("error", "The sample image is not installed (resources/samples/sample.jpg).")
            return False
        proj = data_dir() / "sample" / f"sample{PROJECT_SUFFIX}"
        try:
            proj.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            self.show_message("error", f"Cannot create the folder for the app's projects, {proj.parent}: "
                                       f"{exc.strerror or exc}.\nSet PSEUDOCLICK_DATA_DIR to a writable folder, or "
                                       "open a project of your own (File › New project).")  # fmt: skip
            return False
        if not self.open_project(proj):
            return False
        try:
            self.ann.add_images([sample])
        except Exception as exc:  # noqa: BLE001
            self.show_message("error", describe_error(exc))
            return False
        return True

    def _start_dir(self) -> str:
        return self.settings.last_dir or str(Path.home())

    def open_images_dialog(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self, "Open images", self._start_dir(), IMAGE_FILTER)
        if files:
            self.settings.last_dir = str(Path(files[0]).parent)
            self.open_paths(files)

    def open_folder_dialog(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Open a folder of images", self._start_dir())
        if d:
            self.settings.last_dir = d
            self.open_paths([d])

    def open_project_dialog(self) -> None:
        f, _ = QFileDialog.getOpenFileName(self, "Open project", self._start_dir(), PROJECT_FILTER)
        if f:
            self.open_project(f)

    def new_project_dialog(self) -> None:
        f, _ = QFileDialog.getSaveFileName(self, "New project", str(Path(self._start_dir()) / f"project{PROJECT_SUFFIX}"),
                                           PROJECT_FILTER)  # fmt: skip
        if f:
            if not Path(f).suffix:
                f += PROJECT_SUFFIX
            self.new_project(f)

    def new_project(self, path) -> bool:
        """A new (or existing) project at ``path``; its folder is created when it does not exist yet."""
        try:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            self.show_message("error", f"Cannot create the project's folder:\n{exc}")
            return False
        return self.open_project(path)

    def toggle_done(self) -> None:
        a = self.ann
        if a.store is None or a.image_id is None:
            return
        a.set_image_done(a.store.image(a.image_id).status != "done")

    # ------------------------------------------------------------------ export
    def run_with_progress(self, title: str, fn):
        """Run ``fn()`` in a thread behind a busy progress dialog; returns its result or raises its error."""
        out: dict = {}

        def target():
            try:
                out["result"] = fn()
            except BaseException as exc:  # noqa: BLE001
                out["error"] = exc

        t = threading.Thread(target=target, daemon=True)
        dlg = QProgressDialog(title, None, 0, 0, self)
        dlg.setWindowModality(Qt.WindowModality.WindowModal)
        dlg.setMinimumDuration(300)
        t.start()
        while t.is_alive():
            QApplication.processEvents()
            time.sleep(0.02)
        dlg.close()
        if "error" in out:
            raise out["error"]
        return out.get("result")

    def export(self, kind: str, target, polygons: bool = False) -> dict:
        """Export the project (``kind`` 'coco' -> JSON file, 'png' -> folder). Raises PseudoClickError."""
        store = self.ann.store
        if store is None:
            raise PseudoClickError("no project open")
        if kind == "coco":
            from ..project.export_coco import export_coco

            return self.run_with_progress("Exporting COCO…", lambda: export_coco(store, target, polygons=polygons, progress=False))
        from ..project.export_png import export_png

        return self.run_with_progress("Exporting PNG masks…", lambda: export_png(store, target, progress=False))

    def export_dialog(self, kind: str, polygons: bool = False) -> None:
        if self.ann.store is None:
            self.show_message("info", "Open a project or an image first")
            return
        base = Path(self.ann.store.path).with_suffix("")
        if kind == "coco":
            target, _ = QFileDialog.getSaveFileName(self, "Export COCO", f"{base}_coco.json", "JSON (*.json)")
        else:
            target = QFileDialog.getExistingDirectory(self, "Export PNG masks into", str(base.parent))
        if not target:
            return
        try:
            summary = self.export(kind, target, polygons)
        except PseudoClickError as exc:
            self.show_message("error", f"Export failed:\n{exc}")
            return
        except OSError as exc:
            self.show_message("error", f"Export failed: {exc}")
            return
        warnings = summary.get("warnings") or []
        msg = f"Exported to {summary.get('path', target)}" + ("\n" + "\n".join(map(str, warnings)) if warnings else "")
        self.statusBar().showMessage(msg.splitlines()[0], 10000)
        QMessageBox.information(self, "Export", msg)

    # ------------------------------------------------------------------ help
    def show_help(self) -> None:
        dlg = QDialog(self)
        dlg.setWindowTitle("Shortcuts")
        t = QTextBrowser()
        t.setHtml("<h3>PseudoClick</h3>" + HELP_INTRO + "<h3>Shortcuts</h3>" + help_html() + HELP_SAVING)
        lay = QVBoxLayout(dlg)
        lay.addWidget(t)
        bb = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        bb.rejected.connect(dlg.reject)
        lay.addWidget(bb)
        dlg.resize(560, 640)
        dlg.setModal(False)
        dlg.show()
        self._help = dlg

    def show_about(self) -> None:
        QMessageBox.about(self, "About PseudoClick",
                          f"PseudoClick GUI {__version__}\nInteractive segmentation that proposes its own next click."
                          f"\nDevice: {self.ann.device_name}")  # fmt: skip

    # ------------------------------------------------------------------ lifecycle
    def closeEvent(self, event) -> None:
        if not self.settle_unsaved():
            event.ignore()
            return
        s = self.settings
        try:
            s.window_geometry = bytes(self.saveGeometry().toBase64()).decode()
            s.window_state = bytes(self.saveState().toBase64()).decode()
            s.save()
        finally:
            QApplication.instance().removeEventFilter(self._space_router)
            self.ann.shutdown()  # the inference thread always stops before the window goes
        super().closeEvent(event)
