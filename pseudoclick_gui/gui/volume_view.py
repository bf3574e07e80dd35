"""Volume display pieces for the main window: the slice bar (plane, slice slider with annotation markers, slice
spin box, channel, window/level preset), the windowed slice renderer with its small look-ahead cache, and the
"is this path a volume?" rule of the command line and the drop-in paths.

Display only: window/level maps raw intensities to grey for the screen. The network never sees it; it gets
``Volume.network_slice`` through the annotator.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPen, QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QSlider,
    QSpinBox,
    QStyle,
    QStyleOptionSlider,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ..io.dicom import has_dicm_magic
from ..io.windowing import WINDOW_PRESETS, apply_window, auto_window

AXIS_LABELS = {"axial": "Axial", "coronal": "Coronal", "sagittal": "Sagittal"}
MARKER_COLORS = {"objects": QColor(60, 200, 90), "draft": QColor(240, 180, 40)}
WINDOW_DEFAULT = "Default"
WINDOW_AUTO = "Auto (0.5–99.5 %)"
WINDOW_CUSTOM = "Custom"
CACHE_SLICES = 8  # rendered slices kept: the current one, its neighbours and a few recent ones

_VOLUME_SUFFIXES = (".nii", ".nii.gz", ".dcm", ".dicom", ".ima")


# ---------------------------------------------------------------------------------------------- paths
def looks_like_volume(path) -> bool:
    """True for paths the app opens as volumes without being told: NIfTI files, DICOM files, multi-page TIFFs,
    folders holding NIfTI files (BraTS cases) or DICOM files. A folder of plain images is a folder of 2-D
    images (``--volume`` / File > Open volume folder… reads it as a stack of sections)."""
    p = Path(path)
    name = p.name.lower()
    if p.is_file():
        if name.endswith(_VOLUME_SUFFIXES):
            return True
        if name.endswith((".tif", ".tiff")):
            from ..io.images import count_pages

            try:
                return count_pages(p) > 1
            except Exception:  # noqa: BLE001 - unreadable: let the image loader report it
                return False
        return has_dicm_magic(p)
    if p.is_dir():
        try:
            entries = [e for e in p.iterdir() if not e.name.startswith(".")]
        except OSError:
            return False
        if any(e.is_file() and e.name.lower().endswith((".nii", ".nii.gz")) for e in entries):
            return True
        from ..io.dicom import folder_has_dicom

        return folder_has_dicom(p)
    return False


def dicom_series_choices(path) -> list:
    """The DICOM series (``io.dicom.SeriesInfo``) of a folder that the volume reader would read as DICOM;
    empty for anything else."""
    p = Path(path)
    if not p.is_dir():
        return []
    try:
        if any(e.is_file() and e.name.lower().endswith((".nii", ".nii.gz")) for e in p.iterdir()):
            return []
    except OSError:
        return []
    from ..io.dicom import folder_has_dicom, list_dicom_series

    return list_dicom_series(p) if folder_has_dicom(p) else []


# ------------------------------------------------------------------------------------------- rendering
class SliceRenderer:
    """Windowed grey slices of one volume as pixmaps, with an LRU cache of :data:`CACHE_SLICES` entries keyed
    by (axis, index, channel, level, width); :meth:`prefetch` renders the neighbours ahead so that stepping a
    slice repaints from the cache."""

    def __init__(self, volume, max_items: int = CACHE_SLICES):
        self.volume = volume
        self.max_items = max_items
        self._cache: OrderedDict[tuple, QPixmap] = OrderedDict()
        self._auto: dict[str | None, tuple[float, float]] = {}
        self._n: dict[str, int] = {}
        self.hits = 0
        self.misses = 0

    def auto_window(self, channel) -> tuple[float, float]:
        if channel not in self._auto:
            self._auto[channel] = auto_window(self.volume.channel(channel))
        return self._auto[channel]

    def default_window(self, channel) -> tuple[float, float]:
        """The file's window (DICOM) or the percentile window of the channel."""
        if isinstance(self.volume.header, dict) and self.volume.header.get("window"):
            return self.volume.default_window(channel)
        return self.auto_window(channel)

    def grey(self, axis: str, index: int, channel, level: float, width: float) -> np.ndarray:
        """H x W uint8, C-contiguous."""
        return np.ascontiguousarray(apply_window(self.volume.slice(axis, index, channel), level, width))

    def pixmap(self, axis: str, index: int, channel, level: float, width: float) -> QPixmap:
        key = (axis, int(index), channel, float(level), float(width))
        pm = self._cache.get(key)
        if pm is not None:
            self.hits += 1
            self._cache.move_to_end(key)
            return pm
        self.misses += 1
        g = self.grey(axis, index, channel, level, width)
        h, w = g.shape
        pm = QPixmap.fromImage(QImage(g.data, w, h, w, QImage.Format.Format_Grayscale8).copy())  # owns its pixels
        self._cache[key] = pm
        while len(self._cache) > self.max_items:
            self._cache.popitem(last=False)
        return pm

    def prefetch(self, axis: str, index: int, channel, level: float, width: float, around: int = 1) -> None:
        n = self._n.get(axis)
        if n is None:
            n = self._n[axis] = self.volume.n_slices(axis)
        for d in range(1, around + 1):
            for i in (index + d, index - d):
                if 0 <= i < n and (axis, i, channel, float(level), float(width)) not in self._cache:
                    self.pixmap(axis, i, channel, level, width)

    def cached(self, axis: str, index: int, channel, level: float, width: float) -> bool:
        return (axis, int(index), channel, float(level), float(width)) in self._cache


