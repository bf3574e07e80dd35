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
    rows = torch.arange(height, device=clicks.device, dtype=torch.float32).view(1, 1, height, 1)
    cols = torch.arange(width, device=clicks.device, dtype=torch.float32).view(1, 1, 1, width)
    r = clicks[..., 0].view(n, k, 1, 1)
    c = clicks[..., 1].view(n, k, 1, 1)
    inside = ((rows - r) ** 2 + (cols - c) ** 2) <= radius * radius  # N x K x H x W
    sign = clicks[..., 2].view(n, k, 1, 1)
    out[:, 0] = (inside & (sign > 0)).any(1).float()
    out[:, 1] = (inside & (sign < 0)).any(1).float()
    return out


def clicks_tensor(clicks: Sequence[tuple[float, float, bool]], device=None) -> torch.Tensor:
    """[(row, col, positive), ...] -> 1 x K x 3 tensor for :func:`disk_maps`."""
    data = [(float(r), float(c), 1.0 if p else -1.0) for r, c, p in clicks]
    t = torch.tensor(data, dtype=torch.float32, device=device).view(1, len(data), 3)
    return t
