"""Synthetic grey "tissue" crops for training: the kind of structure the product's medical users annotate and
the natural-image training sets never show.

* ``cells``: a tessellation of cells (Voronoi regions of jittered seeds) separated by thin membranes, darker
  or brighter than the textured cell bodies, with small dark or bright organelles. The target is one
  cell; its neighbours are the distractors. What it teaches: the object ends at a thin line, not at the next
  strong colour edge (cells in electron microscopy and histology).
* ``lesion``: a large textured organ-like region on a dark background, holding one to three smooth blobs of
  another intensity (sometimes barely different). The target is one blob; the organ and the other blobs are
  the distractors. What it teaches: a click in a small inner region means that region, not the salient
  region that holds it (a tumour inside the brain).

Everything is drawn from the generators it is given, so a batch stays a pure function of its index.
"""

from __future__ import annotations

import random

import cv2
import numpy as np

KINDS = ("cells", "lesion")


def _texture(rng: np.random.Generator, size: int, scale: float) -> np.ndarray:
    """Zero-mean smooth noise with unit standard deviation; ``scale`` is its blur sigma in pixels."""
    n = rng.standard_normal((size, size)).astype(np.float32)
    n = cv2.GaussianBlur(n, (0, 0), scale)
    return (n - n.mean()) / (n.std() + 1e-6)


def _blob(rng: np.random.Generator, size: int, cy: float, cx: float, radius: float) -> np.ndarray:
    """A smooth random shape of about ``radius`` px around (cy, cx): a disk whose boundary is perturbed by noise."""
    yy, xx = np.mgrid[:size, :size].astype(np.float32)
    d = np.sqrt((yy - cy) ** 2 + (xx - cx) ** 2) / max(radius, 1.0)
    wobble = _texture(rng, size, max(2.0, radius / 2)) * rng.uniform(0.1, 0.3)
    return (d + wobble) < 1.0


def _finish(img: np.ndarray, rng: np.random.Generator, prng: random.Random) -> np.ndarray:
    """Optical blur, sensor noise, to uint8 RGB (grey replicated; sometimes a faint stain tint)."""
    if prng.random() < 0.6:
        img = cv2.GaussianBlur(img, (0, 0), prng.uniform(0.5, 1.5))
    img = img + rng.standard_normal(img.shape).astype(np.float32) * prng.uniform(2, 12)
    rgb = np.repeat(img[..., None], 3, axis=2)
    if prng.random() < 0.2:
        rgb = rgb * np.array([prng.uniform(0.85, 1.15) for _ in range(3)], np.float32)
    return np.clip(rgb, 0, 255).astype(np.uint8)


