"""numpy -> QImage for the canvas layers. Pure functions of arrays (no widgets), so they are cheap to test.

Overlays are built at a *display resolution*: the image size times :func:`overlay_scale` (1 for images up to
``MAX_OVERLAY_SIDE`` pixels on the long side, less for huge photos), and the canvas stretches them over the
image. Masks are H x W bool at image resolution, indexed ``[y, x]``.
"""

from __future__ import annotations

import cv2
import numpy as np
from PySide6.QtGui import QColor, QImage

MAX_OVERLAY_SIDE = 2400


def overlay_scale(height: int, width: int, max_side: int = MAX_OVERLAY_SIDE) -> float:
    return min(1.0, max_side / max(height, width, 1))


def display_size(height: int, width: int, scale: float) -> tuple[int, int]:
    return max(1, round(height * scale)), max(1, round(width * scale))


def edge_thickness(shape: tuple[int, int], base: int = 2) -> int:
    """Contour width in overlay pixels so that it stays visible when a big overlay is shown fitted."""
    return max(base, round(base * max(shape) / 1000))


def downsample(mask: np.ndarray, scale: float) -> np.ndarray:
    """H x W bool/float -> display resolution (nearest for bool, area average for float)."""
    if scale >= 1.0:
        return mask
    h, w = display_size(*mask.shape[:2], scale)
    if mask.dtype == bool:
        return cv2.resize(mask.view(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST).astype(bool)
    return cv2.resize(mask.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA)


def rgb_of(color: str | QColor) -> tuple[int, int, int]:
    c = QColor(color)
    if not c.isValid():
        c = QColor("#ff00ff")
    return c.red(), c.green(), c.blue()


def rgba_to_qimage(rgba: np.ndarray) -> QImage:
    """H x W x 4 uint8 (straight alpha) -> QImage that owns a copy of the data."""
    rgba = np.ascontiguousarray(rgba)
    h, w = rgba.shape[:2]
    return QImage(rgba.data, w, h, 4 * w, QImage.Format.Format_RGBA8888).copy()


def rgb_to_qimage(rgb: np.ndarray) -> QImage:
    rgb = np.ascontiguousarray(rgb)
    h, w = rgb.shape[:2]
    return QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


def instance_color(category_color: str, instance_id: int) -> str:
    """A per-instance shade of its category's colour: hue turned by up to ±30° and brightness varied by a
    golden-ratio sequence over the instance id, so neighbouring objects of one category stay apart while the
    category still reads at a glance."""
    import colorsys

    r, g, b = (c / 255.0 for c in rgb_of(category_color))
    h, s, v = colorsys.rgb_to_hsv(r, g, b)
    t = (instance_id * 0.6180339887) % 1.0
    h = (h + (t - 0.5) * (60.0 / 360.0)) % 1.0
    v = min(1.0, max(0.35, v * (0.75 + 0.5 * ((instance_id * 0.381966) % 1.0))))
    r, g, b = colorsys.hsv_to_rgb(h, s, v)
    return f"#{int(r * 255 + 0.5):02x}{int(g * 255 + 0.5):02x}{int(b * 255 + 0.5):02x}"


def _contour(mask: np.ndarray, thickness: int) -> np.ndarray:
    m = mask.view(np.uint8) if mask.dtype == bool else mask.astype(np.uint8)
    contours, _ = cv2.findContours(m, cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
    out = np.zeros(mask.shape, np.uint8)
    cv2.drawContours(out, contours, -1, 1, thickness)
    return out.astype(bool)


def paint_masks(layers: list[tuple[np.ndarray, str]], shape: tuple[int, int], *, contour_only: bool = False,
                fill_alpha: int = 255, edge_alpha: int = 255, thickness: int = 2,
                edge_color: str | None = None) -> np.ndarray:
    """Masks (display resolution, bool) with colours -> H x W x 4 uint8, later masks on top.

    The whole layer's opacity is applied by the canvas (``setOpacity``), so changing the slider never
    recomputes this."""
    out = np.zeros((*shape, 4), np.uint8)
    for mask, color in layers:
        if mask is None or not mask.any():
            continue
        r, g, b = rgb_of(color)
        if not contour_only:
            out[mask] = (r, g, b, fill_alpha)
        if thickness <= 0:  # outlines drawn by the canvas as vector paths
            continue
        edge = _contour(mask, thickness)
        out[edge] = (*(rgb_of(edge_color) if edge_color else (r, g, b)), edge_alpha)
    return out


def error_heatmap(fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
    """FP probability in red, FN probability in blue (display resolution). Opacity grows with the larger of the
    two as sqrt(p): the error head's probabilities are modest (proposals start near 0.4), and a linear ramp
    left them nearly invisible."""
    fp = np.clip(fp, 0, 1)
    fn = np.clip(fn, 0, 1)
    out = np.zeros((*fp.shape, 4), np.uint8)
    out[..., 0] = np.where(fp >= fn, 255, 0).astype(np.uint8)
    out[..., 2] = np.where(fn > fp, 255, 0).astype(np.uint8)
    out[..., 3] = (np.sqrt(np.maximum(fp, fn)) * 220).astype(np.uint8)
    return out


def mask_outlines(mask: np.ndarray, scale: float = 1.0) -> list[np.ndarray]:
    """The outlines of a bool mask (display resolution ``scale`` of the image) as polygons in image pixel
    coordinates, ``(x, y)`` of the boundary pixels' centres (N x 2 float arrays). The canvas draws them with a
    cosmetic pen: one screen pixel wide at any zoom."""
    if mask is None or not mask.any():
        return []
    m = mask.view(np.uint8) if mask.dtype == bool else (mask > 0).astype(np.uint8)
    contours, _ = cv2.findContours(m, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    out = []
    for c in contours:
        pts = c.reshape(-1, 2).astype(np.float64)
        out.append((pts + 0.5) / scale)  # pixel centres, back to image pixels
    return out
