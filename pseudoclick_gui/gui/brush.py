"""Brush / eraser strokes on a finished object's mask: pure numpy (no widgets), so cheap to test.

A stroke is the list of image pixels ``(x, y)`` the cursor passed over (x = column), painted with a round
brush of radius ``radius`` image pixels: a pixel belongs to the stroke when its centre lies within ``radius``
of the polyline through the stroke's pixel centres (radius 0: one pixel wide). Only the stroke's bounding box
is rasterised and kept (``box`` = ``(y0, y1, x0, x1)``, a numpy slice of the image).
"""

from __future__ import annotations

import numpy as np

MIN_RADIUS = 0
MAX_RADIUS = 256
DEFAULT_RADIUS = 6


def clamp_radius(r: int) -> int:
    return max(MIN_RADIUS, min(MAX_RADIUS, int(r)))


def bigger(r: int) -> int:
    """Next radius up (``]``): +1 for small brushes, about +20 % for big ones."""
    return clamp_radius(max(r + 1, round(r * 1.2)))


def smaller(r: int) -> int:
    """Next radius down (``[``)."""
    return clamp_radius(min(r - 1, round(r / 1.2)))


def _segment_distance2(yy, xx, p0, p1) -> np.ndarray:
    """Squared distance of each grid point (centres) to the segment p0-p1."""
    (x0, y0), (x1, y1) = p0, p1
    dx, dy = x1 - x0, y1 - y0
    L2 = dx * dx + dy * dy
    if L2 == 0:
        return (xx - x0) ** 2 + (yy - y0) ** 2
    t = np.clip(((xx - x0) * dx + (yy - y0) * dy) / L2, 0.0, 1.0)
    return (xx - (x0 + t * dx)) ** 2 + (yy - (y0 + t * dy)) ** 2


def stroke_patch(shape: tuple[int, int], points, radius: int):
    """``(box, patch)``: the stroke's bounding box clipped to the image (``(y0, y1, x0, x1)``) and the bool
    patch of the pixels it covers there; ``(None, None)`` when the stroke misses the image."""
    h, w = shape
    pts = [(int(x), int(y)) for x, y in points]
    if not pts or h <= 0 or w <= 0:
        return None, None
    r = clamp_radius(radius)
    xs = [p[0] for p in pts]
    ys = [p[1] for p in pts]
    x0, x1 = max(0, min(xs) - r), min(w, max(xs) + r + 1)
    y0, y1 = max(0, min(ys) - r), min(h, max(ys) + r + 1)
    if x0 >= x1 or y0 >= y1:
        return None, None
    yy, xx = np.mgrid[y0:y1, x0:x1]
    yy = yy.astype(np.float64)
    xx = xx.astype(np.float64)
    patch = np.zeros((y1 - y0, x1 - x0), bool)
    r2 = r * r + 1e-9
    segments = list(zip(pts, pts[1:])) or [(pts[0], pts[0])]
    for p0, p1 in segments:
        # only the segment's own box needs the distance computation
        sx0, sx1 = max(x0, min(p0[0], p1[0]) - r), min(x1, max(p0[0], p1[0]) + r + 1)
        sy0, sy1 = max(y0, min(p0[1], p1[1]) - r), min(y1, max(p0[1], p1[1]) + r + 1)
        if sx0 >= sx1 or sy0 >= sy1:
            continue
        sub = (slice(sy0 - y0, sy1 - y0), slice(sx0 - x0, sx1 - x0))
        patch[sub] |= _segment_distance2(yy[sub], xx[sub], p0, p1) <= r2
    if not patch.any():
        return None, None
    return (y0, y1, x0, x1), patch


def apply_stroke(mask: np.ndarray, box, patch: np.ndarray, erase: bool) -> np.ndarray:
    """The new content of ``mask[box]`` after painting (or erasing) ``patch``."""
    y0, y1, x0, x1 = box
    old = mask[y0:y1, x0:x1]
    return old & ~patch if erase else old | patch
