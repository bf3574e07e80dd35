"""Training data: dataset folders in the shared layout -> random object-centred or scene crops with simulated
clicks (RITM's multi-point sampler), as an infinite iterable stream.

A folder holds ``images/``, ``masks/<id>[_<k>].png`` (0/255, one object each) and an index CSV with at
least the columns ``image`` and ``mask`` (paths relative to the folder). Nothing is copied: files are read
where they are.

Spec strings (CLI ``--data``): ``PATH[:WEIGHT][:FILTER]`` where FILTER is ``column=v1|v2`` (keep rows whose
column is one of the values) and/or ``min_area=N``, joined with ``,``. Example:
``../shared/data/camvid_train:0.5:class=car|pedestrian|bicyclist|signsymbol|pole,min_area=400``.
``parts=whole`` (for sets whose CSV has a ``level`` column, as CCP's): a ``level=part`` row stands for the
``level=object`` mask of the same image that holds it (a garment for its person): the clicks start inside the
part, the target is the whole.
"""

from __future__ import annotations

import csv
import math
import random
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from .synthetic import tissue_sample

MAX_CLICKS = 24


@dataclass
class DatasetSpec:
    root: Path
    weight: float = 1.0
    filters: dict[str, set[str]] = field(default_factory=dict)
    min_area: int = 80
    parts_to_whole: bool = False  # "parts=whole": a part's target is the object that holds it

    @classmethod
    def parse(cls, text: str) -> DatasetSpec:
        parts = text.split(":")
        spec = cls(Path(parts[0]))
        if len(parts) > 1 and parts[1]:
            spec.weight = float(parts[1])
        if len(parts) > 2 and parts[2]:
            for item in parts[2].split(","):
                key, _, value = item.partition("=")
                if key == "min_area":
                    spec.min_area = int(value)
                elif key == "parts":
                    if value != "whole":
                        raise ValueError(f"parts={value!r}: the only choice is parts=whole")
                    spec.parts_to_whole = True
                else:
                    spec.filters[key] = set(value.split("|"))
        return spec


@dataclass
class Instance:
    image: Path
    mask: Path
    siblings: list[Path]
    wholes: list[Path] = field(default_factory=list)  # parts=whole: the object masks that may hold this part


def _index_csv(root: Path) -> Path:
    for name in ("instances.csv", "index.csv"):
        if (root / name).is_file():
            return root / name
    found = sorted(root.glob("*.csv"))
    if not found:
        raise FileNotFoundError(f"{root}: no index CSV")
    return found[0]


def read_instances(spec: DatasetSpec) -> list[Instance]:
    """All instances of one folder that pass the spec's filters."""
    rows = list(csv.DictReader(open(_index_csv(spec.root), newline="")))
    by_image: dict[str, list[str]] = {}
    objects: dict[str, list[str]] = {}
    keep = []
    for row in rows:
        by_image.setdefault(row["image"], []).append(row["mask"])
        if row.get("level") == "object":
            objects.setdefault(row["image"], []).append(row["mask"])
        if any(row.get(col) not in values for col, values in spec.filters.items()):
            continue
        area_cols = [k for k in row if k.endswith("area_px") and "ignore" not in k]
        if area_cols and row[area_cols[0]] and float(row[area_cols[0]]) < spec.min_area:
            continue
        keep.append(row)
    out = []
    for row in keep:
        sibs = [spec.root / m for m in by_image[row["image"]] if m != row["mask"]]
        wholes = []
        if spec.parts_to_whole and row.get("level") == "part":
            wholes = [spec.root / m for m in objects.get(row["image"], [])]
            if not wholes:
                continue
        out.append(Instance(spec.root / row["image"], spec.root / row["mask"], sibs, wholes))
    return out


def read_mask(path: Path) -> np.ndarray:
    m = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if m is None:
        raise OSError(f"cannot read mask {path}")
    return m > 127


def read_rgb(path: Path) -> np.ndarray:
    im = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if im is None:
        raise OSError(f"cannot read image {path}")
    return cv2.cvtColor(im, cv2.COLOR_BGR2RGB)


