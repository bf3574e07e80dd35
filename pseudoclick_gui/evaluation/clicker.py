"""The standard robot user (the RITM protocol), independent of any predictor."""

from __future__ import annotations

import cv2
import numpy as np

from ..engine.types import Click


def _edt(region: np.ndarray) -> np.ndarray:
    """Exact L2 distance to the nearest non-region pixel; the image border counts as boundary.

    OpenCV's float32 result can differ in the last bits from call to call (its thread partitioning), which
    broke ties between equally deep pixels differently from run to run. The exact squared distance is an
    integer, so it is rounded back to one (exact below ~700 px of depth): the robot's clicks are reproducible."""
    padded = np.pad(region.astype(np.uint8), 1)
    d = cv2.distanceTransform(padded, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)[1:-1, 1:-1].astype(np.float64)
    return np.sqrt(np.rint(d * d))


class RobotClicker:
    """Places each next click at the most interior point of the larger error region.

    gt: H x W bool object mask; ignore: optional H x W bool (pixels excluded from errors and IoU)."""

    def __init__(self, gt: np.ndarray, ignore: np.ndarray | None = None):
        self.gt = gt.astype(bool)
        self.ignore = ignore.astype(bool) if ignore is not None else np.zeros_like(self.gt)
        self.not_clicked = np.ones_like(self.gt)
        self.clicks: list[Click] = []

    def next_click(self, pred: np.ndarray) -> Click | None:
        """pred: H x W bool, the current mask. None when there is no error left."""
        valid = ~self.ignore
        fn = self.gt & ~pred & valid
        fp = ~self.gt & pred & valid
        dfn = _edt(fn) * self.not_clicked
        dfp = _edt(fp) * self.not_clicked
        mfn, mfp = float(dfn.max()), float(dfp.max())
        if max(mfn, mfp) <= 0:
            return None
        positive = mfn > mfp  # ties -> negative
        d, m = (dfn, mfn) if positive else (dfp, mfp)
        idx = int(np.flatnonzero(d.ravel() == m)[0])  # first maximum in row-major order
        r, c = divmod(idx, self.gt.shape[1])
        self.not_clicked[r, c] = False
        click = Click(float(c), float(r), positive, "human")
        self.clicks.append(click)
        return click


def iou(pred: np.ndarray, gt: np.ndarray, ignore: np.ndarray | None = None) -> float:
    valid = np.ones_like(gt, bool) if ignore is None else ~ignore
    inter = np.count_nonzero(pred & gt & valid)
    union = np.count_nonzero((pred | gt) & valid)
    return inter / union if union else 1.0
