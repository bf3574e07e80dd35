"""Turning whatever array a caller has into the network's H x W x 3 uint8 RGB (numpy only).

Rules (documented contract of ``Session.set_image``):
* H x W x 3 uint8: used as is (RGB).
* H x W or H x W x 1 (grey): replicated to 3 channels.
* H x W x 4 (RGBA): the alpha channel is dropped.
* uint16, other integer types and floats: intensities are windowed to the 0.5–99.5 percentile range of the
  image (NaN/inf ignored) and scaled to 0..255; a constant image becomes 0. Bool becomes 0/255.
"""

from __future__ import annotations

import warnings

import numpy as np

from ..errors import ImageLoadError
from ..io.windowing import normalize_percentile


def to_rgb_uint8(image: np.ndarray) -> np.ndarray:
    a = np.asarray(image)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (3, 4)):
        raise ImageLoadError(f"expected an H x W, H x W x 3 or H x W x 4 image, got shape {a.shape}")
    if a.shape[0] < 2 or a.shape[1] < 2:
        raise ImageLoadError(f"image too small: {a.shape[1]} x {a.shape[0]} px")
    if a.ndim == 3 and a.shape[2] == 4:
        a = a[..., :3]
    if a.dtype == bool:
        a = a.astype(np.uint8) * 255
    elif a.dtype != np.uint8:
        if a.dtype.kind not in "uif":
            raise ImageLoadError(f"unsupported pixel type {a.dtype}")
        if a.dtype.kind == "f" and a.dtype.itemsize > 4:
            big = float(np.finfo(np.float32).max)
            finite = a[np.isfinite(a)]
            if finite.size and float(np.abs(finite).max()) > big:
                warnings.warn("the image holds values beyond float32's range; they were clipped", stacklevel=3)
                a = np.clip(a, -big, big)
        a = normalize_percentile(a)  # the same rule the volume readers use for the network input
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=2)
    return np.ascontiguousarray(a)
