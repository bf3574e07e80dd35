"""The image view: zoom (wheel, fit, 1:1), pan (middle drag or Space+drag), clicks, mask layers; for volume
slices also Ctrl+wheel (slice steps) and Ctrl+right-drag (window/level), see ``volume_input``.

Brush mode (``set_brush_mode('brush' | 'erase' | None)``): left drags are strokes instead of clicks (right
drags and Shift+left drags erase in brush mode, Shift paints in eraser mode). A circle outline of
``brush_radius`` image pixels follows the cursor; the stroke is previewed as a path item while dragging and
handed over on release (``strokeFinished(points, radius, erase)``, image pixels): the canvas never touches a
mask itself.

Scene coordinates are image pixel coordinates: pixel ``(x, y)`` covers ``[x, x+1) x [y, y+1)``. Non-square
pixels (a volume slice with anisotropic spacing) are shown by the view transform, which scales y by
``aspect`` (pixel height / width): scene coordinates, clicks and mask layers stay in slice pixels. The image is
converted to a pixmap once per image; each mask layer is a pixmap item replaced only when its content changes
and stretched over the image when built at a lower display resolution (see :mod:`.overlay`).
"""

from __future__ import annotations

import math

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QImage, QPainter, QPainterPath, QPen, QPixmap, QPolygonF, QTransform
from PySide6.QtWidgets import (
    QGraphicsEllipseItem,
    QGraphicsItem,
    QGraphicsPathItem,
    QGraphicsPixmapItem,
    QGraphicsScene,
    QGraphicsView,
    QLabel,
)

from . import brush as _brush

POSITIVE = QColor(40, 220, 60)
NEGATIVE = QColor(235, 50, 50)
PAINT_PREVIEW = QColor(255, 255, 255, 140)
ERASE_PREVIEW = QColor(10, 10, 10, 170)
BRUSH_OUTLINE = QColor(255, 255, 255)
ERASER_OUTLINE = QColor(255, 80, 80)
CLICK_DRAG_TOLERANCE = 4  # px on screen: further, it is a drag, not a click
PROPOSAL_HIT_RADIUS = 14  # px on screen


class ClickMarker(QGraphicsItem):
    """A click: a filled disk with + or -, constant size on screen. ``pseudo`` clicks get a square outline;
    withdrawn ones a grey cross; ``propagated`` ones (derived from the neighbouring slice) a dashed outline;
    ``pseudo-spent`` ones (accepted pseudo clicks the network no longer sees, lifetime "step") are faded."""

    R = 7.0

    def __init__(self, x: float, y: float, positive: bool, kind: str = "human"):
        super().__init__()
        self.positive, self.kind = positive, kind
        self.setPos(x + 0.5, y + 0.5)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
        self.setZValue(20)

    def boundingRect(self) -> QRectF:
        r = self.R + 3
        return QRectF(-r, -r, 2 * r, 2 * r)

    def paint(self, p: QPainter, option, widget=None) -> None:
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        r = self.R
        color = POSITIVE if self.positive else NEGATIVE
        if self.kind == "withdrawn":
            p.setPen(QPen(QColor(200, 200, 200), 2))
            p.drawLine(QPointF(-r, -r), QPointF(r, r))
            p.drawLine(QPointF(-r, r), QPointF(r, -r))
            return
        pen = QPen(QColor(0, 0, 0), 1.5)
        if self.kind == "pseudo-spent":
            p.setOpacity(0.4)
        if self.kind == "propagated":
            pen = QPen(QColor(255, 255, 255), 1.5, Qt.PenStyle.DashLine)
        p.setPen(pen)
        p.setBrush(QBrush(color))
        if self.kind in ("pseudo", "pseudo-spent"):
            p.drawRect(QRectF(-r, -r, 2 * r, 2 * r))
        else:
            p.drawEllipse(QPointF(0, 0), r, r)
        p.setPen(QPen(QColor(255, 255, 255), 2))
        p.drawLine(QPointF(-r * 0.55, 0), QPointF(r * 0.55, 0))
        if self.positive:
            p.drawLine(QPointF(0, -r * 0.55), QPointF(0, r * 0.55))


