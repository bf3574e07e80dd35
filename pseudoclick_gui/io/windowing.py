"""Intensity -> uint8 mappings, shared by images and volumes.

Two separate ideas live here:

* **Display window/level** (:func:`apply_window`, :data:`WINDOW_PRESETS`, :func:`auto_window`): what the
  user sees; chosen by the user (CT presets in Hounsfield units) or guessed from percentiles (MR, EM).
* **Network normalisation** (:func:`normalize_percentile`): what the network sees. The documented rule is
  "the 0.5th and 99.5th percentiles of the finite values of the given array are mapped linearly to 0 and 255,
  values outside are clipped, NaN/inf become 0". It is computed per image / per slice from the *raw*
  intensities, so it does not depend on the display window. A constant array maps to all zeros.

Percentiles of arrays above :data:`MAX_PERCENTILE_SAMPLES` values are estimated on a regular subsample
(deterministic, cheap); the result differs from the exact percentile by far less than one grey level on
natural images.
"""

from __future__ import annotations

import numpy as np

PERCENTILE_LOW = 0.5
PERCENTILE_HIGH = 99.5
MAX_PERCENTILE_SAMPLES = 1_000_000

#: name -> (level, width) in Hounsfield units.
WINDOW_PRESETS: dict[str, tuple[float, float]] = {
    "CT brain": (40.0, 80.0),
    "CT subdural": (75.0, 215.0),
    "CT soft tissue": (50.0, 350.0),
    "CT abdomen": (40.0, 400.0),
    "CT lung": (-600.0, 1500.0),
    "CT bone": (400.0, 1800.0),
}


def _sample(raw: np.ndarray) -> np.ndarray:
    flat = np.asarray(raw).reshape(-1)
    if flat.size > MAX_PERCENTILE_SAMPLES:
        step = int(np.ceil(flat.size / MAX_PERCENTILE_SAMPLES))
        flat = flat[::step]
    if flat.dtype.kind == "f":
        flat = flat[np.isfinite(flat)]
    return flat


def percentile_range(
    raw: np.ndarray, low: float = PERCENTILE_LOW, high: float = PERCENTILE_HIGH
) -> tuple[float, float]:
    """``(lo, hi)``: the *low* and *high* percentiles of the finite values of *raw* ((0, 0) when none)."""
    flat = _sample(raw)
    if flat.size == 0:
        return 0.0, 0.0
    if flat.dtype == np.bool_:
        flat = flat.astype(np.uint8)
    lo, hi = np.percentile(flat, [low, high])
    return float(lo), float(hi)


def _linear_to_uint8(raw: np.ndarray, lo: float, hi: float) -> np.ndarray:
    arr = np.asarray(raw)
    if hi <= lo:
        return np.zeros(arr.shape, np.uint8)
    scale = 255.0 / (hi - lo)
    out = (arr.astype(np.float32, copy=False) - np.float32(lo)) * np.float32(scale)
    out = np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0)
    np.clip(out, 0.0, 255.0, out=out)
    return (out + 0.5).astype(np.uint8)


def normalize_percentile(
    raw: np.ndarray, low: float = PERCENTILE_LOW, high: float = PERCENTILE_HIGH
) -> np.ndarray:
    """Map the *low*..*high* percentile range of *raw* linearly onto 0..255 (uint8, same shape)."""
    lo, hi = percentile_range(raw, low, high)
    return _linear_to_uint8(raw, lo, hi)


def apply_window(raw: np.ndarray, level: float, width: float) -> np.ndarray:
    """Display window: ``level - width/2`` -> 0 and ``level + width/2`` -> 255, clipped; uint8, same shape."""
    if not width > 0:
        raise ValueError(f"window width must be > 0, got {width}")
    lo = float(level) - float(width) / 2.0
    return _linear_to_uint8(raw, lo, lo + float(width))


def auto_window(
    raw: np.ndarray, low: float = PERCENTILE_LOW, high: float = PERCENTILE_HIGH
) -> tuple[float, float]:
    """``(level, width)`` covering the *low*..*high* percentiles of *raw* (for MR/EM, where no preset applies).

    The width is at least 1 so that the result is always usable with :func:`apply_window`.
    """
    lo, hi = percentile_range(raw, low, high)
    width = max(hi - lo, 1.0)
    return (lo + hi) / 2.0, width
