"""RITM zoom-in as a transform with a forward (image -> network crop) and an inverse
(network output -> image), plus the plain "fit the long side" transform used for the first click.

Rectangles are ``(x0, y0, x1, y1)`` in image pixels, ends exclusive.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

Rect = tuple[int, int, int, int]


@dataclass(frozen=True)
class CropTransform:
    """Maps the image window ``roi`` to a network input of ``out_w x out_h`` pixels (uniform scale)."""

    roi: Rect
    out_w: int
    out_h: int

    @property
    def scale(self) -> float:
        x0, y0, x1, y1 = self.roi
        return self.out_w / (x1 - x0)

    @classmethod
    def fit(cls, roi: Rect, long_side: int, upscale: bool = True) -> CropTransform:
        x0, y0, x1, y1 = roi
        w, h = x1 - x0, y1 - y0
        s = long_side / max(w, h)
        if not upscale:
            s = min(s, 1.0)
        return cls(roi, max(1, int(round(w * s))), max(1, int(round(h * s))))

    def forward_image(self, image: np.ndarray) -> np.ndarray:
        x0, y0, x1, y1 = self.roi
        crop = image[y0:y1, x0:x1]
        if crop.shape[1] == self.out_w and crop.shape[0] == self.out_h:
            return np.ascontiguousarray(crop)
        shrinking = self.out_w < crop.shape[1]
        return cv2.resize(crop, (self.out_w, self.out_h), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)

    def forward_point(self, x: float, y: float) -> tuple[float, float]:
        """Image (x, y) -> crop (x, y), pixel centres mapped to pixel centres."""
        x0, y0, x1, y1 = self.roi
        sx = self.out_w / (x1 - x0)
        sy = self.out_h / (y1 - y0)
        return (x - x0 + 0.5) * sx - 0.5, (y - y0 + 0.5) * sy - 0.5

    def disks(self, spots: list[tuple[float, float, float]]) -> np.ndarray | None:
        """out_h x out_w bool: the crop pixels within ``r`` image pixels of each spot ``(x, y, r)``; None for
        no spots."""
        if not spots:
            return None
        mask = np.zeros((self.out_h, self.out_w), bool)
        s = self.out_w / (self.roi[2] - self.roi[0])
        for x, y, r in spots:
            cx, cy = self.forward_point(x, y)
            rr = r * s + 0.5
            r_i = int(np.ceil(rr))
            y0, y1 = max(0, int(cy) - r_i), min(self.out_h, int(cy) + r_i + 2)
            x0, x1 = max(0, int(cx) - r_i), min(self.out_w, int(cx) + r_i + 2)
            if y0 < y1 and x0 < x1:
                yy, xx = np.ogrid[y0:y1, x0:x1]
                mask[y0:y1, x0:x1] |= (yy - cy) ** 2 + (xx - cx) ** 2 <= rr * rr
        return mask

    def inverse_map(self, crop_map: np.ndarray, height: int, width: int, fill: float = 0.0) -> np.ndarray:
        """Crop-resolution map(s) (h x w or h x w x c) -> full image size; ``fill`` outside the ROI."""
        x0, y0, x1, y1 = self.roi
        back = crop_map
        if crop_map.shape[1] != x1 - x0 or crop_map.shape[0] != y1 - y0:
            back = cv2.resize(crop_map, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
        out = np.full((height, width, *crop_map.shape[2:]), fill, dtype=crop_map.dtype)
        out[y0:y1, x0:x1] = back
        return out


    def inverse_planes(self, crop_maps: np.ndarray, height: int, width: int) -> list[np.ndarray]:
        """h x w x c crop maps -> c contiguous full-size planes (0 outside the ROI), with one resize and no
        full-size temporary: the click path's post-processing on a large photo."""
        x0, y0, x1, y1 = self.roi
        back = crop_maps
        if crop_maps.shape[1] != x1 - x0 or crop_maps.shape[0] != y1 - y0:
            back = cv2.resize(crop_maps, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
        back = back.reshape(y1 - y0, x1 - x0, -1)
        out = np.zeros((back.shape[2], height, width), dtype=crop_maps.dtype)
        for i in range(back.shape[2]):
            out[i, y0:y1, x0:x1] = back[..., i]
        return list(out)


def expand_roi(mask: np.ndarray, positive_points: list[tuple[float, float]], expansion: float = 1.4,
               min_size: int = 200) -> Rect | None:
    """RITM's zoom-in window: bbox of (mask ∪ positive clicks), grown ``expansion``× about its centre, at least
    ``min_size`` px per side, clamped to the image. ``positive_points`` are (x, y). None if both are empty."""
    h, w = mask.shape
    ys, xs = np.nonzero(mask)
    xs = list(xs.tolist()) if xs.size < 4 else [int(xs.min()), int(xs.max())]
    ys = list(ys.tolist()) if ys.size < 4 else [int(ys.min()), int(ys.max())]
    for x, y in positive_points:
        xs.append(int(round(x)))
        ys.append(int(round(y)))
    if not xs:
        return None
    bx0, bx1, by0, by1 = min(xs), max(xs) + 1, min(ys), max(ys) + 1
    cx, cy = (bx0 + bx1) / 2, (by0 + by1) / 2
    bw = max((bx1 - bx0) * expansion, min_size)
    bh = max((by1 - by0) * expansion, min_size)
    return _clamp((cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2), w, h)


def _clamp(r: tuple[float, float, float, float], w: int, h: int) -> Rect:
    x0, y0, x1, y1 = r
    # shift inside the image first, then cut what still does not fit
    if x0 < 0:
        x1, x0 = x1 - x0, 0
    if y0 < 0:
        y1, y0 = y1 - y0, 0
    if x1 > w:
        x0, x1 = x0 - (x1 - w), w
    if y1 > h:
        y0, y1 = y0 - (y1 - h), h
    x0, y0 = max(0, int(np.floor(x0))), max(0, int(np.floor(y0)))
    x1, y1 = min(w, int(np.ceil(x1))), min(h, int(np.ceil(y1)))
    return x0, y0, max(x0 + 1, x1), max(y0 + 1, y1)


def roi_iou(a: Rect, b: Rect) -> float:
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    area = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / area if area else 0.0


def update_roi(current: Rect | None, mask: np.ndarray, positive_points: list[tuple[float, float]],
               last_click: tuple[float, float, bool] | None, expansion: float = 1.4, min_size: int = 200) -> Rect | None:
    """RITM's rule: recompute when absent, when a positive click falls outside, or IoU(old, new) < 0.5."""
    new = expand_roi(mask, positive_points, expansion, min_size)
    if new is None:
        return current
    if current is None:
        return new
    if last_click is not None and last_click[2]:
        x, y = last_click[0], last_click[1]
        if not (current[0] <= x < current[2] and current[1] <= y < current[3]):
            return new
    if roi_iou(current, new) < 0.5:
        return new
    return current


def grow_roi(roi: Rect, crop_mask: np.ndarray, width: int, height: int, grow: float = 0.5,
             min_touch: int = 2) -> Rect | None:
    """A larger window when the mask predicted in ``roi`` (``crop_mask``: the network's grid, bool) runs into a
    side of it that lies inside the ``width`` x ``height`` image: each such side moves out by ``grow`` times the
    window's size along that axis. None when the mask touches no inner side (``min_touch`` pixels on the side's
    outermost row or column count as touching), so nothing would be cut off."""
    x0, y0, x1, y1 = roi
    sides = {"left": (x0 > 0, crop_mask[:, 0]), "right": (x1 < width, crop_mask[:, -1]),
             "top": (y0 > 0, crop_mask[0]), "bottom": (y1 < height, crop_mask[-1])}
    touching = {name for name, (inner, edge) in sides.items() if inner and int(np.count_nonzero(edge)) >= min_touch}
    if not touching:
        return None
    dx, dy = grow * (x1 - x0), grow * (y1 - y0)
    nx0 = max(0, int(np.floor(x0 - dx))) if "left" in touching else x0
    nx1 = min(width, int(np.ceil(x1 + dx))) if "right" in touching else x1
    ny0 = max(0, int(np.floor(y0 - dy))) if "top" in touching else y0
    ny1 = min(height, int(np.ceil(y1 + dy))) if "bottom" in touching else y1
    return nx0, ny0, nx1, ny1