# ----------------------------------------------------------------------------------------------- widgets
class MarkedSlider(QSlider):
    """A horizontal slider that draws a tick above the groove at each marked value (annotated slices)."""

    def __init__(self, parent=None):
        super().__init__(Qt.Orientation.Horizontal, parent)
        self._markers: dict[int, QColor] = {}
        self.setMinimumHeight(26)

    def set_markers(self, markers: dict[int, QColor]) -> None:
        self._markers = dict(markers)
        self.update()

    def markers(self) -> dict[int, QColor]:
        return dict(self._markers)

    def marker_x(self, value: int) -> int:
        """Widget x of the centre of the handle at ``value`` (where its marker is drawn)."""
        opt = QStyleOptionSlider()
        self.initStyleOption(opt)
        groove = self.style().subControlRect(QStyle.ComplexControl.CC_Slider, opt, QStyle.SubControl.SC_SliderGroove, self)
        handle = self.style().subControlRect(QStyle.ComplexControl.CC_Slider, opt, QStyle.SubControl.SC_SliderHandle, self)
        span = max(1, groove.width() - handle.width())
        pos = QStyle.sliderPositionFromValue(self.minimum(), self.maximum(), value, span, opt.upsideDown)
        return groove.x() + handle.width() // 2 + pos

    def paintEvent(self, event) -> None:
        super().paintEvent(event)
        if not self._markers:
            return
        p = QPainter(self)
        h = self.height()
        for value, color in self._markers.items():
            if self.minimum() <= value <= self.maximum():
                x = self.marker_x(value)
                p.setPen(QPen(color, 2))
                p.drawLine(x, 1, x, max(4, h // 4))
                p.drawLine(x, h - max(4, h // 4), x, h - 2)
        p.end()


class VolumeBar(QWidget):
    """Plane, slice slider/spin box, channel and window preset of the open volume; emits requests, the main
    window applies them (so keyboard, wheel and bar stay one path)."""

    sliceRequested = Signal(int)
    axisRequested = Signal(str)
    channelRequested = Signal(str)
    windowChosen = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.axis = QComboBox()
        for key, label in AXIS_LABELS.items():
            self.axis.addItem(label, key)
        self.axis.setToolTip("Slice plane (V)")
        self.axis.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.prev = QToolButton()
        self.prev.setText("◀")
        self.prev.setToolTip("Previous slice (PgUp, Ctrl+wheel up)")
        self.next = QToolButton()
        self.next.setText("▶")
        self.next.setToolTip("Next slice (PgDown, Ctrl+wheel down)")
        for b in (self.prev, self.next):
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            b.setAutoRepeat(True)
        self.slider = MarkedSlider()
        self.slider.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.slider.setPageStep(1)
        self.slider.setToolTip("Slice (ticks: green = objects, amber = started)")
        self.spin = QSpinBox()
        self.spin.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.spin.setKeyboardTracking(False)
        self.count = QLabel()
        self.channel_label = QLabel("  Channel ")
        self.channel = QComboBox()
        self.channel.setToolTip("Channel / modality shown and given to the network (T)")
        self.channel.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.window = QComboBox()
        self.window.setToolTip("Window/level preset (W); Ctrl+right-drag on the image adjusts it (display only)")
        self.window.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        for name in (WINDOW_DEFAULT, WINDOW_AUTO, *WINDOW_PRESETS, WINDOW_CUSTOM):
            self.window.addItem(name)
        self.wl = QLabel()
        self.wl.setMinimumWidth(120)
        # row 1: the slice slider, full width; row 2: plane, channel, window
        top = QHBoxLayout()
        for wdg, stretch in ((self.prev, 0), (self.slider, 1), (self.next, 0), (self.spin, 0), (self.count, 0)):
            top.addWidget(wdg, stretch)
        bottom = QHBoxLayout()
        for wdg in (QLabel("Plane "), self.axis, self.channel_label, self.channel, QLabel("  Window "), self.window,
                    self.wl):  # fmt: skip
            bottom.addWidget(wdg)
        bottom.addStretch(1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 2, 6, 2)
        lay.setSpacing(1)
        lay.addLayout(top)
        lay.addLayout(bottom)
        self.slider.valueChanged.connect(self.sliceRequested)
        self.spin.valueChanged.connect(self.sliceRequested)
        self.prev.clicked.connect(lambda: self.sliceRequested.emit(self.slider.value() - 1))
        self.next.clicked.connect(lambda: self.sliceRequested.emit(self.slider.value() + 1))
        self.axis.activated.connect(lambda i: self.axisRequested.emit(self.axis.itemData(i)))
        self.channel.activated.connect(lambda i: self.channelRequested.emit(self.channel.itemText(i)))
        self.window.activated.connect(lambda i: self.windowChosen.emit(self.window.itemText(i)))

    def set_volume(self, axis: str, n: int, channels: list[str], channel: str | None) -> None:
        """Rebuild for a volume / plane / channel (signals blocked: nothing is requested back)."""
        for w in (self.axis, self.slider, self.spin, self.channel):
            w.blockSignals(True)
        self.axis.setCurrentIndex(max(0, self.axis.findData(axis)))
        self.slider.setRange(0, max(0, n - 1))
        self.spin.setRange(0, max(0, n - 1))
        self.count.setText(f"/ {n - 1}")
        if [self.channel.itemText(i) for i in range(self.channel.count())] != list(channels):
            self.channel.clear()
            self.channel.addItems(list(channels))
        self.channel.setCurrentIndex(max(0, self.channel.findText(channel or "")))
        multi = len(channels) > 1
        self.channel.setVisible(multi)
        self.channel_label.setVisible(multi)
        for w in (self.axis, self.slider, self.spin, self.channel):
            w.blockSignals(False)

    def set_index(self, index: int) -> None:
        for w in (self.slider, self.spin):
            w.blockSignals(True)
            w.setValue(index)
            w.blockSignals(False)

    def set_window(self, choice: str, level: float, width: float) -> None:
        self.window.setCurrentIndex(max(0, self.window.findText(choice)))
        self.wl.setText(f"L {_fmt(level)}  W {_fmt(width)}")


def _fmt(v: float) -> str:
    a = abs(v)
    if a >= 100 or v == int(v):
        return f"{v:.0f}"
    return f"{v:.{max(1, min(4, 2 - int(math.floor(math.log10(a))) if a else 1))}f}"
