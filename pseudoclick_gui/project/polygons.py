"""Polygons <-> masks, with the COCO coordinate convention: a polygon vertex ``(x, y)`` is a point in
continuous image coordinates where pixel ``(row r, col c)`` covers ``[c, c+1) x [r, r+1)``, so its centre
is ``(c + 0.5, r + 0.5)``.

* :func:`rasterize` fills the pixels whose centre lies inside (even-odd rule within one polygon, union of
  the polygons of one object, as pycocotools does). pycocotools rasterises at 5x and rounds slightly
  differently, so the two agree up to boundary pixels (well under 1 % of the area on typical shapes).
* :func:`mask_to_polygons` traces the outer boundaries with OpenCV (``RETR_CCOMP``, on a 4x upsampled
  crop so the outline follows pixel edges, not pixel centres) and reports whether the mask had holes: COCO polygons of one object are *unioned*, so a hole cannot be represented and is filled.
"""

from __future__ import annotations

import numpy as np

from ..errors import ProjectError


def rasterize(polygons, height: int, width: int) -> np.ndarray:
    """H x W bool mask of a list of flat ``[x1, y1, x2, y2, ...]`` polygons (COCO ``segmentation``)."""
    out = np.zeros((height, width), dtype=bool)
    rows_y = np.arange(height, dtype=np.float64) + 0.5
    for poly in polygons:
        p = np.asarray(poly, dtype=np.float64).ravel()
        if p.size < 6 or p.size % 2:
            raise ProjectError(f"a polygon needs at least 3 (x, y) points, got {p.size} numbers")
        x0, y0 = p[0::2], p[1::2]
        x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
        lo, hi = np.minimum(y0, y1), np.maximum(y0, y1)
        # rows whose sample line crosses each edge (half-open in y, so vertices are counted once)
        r, e = np.nonzero((rows_y[:, None] >= lo[None, :]) & (rows_y[:, None] < hi[None, :]))
        if r.size == 0:
            continue
        t = (rows_y[r] - y0[e]) / (y1[e] - y0[e])
        xs = x0[e] + t * (x1[e] - x0[e])
        order = np.lexsort((xs, r))
        r, xs = r[order], xs[order]
        # each row has an even number of crossings; fill centres in [x_2k, x_2k+1)
        start_col = np.clip(np.ceil(xs[0::2] - 0.5), 0, width).astype(np.int64)
        stop_col = np.clip(np.ceil(xs[1::2] - 0.5), 0, width).astype(np.int64)
        rr = r[0::2]
        diff = np.zeros((height, width + 1), dtype=np.int32)
        np.add.at(diff, (rr, start_col), 1)
        np.add.at(diff, (rr, stop_col), -1)
        out |= np.cumsum(diff, axis=1)[:, :width] > 0
    return out


def mask_to_polygons(mask: np.ndarray, *, upsample: int = 4) -> tuple[list[list[float]], bool]:
    """Outer boundaries of a mask as COCO polygons, and whether the mask has holes (which the polygons
    cannot carry).

    OpenCV traces contours through the centres of boundary pixels, which would shave half a pixel off every
    edge. So the mask's bounding-box crop is upsampled ``upsample`` times (nearest) before tracing: the traced
    vertices then lie ``0.5 / upsample`` px inside the true pixel edges, and filling the polygon by pixel
    centres (COCO convention) gives back the original pixels except at thin diagonal corners."""
    import cv2

    m = np.asarray(mask, dtype=bool)
    rows = np.flatnonzero(m.any(axis=1))
    if rows.size == 0:
        return [], False
    cols = np.flatnonzero(m.any(axis=0))
    r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    k = int(upsample)
    crop = np.ascontiguousarray(m[r0:r1, c0:c1], dtype=np.uint8)
    big = np.pad(np.repeat(np.repeat(crop, k, axis=0), k, axis=1), 1)
    contours, hierarchy = cv2.findContours(big, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    polys: list[list[float]] = []
    has_holes = False
    for i, c in enumerate(contours):
        if hierarchy[0][i][3] != -1:  # a child contour of RETR_CCOMP is a hole
            has_holes = True
            continue
        # sub-pixel (u, v) of the padded upsampled crop -> image coordinates of its centre
        pts = (c.reshape(-1, 2).astype(np.float64) - 1.0 + 0.5) / k + np.array([c0, r0], dtype=np.float64)
        polys.append([round(float(v), 3) for v in pts.ravel()])
    return polys, has_holes
