"""Propagating an object from one volume slice to its neighbour (numpy/OpenCV only, no Qt, no torch).

The GUI takes the mask of slice ``k`` (H x W bool, indexed ``[row, col]``), moves to slice ``k +/- 1`` (same
plane, same H x W), seeds the session with the mask (``Session.set_previous_mask``) and adds the clicks
:func:`derive_clicks` returns; the network then adapts the mask to the new slice, and the user corrects.

Clicks (:class:`~pseudoclick_gui.engine.types.Click`, ``x`` = column, ``y`` = row, ``kind="human"`` since
they go into the human-click input):

* **positive**: one per connected part of the mask that is at least ``min_part_fraction`` of the largest
  part (at most ``max_positive``, largest first), at the part's most interior point
  (:func:`~pseudoclick_gui.engine.pseudo.interior_point`): the place least likely to leave the object
  between neighbouring slices.
* **negative** (``negative=True``): one at the most interior point of a band around the mask, from
  ``gap`` to ``gap + band`` pixels outside it, where ``gap``/``band`` default to half the radius of a disk
  of the mask's area (at least 2 / 3 px). It tells the network where the object does *not* continue,
  far enough out that normal growth between slices is not cut off. No negative click when the band is
  empty (the mask fills the image).

:func:`mask_vanished` decides when propagation stops: the new slice's mask is empty or tiny compared to
the seed (the structure ended).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from .pseudo import interior_point
from .types import Click

MIN_PART_FRACTION = 0.25
MAX_POSITIVE = 3
VANISH_FRACTION = 0.02
VANISH_MIN_PIXELS = 4


def _as_mask(mask: np.ndarray) -> np.ndarray:
    m = np.asarray(mask)
    if m.ndim != 2:
        raise ValueError(f"a mask must be 2-D (H x W), got shape {m.shape}")
    return m.astype(bool, copy=False)


def _ring(mask: np.ndarray, gap: int, band: int) -> np.ndarray:
    """Pixels more than ``gap`` and at most ``gap + band`` px (Euclidean) outside ``mask``."""
    outside = (~mask).astype(np.uint8)
    dist = cv2.distanceTransform(outside, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    return (dist > gap) & (dist <= gap + band)


def derive_clicks(
    mask: np.ndarray,
    *,
    negative: bool = True,
    max_positive: int = MAX_POSITIVE,
    min_part_fraction: float = MIN_PART_FRACTION,
    gap: int | None = None,
    band: int | None = None,
) -> list[Click]:
    """Clicks to seed the neighbouring slice with, from ``mask`` (H x W bool) of the current slice.

    Returns the positive clicks (largest part first) then the optional negative click; an empty list for an
    empty mask. See the module docstring for where they go.
    """
    m = _as_mask(mask)
    if not m.any():
        return []
    n, labels, stats, _ = cv2.connectedComponentsWithStats(m.view(np.uint8), connectivity=8)
    areas = stats[1:, cv2.CC_STAT_AREA]
    order = np.argsort(-areas, kind="stable")
    largest = int(areas[order[0]])
    clicks: list[Click] = []
    for i in order[: max(1, int(max_positive))]:
        lab = int(i) + 1
        if areas[i] < min_part_fraction * largest:
            break
        x, y, w, h = (int(v) for v in stats[lab, :4])
        r, c = interior_point(labels[y : y + h, x : x + w] == lab)
        clicks.append(Click(float(x + c), float(y + r), True))
    if negative:
        radius = math.sqrt(float(m.sum()) / math.pi)
        g = max(2, round(radius / 2)) if gap is None else int(gap)
        b = max(3, round(radius / 2)) if band is None else int(band)
        ring = _ring(m, g, b)
        if ring.any():
            r, c = interior_point(ring)
            clicks.append(Click(float(c), float(r), False))
    return clicks


def mask_vanished(
    mask: np.ndarray | None,
    seed_area: int,
    *,
    fraction: float = VANISH_FRACTION,
    min_pixels: int = VANISH_MIN_PIXELS,
) -> bool:
    """True when a propagated ``mask`` (H x W bool, or None) is empty or below ``max(min_pixels, fraction *
    seed_area)`` pixels: the object ended, propagation should stop."""
    if mask is None:
        return True
    area = int(np.count_nonzero(mask))
    return area < max(int(min_pixels), fraction * float(seed_area))
