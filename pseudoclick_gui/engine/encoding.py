"""Click encoding: clicks -> binary disk maps (RITM: radius 5 px, one channel per sign).

Clicks are given as a float tensor ``N x K x 3`` of ``(row, col, sign)`` with sign +1 (positive),
-1 (negative) or 0 (padding, ignored). The maps are ``N x 2 x H x W`` float32: channel 0 positive,
channel 1 negative; a pixel is 1 when its centre is within ``radius`` of any click of that sign.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

DISK_RADIUS = 5.0


def disk_maps(clicks: torch.Tensor, height: int, width: int, radius: float = DISK_RADIUS) -> torch.Tensor:
    n, k, _ = clicks.shape
    out = torch.zeros(n, 2, height, width, dtype=torch.float32, device=clicks.device)
    if k == 0:
        return out
    r2 = radius * radius
    pad = int(radius) + 1
    for i, j in (clicks[..., 2] != 0).nonzero().tolist():  # only real clicks: a small window each
        row, col, sign = clicks[i, j].tolist()
        y0, y1 = max(0, int(row) - pad), min(height, int(row) + pad + 1)
        x0, x1 = max(0, int(col) - pad), min(width, int(col) + pad + 1)
        if y0 >= y1 or x0 >= x1:
            continue
        ys = torch.arange(y0, y1, dtype=torch.float32, device=clicks.device).view(-1, 1)
        xs = torch.arange(x0, x1, dtype=torch.float32, device=clicks.device).view(1, -1)
        disk = ((ys - row) ** 2 + (xs - col) ** 2) <= r2
        ch = 0 if sign > 0 else 1
        window = out[i, ch, y0:y1, x0:x1]
        window[disk] = 1.0
    return out


def clicks_tensor(clicks: Sequence[tuple[float, float, bool]], device=None) -> torch.Tensor:
    """[(row, col, positive), ...] -> 1 x K x 3 tensor for :func:`disk_maps`."""
    data = [(float(r), float(c), 1.0 if p else -1.0) for r, c, p in clicks]
    t = torch.tensor(data, dtype=torch.float32, device=device).view(1, len(data), 3)
    return t