# ----------------------------------------------------------------------------------------------- geometry
def warp(image: np.ndarray, masks: list[np.ndarray], matrix: np.ndarray, size: int):
    """Apply one affine map (image -> crop) to the image, the masks (bilinear on floats, then > 0.5: no
    half-pixel shift between image and mask) and a validity map (False where the crop leaves the image)."""
    img = cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    out_masks = [
        cv2.warpAffine(m.astype(np.float32), matrix, (size, size), flags=cv2.INTER_LINEAR) > 0.5 for m in masks
    ]
    ones = np.ones(image.shape[:2], np.float32)
    valid = cv2.warpAffine(ones, matrix, (size, size), flags=cv2.INTER_LINEAR) > 0.5
    return img, out_masks, valid


def crop_matrix(cx: float, cy: float, side: float, size: int, flip: bool) -> np.ndarray:
    """Affine map taking the square of ``side`` px centred at (cx, cy) to a ``size`` x ``size`` crop."""
    s = size / side
    m = np.array([[s, 0.0, size / 2 - s * cx], [0.0, s, size / 2 - s * cy]], np.float64)
    if flip:
        m = np.array([[-1.0, 0.0, size - 1.0], [0.0, 1.0, 0.0]]) @ np.vstack([m, [0, 0, 1]])
    return m


# ----------------------------------------------------------------------------------------------- clicks
def _geometric(rng: random.Random, gamma: float, lo: int, hi: int) -> int:
    weights = [gamma**k for k in range(hi - lo + 1)]
    return lo + rng.choices(range(hi - lo + 1), weights)[0]


