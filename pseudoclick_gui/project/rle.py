"""COCO run-length encoding of binary masks, vectorised with numpy (no pycocotools at runtime).

Format (the one pycocotools reads and writes):

* the mask is flattened in column-major (Fortran) order;
* ``counts`` are the lengths of alternating runs, the first run being *zeros* (so a mask whose first
  pixel is set starts with a 0 count);
* the *compressed* form turns the counts into an ASCII string: from the fourth count on, each count
  is stored as the difference to the count two places before it, and every (signed) value is written
  in 5-bit groups, least significant first, as ``chr(48 + group)`` where bit ``0x20`` of the group
  says "more groups follow" and bit ``0x10`` of the last group is the sign.

``encode(mask) -> {"size": [h, w], "counts": str}``; ``decode(rle) -> bool[h, w]``. ``decode`` also
accepts the uncompressed form (``counts`` a list of ints) and ``bytes`` counts as pycocotools returns.
Everything here is O(number of pixels) in numpy plus O(number of runs) in numpy; no Python loop over
runs or pixels.
"""

from __future__ import annotations

import numpy as np

from ..errors import ProjectError

__all__ = [
    "encode",
    "decode",
    "area",
    "bbox",
    "mask_counts",
    "counts_to_string",
    "string_to_counts",
    "mask_bbox",
]

_MAX_GROUPS = 13  # 13 * 5 bits > 64 bits


def mask_counts(mask: np.ndarray) -> np.ndarray:
    """Uncompressed COCO counts (int64) of a 2-D mask (anything non-zero is foreground)."""
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ProjectError(f"a mask must be 2-D, got shape {mask.shape}")
    flat = mask.astype(bool, copy=False).ravel(order="F")
    n = flat.size
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate(([0], change, [n]))
    counts = np.diff(bounds).astype(np.int64)
    if flat[0]:
        counts = np.concatenate(([0], counts))
    return counts


