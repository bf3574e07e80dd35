"""Pseudo clicks: from predicted FP/FN maps to one proposed click (PseudoClick, ECCV 2022, Sec. 3).

Threshold both error maps at 0.5, take the largest connected error region over both (regions smaller than
``min_area`` px are ignored, as are regions vetoed by ``blocked``), and click at its most interior point
(maximum of the distance transform, so the click lies inside even a concave region). The click is negative
when the region comes from the FP map and positive when it comes from the FN map. Its confidence is the mean
error probability inside the region.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

SIGNS = ("both", "negative", "positive")  # which error maps may propose
RANKS = ("area", "depth")  # how the winning region is chosen


@dataclass(frozen=True)
class ErrorRegionClick:
    row: int
    col: int
    positive: bool
    confidence: float
    area: int


def interior_point(region: np.ndarray) -> tuple[int, int]:
    """(row, col) of the pixel of ``region`` (H x W bool) farthest from its boundary; the image border counts
    as boundary. Ties: first in row-major order."""
    padded = np.pad(region.astype(np.uint8), 1)
    dist = cv2.distanceTransform(padded, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)[1:-1, 1:-1]
    idx = int(np.argmax(dist))
    return divmod(idx, region.shape[1])


def largest_error_click(
    fp: np.ndarray,
    fn: np.ndarray,
    threshold: float = 0.5,
    min_area: int = 20,
    blocked: np.ndarray | None = None,
    rank: str = "area",
    signs: str = "both",
    seg: np.ndarray | None = None,
    fn_reach: float | None = None,
    min_fraction: float = 0.0,
) -> ErrorRegionClick | None:
    """Propose one click from error probability maps ``fp`` and ``fn`` (H x W float in [0, 1]).

    ``blocked`` (H x W bool, optional): pixels where no click may be proposed (e.g. around withdrawn
    proposals); a region whose interior point falls in it is skipped in favour of the next largest.
    ``rank``: ``"area"`` (the paper: the largest region wins) or ``"depth"`` (the region whose most interior
    point lies deepest wins — thin bands along the object's boundary, where a click is easily wrong, lose
    against compact blobs; this mirrors how the standard robot user chooses). Ties keep the larger area.
    ``signs``: which maps may propose — ``"both"`` (the paper), ``"negative"`` (FP only) or ``"positive"``
    (FN only); a checkpoint whose error head is unreliable for one sign switches that sign off.
    ``fn_reach`` with ``seg`` (the mask's probability on the same grid): FN pixels farther than ``fn_reach``
    pixels from the mask (``seg >= 0.5``) are ignored, so positive proposals grow the object instead of
    jumping to other objects.
    ``min_fraction`` with ``seg``: regions smaller than this fraction of the mask's area are ignored too (an
    annotator would not spend a click on a sliver).
    Returns None when no region reaches ``min_area``.
    """
    if signs not in SIGNS:
        raise ValueError(f"signs must be one of {SIGNS}, not {signs!r}")
    if rank not in RANKS:
        raise ValueError(f"rank must be one of {RANKS}, not {rank!r}")
    if min_fraction > 0 and seg is not None:
        min_area = max(min_area, int(np.ceil(min_fraction * np.count_nonzero(seg >= 0.5))))
    maps = [(False, fp)] if signs == "negative" else [(True, fn)] if signs == "positive" else [(False, fp), (True, fn)]
    candidates = []
    for positive, prob in maps:
        binary = (prob >= threshold).astype(np.uint8)
        if blocked is not None:
            binary[blocked] = 0
        if positive and fn_reach is not None and seg is not None:
            mask = (seg >= 0.5).astype(np.uint8)
            if mask.any():
                binary[cv2.distanceTransform(1 - mask, cv2.DIST_L2, 3) > fn_reach] = 0
        if not binary.any():
            continue
        n, labels, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
        depth = None
        if rank == "depth":
            dist = cv2.distanceTransform(np.pad(binary, 1), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)[1:-1, 1:-1]
            depth = np.zeros(n, np.float32)
            np.maximum.at(depth, labels.ravel(), dist.ravel())
        for lab in range(1, n):
            area = int(stats[lab, cv2.CC_STAT_AREA])
            if area >= min_area:
                key = (float(depth[lab]), area) if depth is not None else (float(area), area)
                candidates.append((key, positive, lab, labels, prob, tuple(int(v) for v in stats[lab, :4])))
    candidates.sort(key=lambda c: (-c[0][0], -c[0][1]))
    for (_, area), positive, lab, labels, prob, (x, y, w, h) in candidates[:1]:
        sub = labels[y : y + h, x : x + w] == lab  # blocked pixels were removed before labelling
        r, c = interior_point(sub)
        conf = float(prob[y : y + h, x : x + w][sub].mean())
        return ErrorRegionClick(y + r, x + c, positive, conf, area)
    return None



def true_error_click(pred: np.ndarray, obj: np.ndarray, valid: np.ndarray | None = None,
                     min_area: int = 20) -> ErrorRegionClick | None:
    """The click the paper's rule proposes from the TRUE error maps of mask ``pred`` against object ``obj``
    (H x W bool; pixels outside ``valid`` are ignored): what a perfect error head would propose."""
    ok = np.ones_like(pred, bool) if valid is None else valid
    fp = (ok & pred & ~obj).astype(np.float32)
    fn = (ok & ~pred & obj).astype(np.float32)
    return largest_error_click(fp, fn, 0.5, min_area)