def _pick(rng: np.random.Generator, region: np.ndarray, n: int) -> list[tuple[int, int]]:
    idx = np.flatnonzero(region)
    if idx.size == 0 or n <= 0:
        return []
    chosen = rng.choice(idx, size=min(n, idx.size), replace=False)
    w = region.shape[1]
    return [(int(i // w), int(i % w)) for i in chosen]


def sample_clicks(
    mask: np.ndarray,
    others: list[np.ndarray],
    valid: np.ndarray,
    rng: np.random.Generator,
    prng: random.Random,
    max_pos: int = 12,
    max_neg: int = 12,
    pos_mask: np.ndarray | None = None,
) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """RITM-style random clicks: 1 + k positives (P(k) ~ 0.8^k) in the (usually eroded) object, or in
    ``pos_mask`` when given (a part of the object); 0..max_neg negatives from three strategies: background
    (0.1), other objects (0.4), a band around the object (0.5)."""
    inner = mask if pos_mask is None else pos_mask
    pos_region = inner
    if prng.random() < 0.9:
        eroded = cv2.erode(inner.astype(np.uint8), np.ones((3, 3), np.uint8), iterations=3).astype(bool)
        if eroded.any():
            pos_region = eroded
    n_pos = _geometric(prng, 0.8, 1, max_pos)
    pos: list[tuple[int, int]] = []
    if prng.random() < 0.5:
        dist = cv2.distanceTransform(np.pad(inner.astype(np.uint8), 1), cv2.DIST_L2, 5)[1:-1, 1:-1]
        pos.append(divmod(int(np.argmax(dist)), mask.shape[1]))
        n_pos -= 1
    pos += _pick(rng, pos_region, n_pos)

    n_neg = _geometric(prng, 0.8, 0, max_neg)
    bg = valid & ~mask
    area = int(mask.sum())
    width = max(1, math.ceil(0.1 * math.sqrt(max(area, 1))))
    dil = cv2.dilate(mask.astype(np.uint8), np.ones((3, 3), np.uint8), iterations=width).astype(bool)
    band = dil & ~mask & valid
    other = np.zeros_like(mask)
    for o in others:
        other |= o
    other &= bg
    neg: list[tuple[int, int]] = []
    for _ in range(n_neg):
        u = prng.random()
        region = band if u < 0.5 else (other if u < 0.9 else bg)
        if not region.any():
            region = band if band.any() else bg
        neg += _pick(rng, region, 1)
    return pos, neg


def _blend(fg: np.ndarray, bg: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``fg`` where ``mask`` is, ``bg`` elsewhere, with a soft 1-px edge (copy-paste)."""
    alpha = cv2.GaussianBlur(mask.astype(np.float32), (3, 3), 0)[..., None]
    return (fg.astype(np.float32) * alpha + bg.astype(np.float32) * (1 - alpha)).astype(np.uint8)


# ----------------------------------------------------------------------------------------------- stream
@dataclass
class CropConfig:
    size: int = 256
    zoom_prob: float = 0.6  # object-centred crop (matches inference zoom-in) vs. a scene crop
    grey_prob: float = 0.15
    paste_prob: float = 0.2  # copy-paste: the object onto a crop of another training image
    nest_prob: float = 0.0  # nested paste: the object, shrunk, inside another training object (a distractor)
    synth_prob: float = 0.0  # a synthetic grey tissue crop (cells, or a lesion in an organ) instead of a real one
    max_pos: int = 12
    max_neg: int = 12


class ClickSegStream(IterableDataset):
    """Infinite stream of training batches (use ``DataLoader(stream, batch_size=None, num_workers=W)``).

    Each batch is a dict of tensors: image uint8 B x 3 x S x S, gt float32 B x 1 x S x S (1 object,
    0 background, -1 ignore), clicks float32 B x MAX_CLICKS x 3 (row, col, sign; sign 0 = padding).
    Batch ``j`` is drawn from random generators seeded by ``(seed, rank, start_batch + j)`` and worker ``w``
    makes batches ``w, w + W, ...``, which the DataLoader returns in order: the stream is a pure function of
    the batch index, so a run resumed at step ``n`` (``start_batch = n``) sees exactly the batches an
    uninterrupted run would have seen.
    """

    def __init__(self, specs: list[DatasetSpec], crop: CropConfig, batch_size: int = 8, seed: int = 0,
                 rank: int = 0, start_batch: int = 0):
        self.crop = crop
        self.batch_size = batch_size
        self.seed = seed
        self.rank = rank
        self.start_batch = start_batch
        self.groups = []
        for spec in specs:
            inst = read_instances(spec)
            if inst:
                self.groups.append((spec.weight, inst))
        if not self.groups:
            raise ValueError("no training instances found")

    def __len__(self) -> int:  # number of instances (informative only)
        return sum(len(g) for _, g in self.groups)

    def batch(self, index: int) -> dict[str, torch.Tensor]:
        key = [self.seed, self.rank, index]
        rng = np.random.default_rng(key)
        prng = random.Random(int(rng.integers(2**62)))
        weights = [w for w, _ in self.groups]
        samples = []
        while len(samples) < self.batch_size:
            if self.crop.synth_prob and prng.random() < self.crop.synth_prob:
                sample = self.synthetic_sample(rng, prng)
                if sample is not None:
                    samples.append(sample)
                continue
            _, group = prng.choices(self.groups, weights)[0]
            inst = prng.choice(group)
            try:
                sample = self.make_sample(inst, rng, prng)
            except (OSError, ValueError):
                continue
            if sample is not None:
                samples.append(sample)
        return {k: torch.stack([s[k] for s in samples]) for k in samples[0]}

    def __iter__(self):
        info = get_worker_info()
        wid, nw = (info.id, info.num_workers) if info else (0, 1)
        j = wid
        while True:
            yield self.batch(self.start_batch + j)
            j += nw

    def make_sample(self, inst: Instance, rng: np.random.Generator, prng: random.Random):
        cfg = self.crop
        image = read_rgb(inst.image)
        mask = read_mask(inst.mask)
        if mask.shape != image.shape[:2]:
            return None
        others = [read_mask(p) for p in prng.sample(inst.siblings, min(3, len(inst.siblings)))]
        others = [o for o in others if o.shape == mask.shape]
        part = None
        if inst.wholes:  # parts=whole: the clicks start in the part, the target is the object that holds it
            part, mask = mask, self._holder(mask, inst.wholes)
            if mask is None:
                return None
        ys, xs = np.nonzero(mask)
        if ys.size < 20:
            return None
        x0, x1, y0, y1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
        h, w = mask.shape
        flip = prng.random() < 0.5
        size = cfg.size
        if prng.random() < cfg.zoom_prob:
            side = max(x1 - x0, y1 - y0) * prng.uniform(1.15, 2.0)
            side = max(side, 24.0)
            cx = (x0 + x1) / 2 + prng.uniform(-0.15, 0.15) * side
            cy = (y0 + y1) / 2 + prng.uniform(-0.15, 0.15) * side
        else:
            side = max(h, w) / prng.uniform(0.8, 2.0)
            # any window that contains the object's centre
            ocx, ocy = (x0 + x1) / 2, (y0 + y1) / 2
            cx = ocx + prng.uniform(-0.4, 0.4) * side
            cy = ocy + prng.uniform(-0.4, 0.4) * side
        m = crop_matrix(cx, cy, side, size, flip)
        img, warped, valid = warp(image, [mask, *([] if part is None else [part]), *others], m, size)
        tmask, rest = warped[0], warped[1:]
        tpart, tothers = (rest[0], rest[1:]) if part is not None else (None, rest)
        if tmask.sum() < 60 or (tpart is not None and tpart.sum() < 20):
            return None
        draw = prng.random()
        if draw < cfg.nest_prob:
            nested = self.paste_inside_other_object(img, tmask, prng)
            if nested is None:
                return None
            img, tmask, tothers, valid = nested
            tpart = None  # the pasted object is shrunk and moved: its clicks go anywhere in it
        elif draw < cfg.nest_prob + cfg.paste_prob:
            img, tothers, valid = self.paste_on_other_background(img, tmask, prng)
        return self.pack(self.color(img, prng), tmask, tothers, valid, rng, prng, tpart)

    @staticmethod
    def _holder(part: np.ndarray, wholes: list[Path], min_share: float = 0.7) -> np.ndarray | None:
        """Of the object masks ``wholes``, the one that holds most of ``part`` (at least ``min_share`` of it;
        None when none does)."""
        best, best_share = None, min_share
        area = max(1, int(part.sum()))
        for path in wholes:
            whole = read_mask(path)
            if whole.shape != part.shape:
                continue
            share = int((whole & part).sum()) / area
            if share >= best_share:
                best, best_share = whole | part, share
        return best

    def synthetic_sample(self, rng: np.random.Generator, prng: random.Random):
        """A synthetic grey tissue crop (``synthetic.py``: cells, or a lesion inside an organ), or None."""
        drawn = tissue_sample(self.crop.size, rng, prng)
        if drawn is None:
            return None
        img, tmask, tothers = drawn
        if prng.random() < 0.5:
            img, tmask, tothers = img[:, ::-1], tmask[:, ::-1], [o[:, ::-1] for o in tothers]
        return self.pack(self.color(np.ascontiguousarray(img), prng), np.ascontiguousarray(tmask),
                         [np.ascontiguousarray(o) for o in tothers], np.ones_like(tmask, dtype=bool), rng, prng)

    def pack(self, img: np.ndarray, tmask: np.ndarray, tothers: list[np.ndarray], valid: np.ndarray,
             rng: np.random.Generator, prng: random.Random, part: np.ndarray | None = None) -> dict[str, torch.Tensor]:
        """Simulated clicks for one crop (positives inside ``part`` when given), and the crop as tensors."""
        cfg = self.crop
        pos, neg = sample_clicks(tmask, tothers, valid, rng, prng, cfg.max_pos, cfg.max_neg, pos_mask=part)
        clicks = np.zeros((MAX_CLICKS, 3), np.float32)
        for i, (r, c) in enumerate(pos[: MAX_CLICKS // 2]):
            clicks[i] = (r, c, 1)
        for i, (r, c) in enumerate(neg[: MAX_CLICKS // 2]):
            clicks[MAX_CLICKS // 2 + i] = (r, c, -1)
        gt = np.where(valid, tmask.astype(np.float32), -1.0)[None]
        return {
            "image": torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1))),
            "gt": torch.from_numpy(gt),
            "clicks": torch.from_numpy(clicks),
        }

    def paste_on_other_background(self, img: np.ndarray, tmask: np.ndarray, prng: random.Random):
        """Copy-paste augmentation: keep the object's pixels, replace everything else by a random square crop
        of another training image (soft 1-px edge). The whole crop is then valid and no sibling is visible."""
        _, group = prng.choices(self.groups, [w for w, _ in self.groups])[0]
        other = read_rgb(prng.choice(group).image)
        h, w = other.shape[:2]
        side = int(min(h, w) * prng.uniform(0.5, 1.0))
        y0, x0 = prng.randint(0, h - side), prng.randint(0, w - side)
        size = img.shape[0]
        bg = cv2.resize(other[y0 : y0 + side, x0 : x0 + side], (size, size), interpolation=cv2.INTER_AREA)
        return _blend(img, bg, tmask), [], np.ones_like(tmask)

    def paste_inside_other_object(self, img: np.ndarray, tmask: np.ndarray, prng: random.Random):
        """Nested copy-paste: shrink the object to 12-40 % of the crop and paste it inside another training
        object (the host) that fills much of a crop of its own image. The host, minus the pasted object, is a
        distractor for the negative clicks. What it teaches: a click inside a small thing means the small
        thing, not the larger region that holds it (a tumour inside the brain, a cell inside the tissue).
        Returns (image, object mask, [host], valid) or None when no host fits."""
        size = img.shape[0]
        _, group = prng.choices(self.groups, [w for w, _ in self.groups])[0]
        host = prng.choice(group)
        himg, hmask = read_rgb(host.image), read_mask(host.mask)
        ys, xs = np.nonzero(hmask)
        if hmask.shape != himg.shape[:2] or ys.size < 400:
            return None
        side = max(xs.max() - xs.min(), ys.max() - ys.min()) * prng.uniform(1.05, 1.4)
        m = crop_matrix((xs.min() + xs.max()) / 2, (ys.min() + ys.max()) / 2, side, size, prng.random() < 0.5)
        bg, (hm,), valid = warp(himg, [hmask], m, size)
        ys, xs = np.nonzero(tmask)
        y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
        scale = size * prng.uniform(0.12, 0.4) / max(y1 - y0, x1 - x0)
        ph, pw = max(4, round((y1 - y0) * scale)), max(4, round((x1 - x0) * scale))
        patch = cv2.resize(img[y0:y1, x0:x1], (pw, ph), interpolation=cv2.INTER_AREA)
        pmask = cv2.resize(tmask[y0:y1, x0:x1].astype(np.float32), (pw, ph), interpolation=cv2.INTER_LINEAR) > 0.5
        if pmask.sum() < 30 or hm.sum() < 4 * pmask.sum():
            return None
        hy, hx = np.nonzero(hm)
        for _ in range(10):  # a place where the pasted object lies (mostly) inside the host
            i = prng.randrange(hy.size)
            top, left = int(hy[i]) - ph // 2, int(hx[i]) - pw // 2
            if top < 0 or left < 0 or top + ph > size or left + pw > size:
                continue
            if hm[top : top + ph, left : left + pw][pmask].mean() >= 0.8:
                break
        else:
            return None
        obj = np.zeros((size, size), bool)
        obj[top : top + ph, left : left + pw] = pmask
        full = np.zeros_like(bg)
        full[top : top + ph, left : left + pw] = patch
        return _blend(full, bg, obj), obj, [hm & ~obj], valid

    def color(self, img: np.ndarray, prng: random.Random) -> np.ndarray:
        """RITM photometric augmentation (brightness, contrast, RGB shift) + grey conversion."""
        f = img.astype(np.float32)
        if prng.random() < self.crop.grey_prob:
            g = f @ np.array([0.299, 0.587, 0.114], np.float32)
            f = np.repeat(g[..., None], 3, axis=2)
        if prng.random() < 0.8:
            alpha = 1.0 + prng.uniform(-0.15, 0.4)
            beta = prng.uniform(-0.25, 0.25) * 255
            f = (f - 128.0) * alpha + 128.0 + beta
        if prng.random() < 0.5:
            f = f + np.array([prng.uniform(-10, 10) for _ in range(3)], np.float32)
        return np.clip(f, 0, 255).astype(np.uint8)