class ProposalMarker(QGraphicsItem):
    """The proposed pseudo click: a dashed ring in its sign's colour; a solid arc over ``confidence`` of the
    circle shows how sure the network is, and the ring grows with the confidence."""

    def __init__(self, x: float, y: float, positive: bool, confidence: float):
        super().__init__()
        self.positive, self.confidence = positive, max(0.0, min(1.0, confidence))
        self.setPos(x + 0.5, y + 0.5)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
        self.setZValue(30)
        self.radius = 10 + 10 * self.confidence

    def boundingRect(self) -> QRectF:
        r = self.radius + 5
        return QRectF(-r, -r, 2 * r, 2 * r)

    def paint(self, p: QPainter, option, widget=None) -> None:
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        color = POSITIVE if self.positive else NEGATIVE
        r = self.radius
        p.setBrush(Qt.BrushStyle.NoBrush)
        # a light halo under a dark ring: the ring reads on any colour, a red ring on a red object included
        p.setPen(QPen(QColor(255, 255, 255, 230), 8))
        p.drawEllipse(QPointF(0, 0), r, r)
        p.setPen(QPen(QColor(0, 0, 0, 220), 4))
        p.drawEllipse(QPointF(0, 0), r, r)
        dashed = QPen(color, 2, Qt.PenStyle.DashLine)
        p.setPen(dashed)
        p.drawEllipse(QPointF(0, 0), r, r)
        p.setPen(QPen(color, 4, Qt.PenStyle.SolidLine, Qt.PenCapStyle.FlatCap))
        rect = QRectF(-r, -r, 2 * r, 2 * r)
        p.drawArc(rect, 90 * 16, -int(360 * 16 * self.confidence))
        # sign in the middle
        p.setPen(QPen(color, 2))
        s = 4
        p.drawLine(QPointF(-s, 0), QPointF(s, 0))
        if self.positive:
            p.drawLine(QPointF(0, -s), QPointF(0, s))


