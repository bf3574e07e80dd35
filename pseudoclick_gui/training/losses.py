"""Normalized focal loss (RITM) and the error heads' loss, with ignore pixels (target < 0)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def normalized_focal_loss(logits: torch.Tensor, target: torch.Tensor, alpha: float = 0.5, gamma: float = 2.0,
                          eps: float = 1e-8) -> torch.Tensor:
    """logits, target: N x 1 x H x W; target 1 / 0, or -1 to ignore. Returns the mean over the batch.

    pt = 1 - |y - p|; beta = (1 - pt)^gamma renormalised per sample so that sum(beta) = number of valid
    pixels (the factor is detached); loss = -alpha_t * beta * log(pt), averaged over valid pixels."""
    valid = (target >= 0).float()
    y = target.clamp(min=0)
    p = torch.sigmoid(logits)
    pt = torch.where(y > 0.5, p, 1 - p)
    alpha_t = torch.where(y > 0.5, alpha, 1 - alpha) * valid
    beta = (1 - pt) ** gamma * valid
    dims = tuple(range(1, logits.dim()))
    n_valid = valid.sum(dims, keepdim=True)
    norm = (n_valid / (beta.sum(dims, keepdim=True) + eps)).detach()
    loss = -alpha_t * beta * norm * torch.log(pt.clamp(min=eps))
    per_sample = loss.sum(dims) / (n_valid.view(-1) + eps)
    return per_sample.mean()


def error_loss(logits: torch.Tensor, target: torch.Tensor, kind: str) -> torch.Tensor:
    """Loss of one error map (target 1/0, -1 ignored): NFL, or BCE averaged over valid pixels per sample."""
    if kind == "nfl":
        return normalized_focal_loss(logits, target)
    valid = (target >= 0).float()
    bce = F.binary_cross_entropy_with_logits(logits, target.clamp(min=0), reduction="none") * valid
    dims = tuple(range(1, logits.dim()))
    return (bce.sum(dims) / valid.sum(dims).clamp(min=1)).mean()
