"""Clicks added during iterative training, from the model's own mistakes (no gradients)."""

from __future__ import annotations

import cv2
import numpy as np
import torch

from ..engine.pseudo import true_error_click
from ..engine.rule import ProposalRule, rule_click


def _dist(region: np.ndarray) -> np.ndarray:
    return cv2.distanceTransform(np.pad(region.astype(np.uint8), 1), cv2.DIST_L2, 5)[1:-1, 1:-1]


def error_click(gt: np.ndarray, pred: np.ndarray, rng: np.random.Generator) -> tuple[int, int, float] | None:
    """RITM iterative-training click: in the error type (FN/FP) with the larger interior distance, a random
    pixel whose distance to the region boundary exceeds half the maximum. gt: H x W in {1, 0, -1 ignore}.
    Returns (row, col, sign) or None when there is no error."""
    valid = gt >= 0
    fn = valid & (gt > 0.5) & ~pred
    fp = valid & (gt < 0.5) & pred
    dfn, dfp = _dist(fn), _dist(fp)
    mfn, mfp = float(dfn.max()), float(dfp.max())
    if max(mfn, mfp) <= 0:
        return None
    positive = mfn > mfp
    d, m = (dfn, mfn) if positive else (dfp, mfp)
    idx = np.flatnonzero(d > m / 2)
    if idx.size == 0:
        idx = np.flatnonzero(d >= m)
    i = int(rng.choice(idx))
    return i // gt.shape[1], i % gt.shape[1], 1.0 if positive else -1.0


def add_error_clicks(clicks: torch.Tensor, gt: torch.Tensor, prob: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """Append one error click per sample. clicks N x K x 3 -> N x (K+1) x 3 (sign 0 where none)."""
    n = clicks.shape[0]
    new = torch.zeros(n, 1, 3)
    g = gt[:, 0].numpy()
    p = (prob[:, 0] > 0.5).numpy()
    for i in range(n):
        c = error_click(g[i], p[i], rng)
        if c is not None:
            new[i, 0] = torch.tensor(c)
    return torch.cat([clicks, new], 1)


def own_pseudo_clicks(seg_prob: torch.Tensor, err_prob: torch.Tensor, clicks: torch.Tensor,
                      rule: ProposalRule) -> torch.Tensor:
    """Pseudo click per sample from the model's own output -> N x 1 x 3 (row, col, sign; zeros for none), by
    the same rule as ``Session.propose_pseudo_click`` (``engine.rule.rule_click``): ``seg_prob`` N x 1 x H x W,
    ``err_prob`` N x 2 x H x W (FP then FN), ``clicks`` N x K x 3 (row, col, sign) whose positive ones hold
    mask parts. No region under 20 px; no "same object?" trial pass."""
    n = err_prob.shape[0]
    out = torch.zeros(n, 1, 3)
    maps = torch.cat([seg_prob, err_prob], 1).permute(0, 2, 3, 1).numpy()
    for i in range(n):
        positives = [(float(r), float(col)) for r, col, sign in clicks[i].tolist() if sign > 0]
        c = rule_click(rule, maps[i], positives, 20)
        if c is not None:
            out[i, 0] = torch.tensor([c.row, c.col, 1.0 if c.positive else -1.0])
    return out


def oracle_pseudo_clicks(gt: torch.Tensor, prob: torch.Tensor) -> torch.Tensor:
    """The click the same rule would propose from the TRUE error maps (a perfect error head) -> N x 1 x 3."""
    n = gt.shape[0]
    out = torch.zeros(n, 1, 3)
    g = gt[:, 0].numpy()
    p = prob[:, 0].numpy() >= 0.5
    for i in range(n):
        c = true_error_click(p[i], g[i] > 0.5, g[i] >= 0)
        if c is not None:
            out[i, 0] = torch.tensor([c.row, c.col, 1.0 if c.positive else -1.0])
    return out