class Canvas(QGraphicsView):
    """Emits ``clicked(x, y, positive)`` in image pixels (x = column) and ``proposalClicked()``."""

    clicked = Signal(float, float, bool)
    proposalClicked = Signal()
    zoomChanged = Signal(float)
    spaceTapped = Signal()  # Space pressed and released without panning (= finish the object)
    cursorMoved = Signal(int, int)
    sliceWheel = Signal(int)  # Ctrl+wheel: slice steps (+1 = next slice), only with volume_input
    windowDragged = Signal(float, float)  # Ctrl+right-drag: screen px moved (dx, dy), only with volume_input
    strokeStarted = Signal(bool)  # brush mode: a stroke begins (erase?); a slot may cancel_stroke()
    strokeFinished = Signal(object, int, bool)  # brush mode: [(x, y) image pixels], radius, erase

    def __init__(self, parent=None):
        super().__init__(parent)
        self._scene = QGraphicsScene(self)
        self.setScene(self._scene)
        self.setBackgroundBrush(QColor(40, 40, 44))
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.SmartViewportUpdate)
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self._image_item = QGraphicsPixmapItem()
        self._image_item.setTransformationMode(Qt.TransformationMode.FastTransformation)
        self._layers: dict[str, QGraphicsPixmapItem] = {}
        for name, z in (("instances", 5), ("current", 6), ("errors", 7)):
            item = QGraphicsPixmapItem()
            item.setZValue(z)
            item.setTransformationMode(Qt.TransformationMode.FastTransformation)
            self._layers[name] = item
            self._scene.addItem(item)
        self._scene.addItem(self._image_item)
        self._outlines: dict[str, list[QGraphicsPathItem]] = {"instances": [], "current": []}
        self._outline_visible = {"instances": True, "current": True}
        self._markers: list[QGraphicsItem] = []
        self._proposal: ProposalMarker | None = None
        self._size = (0, 0)  # (h, w)
        self._press: tuple[QPointF, Qt.MouseButton, Qt.KeyboardModifier] | None = None
        self._pan_last: QPointF | None = None
        self._space = False
        self._space_used = False
        self._fit_on_resize = True
        self._aspect = 1.0
        self.volume_input = False  # Ctrl+wheel -> sliceWheel, Ctrl+right-drag -> windowDragged
        self._wheel_rest = 0
        self._wl_last: QPointF | None = None
        self._wl_dragged = False
        # brush mode
        self.brush_mode: str | None = None  # None | "brush" | "erase"
        self.brush_radius = _brush.DEFAULT_RADIUS  # image pixels
        self.brush_color = PAINT_PREVIEW
        self._shift = False
        self._stroke: dict | None = None  # {"points", "erase", "path", "item"}
        self._brush_cursor = QGraphicsEllipseItem()
        self._brush_cursor.setZValue(25)
        self._brush_cursor.setVisible(False)
        self._scene.addItem(self._brush_cursor)
        self._cursor_pixel: tuple[int, int] | None = None
        # a hint over the image until the first click, and the error maps' legend
        self.hint = QLabel(self.viewport())
        self.hint.setText("Left-click the object, right-click background; Enter accepts a suggested click")
        self.hint.setStyleSheet("background:rgba(20,20,24,200);color:white;padding:8px 12px;border-radius:6px;"
                                "font-size:13px")
        self.hint.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.hint.hide()
        self.legend = QLabel(self.viewport())
        self.legend.setText("<b>Error maps</b>&nbsp; <span style='color:#ff4040'>■</span> red: probably not the "
                            "object (false positive) &nbsp; <span style='color:#4a7dff'>■</span> blue: probably "
                            "missed (false negative)")  # fmt: skip
        self.legend.setStyleSheet("background:rgba(20,20,24,210);color:white;padding:4px 8px;border-radius:4px")
        self.legend.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.legend.hide()

    def show_hint(self, on: bool) -> None:
        self.hint.setVisible(on)
        self._place_labels()

    def show_legend(self, on: bool) -> None:
        self.legend.setVisible(on)
        self._place_labels()

    def _place_labels(self) -> None:
        vp = self.viewport().rect()
        for lab in (self.hint, self.legend):
            lab.setMaximumWidth(max(100, vp.width() - 20))
            lab.setWordWrap(lab.sizeHint().width() > vp.width() - 20)
            lab.adjustSize()
        self.hint.move(max(0, (vp.width() - self.hint.width()) // 2), 12)
        self.legend.move(10, max(0, vp.height() - self.legend.height() - 10))

    # ------------------------------------------------------------------ brush
    def set_brush_mode(self, mode: str | None) -> None:
        """``"brush"``, ``"erase"`` or None (clicks again)."""
        if mode not in ("brush", "erase"):
            mode = None
        self.cancel_stroke()
        self.brush_mode = mode
        if mode is None:
            self.viewport().unsetCursor()
        else:
            self.viewport().setCursor(Qt.CursorShape.CrossCursor)
        self._update_brush_cursor()

    def set_brush_radius(self, radius: int) -> None:
        self.brush_radius = _brush.clamp_radius(radius)
        self._update_brush_cursor()

    def set_paint_color(self, color: QColor) -> None:
        """Colour of the paint preview (the object's colour), also for the stroke being drawn."""
        self.brush_color = QColor(color)
        st = self._stroke
        if st is not None and not st["erase"]:
            pen = st["item"].pen()
            pen.setColor(self.brush_color)
            st["item"].setPen(pen)

    def brush_erases(self, shift: bool | None = None) -> bool:
        """Whether a left stroke now erases: eraser mode, or Shift in brush mode (Shift paints in eraser mode)."""
        shift = self._shift if shift is None else shift
        return (self.brush_mode == "erase") != bool(shift)

    def stroke_active(self) -> bool:
        return self._stroke is not None

    def cancel_stroke(self) -> None:
        st, self._stroke = self._stroke, None
        if st is not None and st["item"].scene() is self._scene:
            self._scene.removeItem(st["item"])

    def brush_cursor_rect(self) -> QRectF | None:
        """The brush outline in image (scene) coordinates, or None when hidden."""
        return self._brush_cursor.rect() if self._brush_cursor.isVisible() else None

    def _update_brush_cursor(self) -> None:
        item = self._brush_cursor
        if self.brush_mode is None or self._cursor_pixel is None:
            item.setVisible(False)
            return
        x, y = self._cursor_pixel
        r = self.brush_radius + 0.5  # covers the pixels whose centres are within the radius
        item.setRect(QRectF(x + 0.5 - r, y + 0.5 - r, 2 * r, 2 * r))
        erase = self._stroke["erase"] if self._stroke is not None else self.brush_erases()
        pen = QPen(ERASER_OUTLINE if erase else BRUSH_OUTLINE, 1.5)
        pen.setCosmetic(True)
        item.setPen(pen)
        item.setBrush(Qt.BrushStyle.NoBrush)
        item.setVisible(True)

    def _start_stroke(self, x: int, y: int, erase: bool) -> None:
        self.cancel_stroke()
        path = QPainterPath(QPointF(x + 0.5, y + 0.5))
        path.lineTo(QPointF(x + 0.501, y + 0.5))  # a dab: a zero-length path with round caps draws nothing
        item = QGraphicsPathItem(path)
        pen = QPen(ERASE_PREVIEW if erase else self.brush_color, 2 * self.brush_radius + 1)
        pen.setCapStyle(Qt.PenCapStyle.RoundCap)
        pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
        item.setPen(pen)
        item.setZValue(9)
        self._scene.addItem(item)
        self._stroke = {"points": [(x, y)], "erase": erase, "path": path, "item": item}
        self.strokeStarted.emit(erase)  # may cancel it (nothing selected)
        self._update_brush_cursor()

    def _extend_stroke(self, x: int, y: int) -> None:
        st = self._stroke
        if st is None or st["points"][-1] == (x, y):
            return
        st["points"].append((x, y))
        st["path"].lineTo(QPointF(x + 0.5, y + 0.5))
        st["item"].setPath(st["path"])

    def _finish_stroke(self) -> None:
        st = self._stroke
        self.cancel_stroke()
        if st is not None:
            self.strokeFinished.emit(list(st["points"]), int(self.brush_radius), bool(st["erase"]))
        self._update_brush_cursor()

    def _pixel_at(self, pos) -> tuple[int, int]:
        p = self.mapToScene(pos.toPoint())
        return math.floor(p.x()), math.floor(p.y())

    def leaveEvent(self, event) -> None:
        self._cursor_pixel = None
        self._update_brush_cursor()
        super().leaveEvent(event)

    # ------------------------------------------------------------------ content
    def set_image(self, image: QImage | QPixmap, *, aspect: float = 1.0, keep_view: bool = False) -> None:
        """Show a new image (clears layers, clicks, proposal). ``aspect``: displayed pixel height / width.
        ``keep_view``: keep zoom and pan when the size and aspect are unchanged (stepping through slices)."""
        pm = image if isinstance(image, QPixmap) else QPixmap.fromImage(image)
        size = (pm.height(), pm.width())
        aspect = float(aspect) if aspect and math.isfinite(aspect) and aspect > 0 else 1.0
        same = size == self._size and abs(aspect - self._aspect) < 1e-9
        self._image_item.setPixmap(pm)
        self._size = size
        self._aspect = aspect
        self._scene.setSceneRect(QRectF(0, 0, pm.width(), pm.height()))
        for item in self._layers.values():
            item.setPixmap(QPixmap())
        for name in self._outlines:
            self.set_outlines(name, [])
        self.set_clicks([])
        self.set_proposal(None)
        self.cancel_stroke()
        if not (keep_view and same):
            self.fit()

    def replace_image(self, image: QImage | QPixmap) -> None:
        """Swap the picture only (same size: e.g. a new window/level); layers and markers stay."""
        self._image_item.setPixmap(image if isinstance(image, QPixmap) else QPixmap.fromImage(image))

    def image_pixmap(self) -> QPixmap:
        return self._image_item.pixmap()

    @property
    def aspect(self) -> float:
        return self._aspect

    @property
    def image_size(self) -> tuple[int, int]:
        return self._size

    def set_layer(self, name: str, image: QImage | None) -> None:
        """Replace a mask layer ('instances', 'current' or 'errors'); stretched to cover the image."""
        item = self._layers[name]
        if image is None or image.isNull():
            item.setPixmap(QPixmap())
            return
        item.setPixmap(QPixmap.fromImage(image))
        h, w = self._size
        item.setTransform(QTransform.fromScale(w / image.width(), h / image.height()) if image.width() else QTransform())

    def set_outlines(self, name: str, outlines) -> None:
        """Replace the outlines of ``name`` ('instances' or 'current'): ``[(polygons, colour), ...]`` with each
        polygon an N x 2 array of image ``(x, y)``. Drawn with cosmetic pens: one screen pixel wide at any zoom
        (a dark line under a light one for ``(polygons, colour, True)``, so it reads on any image)."""
        for item in self._outlines[name]:
            self._scene.removeItem(item)
        items = []
        z = 6.5 if name == "current" else 5.5
        for entry in outlines:
            polygons, color = entry[0], entry[1]
            if not len(polygons):
                continue
            path = QPainterPath()
            for poly in polygons:
                path.addPolygon(QPolygonF([QPointF(float(x), float(y)) for x, y in poly]))
                path.closeSubpath()
            pens = [QPen(QColor(color), 1)]
            if len(entry) > 2 and entry[2]:
                pens = [QPen(QColor(0, 0, 0, 200), 3), QPen(QColor(color), 1)]
            for k, pen in enumerate(pens):
                pen.setCosmetic(True)
                pen.setJoinStyle(Qt.PenJoinStyle.MiterJoin)
                item = QGraphicsPathItem(path)
                item.setPen(pen)
                item.setZValue(z + 0.01 * k)
                item.setVisible(self._outline_visible[name])
                self._scene.addItem(item)
                items.append(item)
        self._outlines[name] = items

    def outline_items(self, name: str) -> list[QGraphicsPathItem]:
        return list(self._outlines[name])

    def set_layer_opacity(self, name: str, opacity: float) -> None:
        self._layers[name].setOpacity(opacity)

    def set_layer_visible(self, name: str, visible: bool) -> None:
        self._layers[name].setVisible(visible)
        if name in self._outlines:
            self._outline_visible[name] = visible
            for item in self._outlines[name]:
                item.setVisible(visible)

    def layer_pixmap(self, name: str) -> QPixmap:
        return self._layers[name].pixmap()

    def set_clicks(self, clicks) -> None:
        """``clicks``: iterable of (x, y, positive, kind) with kind 'human' | 'pseudo' | 'pseudo-spent' |
        'withdrawn' | 'propagated'."""
        for m in self._markers:
            self._scene.removeItem(m)
        self._markers = []
        for x, y, positive, kind in clicks:
            m = ClickMarker(x, y, positive, kind)
            self._scene.addItem(m)
            self._markers.append(m)

    def set_proposal(self, click) -> None:
        if self._proposal is not None:
            self._scene.removeItem(self._proposal)
            self._proposal = None
        if click is not None:
            self._proposal = ProposalMarker(click.x, click.y, click.positive, click.confidence)
            self._scene.addItem(self._proposal)

    # ------------------------------------------------------------------ geometry
    def image_to_widget(self, x: float, y: float):
        """Viewport coordinates (QPoint) of the centre of image pixel (x, y)."""
        return self.mapFromScene(QPointF(x + 0.5, y + 0.5))

    def zoom_factor(self) -> float:
        return self.transform().m11()

    def fit(self) -> None:
        h, w = self._size
        if not w:
            return
        if self._aspect == 1.0:
            self.fitInView(QRectF(0, 0, w, h), Qt.AspectRatioMode.KeepAspectRatio)
        else:  # fitInView scales x and y alike; non-square pixels need their own y scale
            vp = self.viewport().rect()
            s = max(1e-6, min((vp.width() - 2) / w, (vp.height() - 2) / (h * self._aspect)))
            self.setTransform(QTransform.fromScale(s, s * self._aspect))
            self.centerOn(w / 2, h / 2)
        self._fit_on_resize = True
        self.zoomChanged.emit(self.zoom_factor())

    def actual_size(self) -> None:
        self.setTransform(QTransform.fromScale(1.0, self._aspect))
        self._fit_on_resize = False
        self.zoomChanged.emit(1.0)

    def zoom_by(self, factor: float) -> None:
        z = self.zoom_factor()
        factor = max(0.01 / z, min(64.0 / z, factor))
        self.scale(factor, factor)
        self._fit_on_resize = False
        self.zoomChanged.emit(self.zoom_factor())

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self._fit_on_resize:
            self.fit()
        self._place_labels()

    # ------------------------------------------------------------------ input
    def wheelEvent(self, event) -> None:
        delta = event.angleDelta().y() or event.angleDelta().x()
        if self.volume_input and event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            # one notch (120) = one slice; wheel up = previous slice; trackpads add up small deltas
            self._wheel_rest += delta
            steps = int(self._wheel_rest / 120)
            if steps:
                self._wheel_rest -= steps * 120
                self.sliceWheel.emit(-steps)
        elif delta:
            self.zoom_by(math.pow(1.0015, delta))
        event.accept()

    def keyPressEvent(self, event) -> None:
        if event.key() == Qt.Key.Key_Shift:
            self._shift = True
            self._update_brush_cursor()
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space = True
            self._space_used = False
            event.accept()
            return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event) -> None:
        if event.key() == Qt.Key.Key_Shift:
            self._shift = False
            self._update_brush_cursor()
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space = False
            if not self._space_used:
                self.spaceTapped.emit()
            event.accept()
            return
        super().keyReleaseEvent(event)

    def mousePressEvent(self, event) -> None:
        btn = event.button()
        if btn == Qt.MouseButton.MiddleButton or (btn == Qt.MouseButton.LeftButton and self._space):
            self._pan_last = event.position()
            self._space_used = True
            self.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)
            event.accept()
            return
        ctrl_right = (self.volume_input and btn == Qt.MouseButton.RightButton
                      and event.modifiers() & Qt.KeyboardModifier.ControlModifier)  # fmt: skip
        if self.brush_mode is not None and btn in (Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton) \
                and not ctrl_right:  # fmt: skip
            shift = bool(event.modifiers() & Qt.KeyboardModifier.ShiftModifier)
            erase = btn == Qt.MouseButton.RightButton or self.brush_erases(shift)
            self._cursor_pixel = self._pixel_at(event.position())
            self._start_stroke(*self._cursor_pixel, erase)
            event.accept()
            return
        if btn in (Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton):
            self._press = (event.position(), btn, event.modifiers())
            self._wl_dragged = False
            self._wl_last = None
            if (self.volume_input and btn == Qt.MouseButton.RightButton
                    and event.modifiers() & Qt.KeyboardModifier.ControlModifier):  # fmt: skip
                self._wl_last = event.position()
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event) -> None:
        if self._pan_last is not None:
            d = event.position() - self._pan_last
            self._pan_last = event.position()
            self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() - int(d.x()))
            self.verticalScrollBar().setValue(self.verticalScrollBar().value() - int(d.y()))
            self._fit_on_resize = False
            event.accept()
            return
        if self._wl_last is not None and self._press is not None:
            pos = event.position()
            if self._wl_dragged or (pos - self._press[0]).manhattanLength() > CLICK_DRAG_TOLERANCE:
                self._wl_dragged = True
                d = pos - self._wl_last
                self._wl_last = pos
                self.windowDragged.emit(float(d.x()), float(d.y()))
            event.accept()
            return
        x, y = self._pixel_at(event.position())
        if self.brush_mode is not None:
            self._cursor_pixel = (x, y)
            if self._stroke is not None:
                self._extend_stroke(x, y)
            self._update_brush_cursor()
        self.cursorMoved.emit(x, y)
        if self._stroke is not None:
            event.accept()
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event) -> None:
        if self._pan_last is not None:
            self._pan_last = None
            if self.brush_mode is None:
                self.viewport().unsetCursor()
            else:
                self.viewport().setCursor(Qt.CursorShape.CrossCursor)
            event.accept()
            return
        if self._stroke is not None:
            self._extend_stroke(*self._pixel_at(event.position()))
            self._finish_stroke()
            event.accept()
            return
        press, self._press = self._press, None
        self._wl_last = None
        if self._wl_dragged:  # a window/level drag, not a click
            self._wl_dragged = False
            event.accept()
            return
        if press is None:
            super().mouseReleaseEvent(event)
            return
        pos, btn, mods = press
        if (event.position() - pos).manhattanLength() > CLICK_DRAG_TOLERANCE:
            return
        h, w = self._size
        sp = self.mapToScene(pos.toPoint())
        x, y = math.floor(sp.x()), math.floor(sp.y())
        if not (0 <= x < w and 0 <= y < h):
            return
        if btn == Qt.MouseButton.LeftButton and self._proposal is not None:
            ppos = self.mapFromScene(self._proposal.pos())
            if math.hypot(ppos.x() - pos.x(), ppos.y() - pos.y()) <= PROPOSAL_HIT_RADIUS:
                self.proposalClicked.emit()
                return
        positive = btn == Qt.MouseButton.LeftButton and not (mods & Qt.KeyboardModifier.ShiftModifier)
        self.clicked.emit(float(x), float(y), positive)