def counts_to_string(counts: np.ndarray) -> str:
    """Compress uncompressed counts to the COCO ASCII string (same bytes as pycocotools)."""
    cnts = np.asarray(counts, dtype=np.int64)
    if cnts.size == 0:
        return ""
    x = cnts.copy()
    if x.size > 3:
        x[3:] -= cnts[1:-2]
    # only as many 5-bit groups as the largest magnitude needs (one extra bit for the sign)
    big = int(max(x.max(), -x.min() - 1))
    n_max = max(1, -(-(big.bit_length() + 1) // 5))
    shifts = 5 * np.arange(n_max, dtype=np.int64)
    # groups[k, i]: the k-th 5-bit group of value i; rest[k, i]: the value shifted past group k
    shifted = x[None, :] >> shifts[:, None]
    groups = shifted & 0x1F
    rest = shifted >> 5
    more = np.where((groups & 0x10) != 0, rest != -1, rest != 0)
    n_groups = 1 + more.sum(axis=0)  # 'more' is true for a prefix of the groups only
    chars = (groups | (more.astype(np.int64) << 5)) + 48
    keep = np.arange(n_max)[:, None] < n_groups[None, :]
    return chars.T[keep.T].astype(np.uint8).tobytes().decode("ascii")


def string_to_counts(s: str | bytes) -> np.ndarray:
    """Inverse of :func:`counts_to_string`."""
    if isinstance(s, str):
        s = s.encode("ascii")
    b = np.frombuffer(s, dtype=np.uint8).astype(np.int64)
    if b.size == 0:
        return np.zeros(0, dtype=np.int64)
    v = b - 48
    if (v < 0).any() or (v > 63).any():
        raise ProjectError("corrupt RLE string: character out of range")
    ends = (v & 0x20) == 0
    if not ends[-1]:
        raise ProjectError("corrupt RLE string: truncated value")
    end_idx = np.flatnonzero(ends)
    starts = np.concatenate(([0], end_idx[:-1] + 1))
    token = np.cumsum(np.concatenate(([0], ends[:-1].astype(np.int64))))
    pos = np.arange(v.size) - starts[token]
    if pos.max() >= _MAX_GROUPS:
        raise ProjectError("corrupt RLE string: value too long")
    parts = (v & 0x1F) << (5 * pos)
    x = np.add.reduceat(parts, starts)
    n_groups = end_idx - starts + 1
    negative = (v[end_idx] & 0x10) != 0
    x = np.where(negative, x - (np.int64(1) << (5 * n_groups)), x)
    cnts = x.copy()
    # undo the delta coding: cnts[i] = x[i] + cnts[i-2] for i > 2
    if cnts.size > 2:
        cnts[2::2] = np.cumsum(x[2::2])
    if cnts.size > 1:
        cnts[1::2] = np.cumsum(x[1::2])
    return cnts


def _size_counts(rle: dict) -> tuple[int, int, np.ndarray]:
    try:
        h, w = (int(v) for v in rle["size"])
        counts = rle["counts"]
    except (KeyError, TypeError, ValueError) as exc:
        raise ProjectError(f"not an RLE dict: {exc}") from None
    if isinstance(counts, (str, bytes)):
        cnts = string_to_counts(counts)
    else:
        cnts = np.asarray(counts, dtype=np.int64).ravel()
    if (cnts < 0).any() or int(cnts.sum()) != h * w:
        raise ProjectError(f"corrupt RLE: counts sum to {int(cnts.sum())}, expected {h}x{w}={h * w}")
    return h, w, cnts


def encode(mask: np.ndarray) -> dict:
    """``{"size": [h, w], "counts": str}``, the compressed COCO RLE of ``mask`` (non-zero = foreground)."""
    mask = np.asarray(mask)
    counts = mask_counts(mask)
    h, w = mask.shape
    return {"size": [int(h), int(w)], "counts": counts_to_string(counts)}


def decode(rle: dict) -> np.ndarray:
    """H x W bool mask from a compressed or uncompressed COCO RLE dict."""
    h, w, cnts = _size_counts(rle)
    values = (np.arange(cnts.size) % 2).astype(bool)
    flat = np.repeat(values, cnts)
    return flat.reshape((h, w), order="F")


def area(rle: dict) -> int:
    """Number of foreground pixels (without decoding)."""
    _, _, cnts = _size_counts(rle)
    return int(cnts[1::2].sum())


def _bbox_from_counts(h: int, w: int, cnts: np.ndarray) -> list[int]:
    ends = np.cumsum(cnts)
    starts = ends - cnts
    fg = (np.arange(cnts.size) % 2 == 1) & (cnts > 0)
    if not fg.any() or h == 0:
        return [0, 0, 0, 0]
    a = starts[fg]
    b = ends[fg] - 1  # inclusive last pixel of each foreground run
    col_a, row_a = a // h, a % h
    col_b, row_b = b // h, b % h
    multi = col_a != col_b  # a run crossing a column covers every row
    y0 = int(np.where(multi, 0, row_a).min())
    y1 = int(np.where(multi, h - 1, row_b).max())
    x0 = int(col_a.min())
    x1 = int(col_b.max())
    return [x0, y0, x1 - x0 + 1, y1 - y0 + 1]


def bbox(rle: dict) -> list[int]:
    """``[x, y, w, h]`` tight box of the foreground (all zeros for an empty mask), without decoding."""
    h, w, cnts = _size_counts(rle)
    return _bbox_from_counts(h, w, cnts)


def mask_bbox(mask: np.ndarray) -> list[int]:
    """``[x, y, w, h]`` tight box of a bool mask (zeros when empty)."""
    mask = np.asarray(mask, dtype=bool)
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return [0, 0, 0, 0]
    cols = np.flatnonzero(mask.any(axis=0))
    return [int(cols[0]), int(rows[0]), int(cols[-1] - cols[0] + 1), int(rows[-1] - rows[0] + 1)]