def cells(size: int, rng: np.random.Generator, prng: random.Random):
    """(image uint8 S x S x 3, target mask, [neighbour masks]) or None when the drawn target is unusable."""
    n = prng.randint(6, 40)
    # jittered grid of seeds: cells of similar size, like tissue
    k = int(np.ceil(np.sqrt(n)))
    step = size / k
    gy, gx = np.mgrid[:k, :k].reshape(2, -1).astype(np.float32)
    seeds = np.stack([(gy + 0.5) * step, (gx + 0.5) * step], 1)
    seeds += rng.uniform(-0.4, 0.4, seeds.shape).astype(np.float32) * step
    # warp the plane a little so that cell walls bend
    yy, xx = np.mgrid[:size, :size].astype(np.float32)
    amp = step * prng.uniform(0.0, 0.35)
    wy = yy + _texture(rng, size, step / 2) * amp
    wx = xx + _texture(rng, size, step / 2) * amp
    d = (wy[..., None] - seeds[:, 0]) ** 2 + (wx[..., None] - seeds[:, 1]) ** 2
    labels = np.argmin(d, axis=2).astype(np.int32)
    edge = np.zeros((size, size), bool)
    edge[:, 1:] |= labels[:, 1:] != labels[:, :-1]
    edge[1:, :] |= labels[1:, :] != labels[:-1, :]
    width = prng.randint(1, 4)
    membrane = cv2.dilate(edge.astype(np.uint8), np.ones((3, 3), np.uint8), iterations=width - 1).astype(bool) if width > 1 else edge
    body = prng.uniform(110, 200)
    img = body + _texture(rng, size, prng.uniform(1.0, 4.0)) * prng.uniform(5, 25)
    img += (rng.uniform(-1, 1, len(seeds)) * prng.uniform(0, 25)).astype(np.float32)[labels]  # cell-to-cell shade
    dark = prng.random() < 0.85  # membranes are usually dark (EM, stained walls)
    contrast = prng.uniform(40, 110)
    img[membrane] += -contrast if dark else contrast
    # organelles: small dark or bright blobs inside cells, distractors for the first click
    for _ in range(prng.randint(0, 2 * len(seeds))):
        cy, cx = prng.uniform(0, size), prng.uniform(0, size)
        r = step * prng.uniform(0.06, 0.2)
        cv2.circle(img, (int(cx), int(cy)), max(1, int(r)), float(body + prng.choice([-1, 1]) * prng.uniform(30, 80)), -1)
    cells_in = [i for i in range(len(seeds)) if 0.15 * size < seeds[i, 0] < 0.85 * size and 0.15 * size < seeds[i, 1] < 0.85 * size]
    if not cells_in:
        return None
    t = prng.choice(cells_in)
    target = (labels == t) & ~membrane
    if target.sum() < 60:
        return None
    dil = cv2.dilate(target.astype(np.uint8), np.ones((3, 3), np.uint8), iterations=2 * width + 1).astype(bool)
    neighbours = [(labels == j) & ~membrane for j in np.unique(labels[dil & ~target & ~membrane]) if j != t]
    return _finish(img, rng, prng), target, neighbours[:3]


def lesion(size: int, rng: np.random.Generator, prng: random.Random):
    """(image, target blob, [organ minus blobs, other blobs]) or None."""
    organ = _blob(rng, size, size / 2 + prng.uniform(-0.1, 0.1) * size, size / 2 + prng.uniform(-0.1, 0.1) * size,
                  size * prng.uniform(0.35, 0.6))
    tissue = prng.uniform(70, 150)
    img = np.full((size, size), prng.uniform(0, 25), np.float32)
    tex = tissue + _texture(rng, size, prng.uniform(1.0, 3.0)) * prng.uniform(4, 18)
    tex += _texture(rng, size, size / 8) * prng.uniform(0, 20)  # slow shading (bias field)
    img[organ] = tex[organ]
    oy, ox = np.nonzero(organ)
    if oy.size < 400:
        return None
    blobs = []
    for _ in range(prng.randint(1, 3)):
        i = prng.randrange(oy.size)
        b = _blob(rng, size, float(oy[i]), float(ox[i]), size * prng.uniform(0.05, 0.18)) & organ
        for other in blobs:
            b &= ~other
        if b.sum() >= 60:
            blobs.append(b)
    if not blobs:
        return None
    for b in blobs:
        sign = 1 if prng.random() < 0.7 else -1  # mostly brighter, as in FLAIR
        delta = prng.uniform(15, 90)
        inner = tissue + sign * delta + _texture(rng, size, prng.uniform(1.0, 3.0)) * prng.uniform(4, 18)
        soft = cv2.GaussianBlur(b.astype(np.float32), (0, 0), prng.uniform(0.5, 2.0))
        img = img * (1 - soft) + inner * soft
    t = prng.randrange(len(blobs))
    target = blobs[t]
    rest = organ.copy()
    for b in blobs:
        rest &= ~b
    others = [rest] + [b for j, b in enumerate(blobs) if j != t]
    return _finish(img, rng, prng), target, others


def tissue_sample(size: int, rng: np.random.Generator, prng: random.Random, kinds: tuple[str, ...] = KINDS):
    """One synthetic crop: (image, target, distractors), or None (draw again)."""
    kind = prng.choice(kinds)
    return cells(size, rng, prng) if kind == "cells" else lesion(size, rng, prng)
