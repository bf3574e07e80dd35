"""Pseudo clicks: from the network's output to one proposed click (PseudoClick, ECCV 2022, Sec. 3).

Error maps (the paper, ``largest_error_click``): threshold both error maps at 0.5, take the largest connected
error region over both (regions smaller than ``min_area`` px are ignored, as are regions vetoed by
``blocked``), and click at its most interior point (maximum of the distance transform, so the click lies
inside even a concave region). The click is negative when the region comes from the FP map and positive when
it comes from the FN map. Its confidence is the mean error probability inside the region.

Islands (``island_click``): a connected part of the mask that no positive click touches is most likely a false
positive (another object of the same kind, a patch of similar texture); the proposal is a negative click at its
most interior point. ``joins_held`` is the "same object?" trial: does a positive click on the island make the
network join it to the clicked part? Then the island is more likely a piece of the object.

Scored proposals (``proposal_candidates``, ``candidate_features``, ``ProposalScorer``): islands are right on
single objects and wrong on photos of several; error regions the other way round. The scored rule collects
the candidates (two islands, the deepest FP and FN regions, and where the network run on the mirrored image is
sure the object goes on), looks ahead (runs the network with each one accepted), describes each by a few
numbers before and after, and lets a small logistic model per kind of candidate, fitted on robot-user
trajectories over the training sets (``training/proposals.py``), say how likely it is to improve the mask. The
likeliest is proposed when that probability reaches the scorer's threshold; the probability is its confidence.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

SIGNS = ("both", "negative", "positive")  # which error maps may propose
RANKS = ("area", "depth")  # how the winning region is chosen
# the kinds of candidate the scored rule weighs ("view": where the mirrored view is sure the object goes on)
CANDIDATE_SOURCES = ("island", "fp", "fn", "view")
# what ProposalScorer sees of a candidate (candidate_features); areas are fractions of the mask's area, lengths
# fractions of the square root of that area, so the numbers mean the same at any zoom
PROPOSAL_FEATURES = ("area_frac", "depth", "pseg", "pfp", "pfn", "llr", "nh", "mfrac", "dclick", "n_parts",
                     "d_err", "changed", "changed_out", "d_area", "p_after", "err_after_reg", "img_frac", "roi_frac",
                     "gap", "pview")
_LOG_FEATURES = frozenset({"area_frac", "nh", "mfrac", "n_parts", "changed", "changed_out", "depth", "dclick",
                           "img_frac", "roi_frac", "gap"})
_SIGNED_LOG_FEATURES = frozenset({"d_err", "d_area"})


@dataclass(frozen=True)
class ErrorRegionClick:
    row: int
    col: int
    positive: bool
    confidence: float
    area: int


def interior_point(region: np.ndarray) -> tuple[int, int]:
    """(row, col) of the pixel of ``region`` (H x W bool) farthest from its boundary; the image border counts
    as boundary. Ties: first in row-major order."""
    padded = np.pad(region.astype(np.uint8), 1)
    dist = cv2.distanceTransform(padded, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)[1:-1, 1:-1]
    idx = int(np.argmax(dist))
    return divmod(idx, region.shape[1])


def largest_error_click(
    fp: np.ndarray,
    fn: np.ndarray,
    threshold: float = 0.5,
    min_area: int = 20,
    blocked: np.ndarray | None = None,
    rank: str = "area",
    signs: str = "both",
    seg: np.ndarray | None = None,
    min_fraction: float = 0.0,
) -> ErrorRegionClick | None:
    """Propose one click from error probability maps ``fp`` and ``fn`` (H x W float in [0, 1]).

    ``blocked`` (H x W bool, optional): pixels where no click may be proposed (e.g. around withdrawn
    proposals); a region whose interior point falls in it is skipped in favour of the next largest.
    ``rank``: ``"area"`` (the paper: the largest region wins) or ``"depth"`` (the region whose most interior
    point lies deepest wins — thin bands along the object's boundary, where a click is easily wrong, lose
    against compact blobs; this mirrors how the standard robot user chooses). Ties keep the larger area.
    ``signs``: which maps may propose — ``"both"`` (the paper), ``"negative"`` (FP only) or ``"positive"``
    (FN only); a checkpoint whose error head is unreliable for one sign switches that sign off.
    ``min_fraction`` with ``seg`` (the mask's probability on the same grid): regions smaller than this fraction of the mask's area are ignored too (an
    annotator would not spend a click on a sliver).
    Returns None when no region reaches ``min_area``.
    """
    if signs not in SIGNS:
        raise ValueError(f"signs must be one of {SIGNS}, not {signs!r}")
    if rank not in RANKS:
        raise ValueError(f"rank must be one of {RANKS}, not {rank!r}")
    if min_fraction > 0 and seg is not None:
        min_area = max(min_area, int(np.ceil(min_fraction * np.count_nonzero(seg >= 0.5))))
    maps = [(False, fp)] if signs == "negative" else [(True, fn)] if signs == "positive" else [(False, fp), (True, fn)]
    candidates = []
    for positive, prob in maps:
        binary = (prob >= threshold).astype(np.uint8)
        if blocked is not None:
            binary[blocked] = 0
        if not binary.any():
            continue
        n, labels, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
        depth = None
        if rank == "depth":
            dist = cv2.distanceTransform(np.pad(binary, 1), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)[1:-1, 1:-1]
            depth = np.zeros(n, np.float32)
            np.maximum.at(depth, labels.ravel(), dist.ravel())
        for lab in range(1, n):
            area = int(stats[lab, cv2.CC_STAT_AREA])
            if area >= min_area:
                key = (float(depth[lab]), area) if depth is not None else (float(area), area)
                candidates.append((key, positive, lab, labels, prob, tuple(int(v) for v in stats[lab, :4])))
    candidates.sort(key=lambda c: (-c[0][0], -c[0][1]))
    for (_, area), positive, lab, labels, prob, (x, y, w, h) in candidates[:1]:
        sub = labels[y : y + h, x : x + w] == lab  # blocked pixels were removed before labelling
        r, c = interior_point(sub)
        conf = float(prob[y : y + h, x : x + w][sub].mean())
        return ErrorRegionClick(y + r, x + c, positive, conf, area)
    return None


def view_region_click(seg: np.ndarray, view: np.ndarray, threshold: float = 0.3, signs: str = "positive",
                      min_depth: float = 2.0, blocked: np.ndarray | None = None
                      ) -> tuple[ErrorRegionClick, np.ndarray] | None:
    """A click where a second view of the network disagrees with the mask (``seg`` and ``view``: H x W mask
    probabilities on the same grid, ``view`` from the mirrored image), and the connected region (H x W bool) it
    stands for. Positive candidates are pixels outside the mask that the view puts in with probability
    >= 1 - ``threshold``; negative ones are mask pixels it puts out (<= ``threshold``); ``signs`` chooses which.
    The click goes to the most interior point of the candidates, if that lies at least ``min_depth`` grid pixels
    deep; ``blocked`` pixels are never candidates. Confidence: the view's mean agreement over the region."""
    if signs not in SIGNS:
        raise ValueError(f"signs must be one of {SIGNS}, not {signs!r}")
    inside = seg >= 0.5
    best = None
    for positive in (True, False):
        if signs == ("negative" if positive else "positive"):
            continue
        region = ~inside & (view >= 1.0 - threshold) if positive else inside & (view <= threshold)
        if blocked is not None:
            region &= ~blocked
        if not region.any():
            continue
        dist = cv2.distanceTransform(np.pad(region.astype(np.uint8), 1), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)[1:-1, 1:-1]
        idx = int(np.argmax(dist))
        depth = float(dist.flat[idx])
        if best is None or depth > best[0]:
            best = (depth, positive, region, *divmod(idx, region.shape[1]))
    if best is None or best[0] < min_depth:
        return None
    _, positive, region, row, col = best
    _, labels = cv2.connectedComponents(region.astype(np.uint8), connectivity=8)
    part = labels == labels[row, col]
    confidence = float(view[part].mean()) if positive else float(1.0 - view[part].mean())
    return ErrorRegionClick(int(row), int(col), positive, float(confidence), int(np.count_nonzero(part))), part


def island_click(
    seg: np.ndarray,
    positives: list[tuple[float, float]],
    min_area: int = 20,
    blocked: np.ndarray | None = None,
    rank: str = "area",
    min_fraction: float = 0.0,
    touch_radius: float = 2.0,
    confidence: float = 0.5,
) -> ErrorRegionClick | None:
    """A negative click in a connected part of the mask (``seg >= 0.5``, 8-connected) that holds no positive
    click: the part that ranks first (``rank`` as in ``largest_error_click``) among those of at least
    ``min_area`` px and ``min_fraction`` of the mask's area whose interior point is not ``blocked``.

    ``positives``: (row, col) of the positive clicks (human and accepted pseudo ones) on the same grid; a part
    within ``touch_radius`` px of one counts as held. No positive click, or a mask of one part: None.
    ``confidence``: the value the returned click carries (the caller's measured precision of this rule).
    """
    if rank not in RANKS:
        raise ValueError(f"rank must be one of {RANKS}, not {rank!r}")
    mask = (seg >= 0.5).astype(np.uint8)
    if not positives or not mask.any():
        return None
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if n <= 2:
        return None
    held = _held(labels, n, positives, touch_radius)
    held[0] = True  # background
    if held.all():
        return None
    min_area = max(min_area, int(np.ceil(min_fraction * int(mask.sum()))))
    free = ~held & (stats[:, cv2.CC_STAT_AREA] >= min_area)
    if not free.any():
        return None
    region = free[labels]
    if blocked is not None:
        region &= ~blocked
    depth = cv2.distanceTransform(np.pad(region.astype(np.uint8), 1), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)[1:-1, 1:-1]
    best = None
    for lab in np.flatnonzero(free):
        x, y, bw, bh, area = (int(v) for v in stats[lab])
        sub = (labels[y : y + bh, x : x + bw] == lab) & region[y : y + bh, x : x + bw]
        if not sub.any():
            continue
        d = depth[y : y + bh, x : x + bw] * sub
        idx = int(np.argmax(d))
        key = (float(d.flat[idx]), area) if rank == "depth" else (float(area), area)
        if best is None or key > best[0]:
            r, c = divmod(idx, bw)
            best = (key, y + r, x + c, area)
    if best is None:
        return None
    _, r, c, area = best
    return ErrorRegionClick(r, c, False, float(confidence), area)


def joins_held(trial: np.ndarray, seg: np.ndarray, row: int, col: int, positives: list[tuple[float, float]],
               touch_radius: float = 2.0) -> bool:
    """The "same object?" test for an island: ``trial`` is the mask (probabilities) the network predicts with a
    *positive* click added at (``row``, ``col``) inside the island, ``seg`` the current one. True when the
    island (``seg``'s part at that pixel) and the held parts (``seg``'s parts within ``touch_radius`` of a
    positive click) end up in one connected part of ``trial``: the network, told that the island is object,
    makes one object of both, so the island is more likely a piece of the clicked object than background."""
    n, labels = cv2.connectedComponents((seg >= 0.5).astype(np.uint8), connectivity=8)
    island = labels[row, col]
    if island == 0:
        return False
    held = _held(labels, n, positives, touch_radius)
    held[[0, island]] = False
    if not held.any():
        return False
    after = (trial >= 0.5).astype(np.uint8)
    _, joined = cv2.connectedComponents(after, connectivity=8)
    a = set(np.unique(joined[(labels == island) & (after > 0)]).tolist()) - {0}
    b = set(np.unique(joined[held[labels] & (after > 0)]).tolist()) - {0}
    return bool(a & b)


def _held(labels: np.ndarray, n: int, positives: list[tuple[float, float]], touch_radius: float) -> np.ndarray:
    """Per label of ``labels`` (``n`` of them): whether a positive click (row, col) lies within ``touch_radius``
    px of it. Label 0 (background) is included as found."""
    h, w = labels.shape
    held = np.zeros(n, bool)
    rr = int(np.ceil(touch_radius))
    for r, c in positives:
        ri, ci = int(round(r)), int(round(c))
        y0, y1, x0, x1 = max(0, ri - rr), min(h, ri + rr + 1), max(0, ci - rr), min(w, ci + rr + 1)
        if y0 < y1 and x0 < x1:
            held[np.unique(labels[y0:y1, x0:x1])] = True
    return held


def colour_llr(image: np.ndarray, labels: np.ndarray, obj: np.ndarray, background: np.ndarray,
                bits: int = 3) -> np.ndarray:
    """Per label of ``labels``: the mean log-likelihood ratio of its pixels' colours under a colour histogram
    of ``obj`` against one of ``background`` (``2**bits`` bins per channel, add-½ smoothing). Positive: the
    label looks more like the object; negative: more like the background. Grey images work as they are."""
    if image.ndim == 2:
        image = image[..., None]
    q = (np.asarray(image, np.uint8) >> (8 - bits)).astype(np.int64)
    bins = 1 << bits
    code = np.zeros(q.shape[:2], np.int64)
    for ch in range(q.shape[2]):
        code = code * bins + q[..., ch]
    size = bins ** q.shape[2]
    h_obj = np.bincount(code[obj], minlength=size) + 0.5
    h_bg = np.bincount(code[background], minlength=size) + 0.5
    log_ratio = np.log(h_obj / h_obj.sum()) - np.log(h_bg / h_bg.sum())
    n = int(labels.max()) + 1
    count = np.bincount(labels.ravel(), minlength=n)
    total = np.bincount(labels.ravel(), weights=log_ratio[code].ravel(), minlength=n)
    return total / np.maximum(count, 1)


def true_error_click(pred: np.ndarray, obj: np.ndarray, valid: np.ndarray | None = None,
                     min_area: int = 20) -> ErrorRegionClick | None:
    """The click the paper's rule proposes from the TRUE error maps of mask ``pred`` against object ``obj``
    (H x W bool; pixels outside ``valid`` are ignored): what a perfect error head would propose."""
    ok = np.ones_like(pred, bool) if valid is None else valid
    fp = (ok & pred & ~obj).astype(np.float32)
    fn = (ok & ~pred & obj).astype(np.float32)
    return largest_error_click(fp, fn, 0.5, min_area)


@dataclass(frozen=True)
class Candidate:
    """One click the scored rule weighs: ``source`` in CANDIDATE_SOURCES, the click, and the region it
    stands for (H x W bool on the network's grid)."""

    source: str
    click: ErrorRegionClick
    region: np.ndarray


def proposal_candidates(maps: np.ndarray, positives: list[tuple[float, float]], min_area: int = 20,
                        blocked: np.ndarray | None = None, error_threshold: float = 0.3,
                        min_fraction: float = 0.03, islands: int = 2, view: np.ndarray | None = None,
                        view_threshold: float = 0.3, view_min_depth: float = 2.0) -> list[Candidate]:
    """The candidates of the scored rule on one grid (``maps`` H x W x 3: mask, FP, FN probabilities): up to
    ``islands`` islands (deepest first), the deepest FP region and the deepest FN region (``error_threshold``,
    regions of at least ``min_fraction`` of the mask's area), and with ``view`` (a second view's mask
    probability, e.g. the mirrored pass) the positive ``view_click``."""
    seg = maps[..., 0]
    out: list[Candidate] = []
    labels = None
    tried = None if blocked is None else blocked.copy()
    for _ in range(islands):
        c = island_click(seg, positives, min_area, tried, "depth")
        if c is None:
            break
        if labels is None:
            _, labels = cv2.connectedComponents((seg >= 0.5).astype(np.uint8), connectivity=8)
        part = labels == labels[c.row, c.col]
        out.append(Candidate("island", c, part))
        tried = part if tried is None else tried | part
    for source, signs, prob in (("fp", "negative", maps[..., 1]), ("fn", "positive", maps[..., 2])):
        c = largest_error_click(maps[..., 1], maps[..., 2], error_threshold, min_area, blocked, "depth", signs,
                                seg, min_fraction)
        if c is not None:
            binary = (prob >= error_threshold).astype(np.uint8)
            if blocked is not None:
                binary[blocked] = 0
            _, lab = cv2.connectedComponents(binary, connectivity=8)
            out.append(Candidate(source, c, lab == lab[c.row, c.col]))
    if view is not None:
        found = view_region_click(seg, view, view_threshold, "positive", view_min_depth, blocked)
        if found is not None:
            out.append(Candidate("view", *found))
    return out


def candidate_features(cand: Candidate, maps: np.ndarray, after: np.ndarray, image: np.ndarray,
                       positives: list[tuple[float, float]], humans: list[tuple[float, float]],
                       image_px: float | None = None, roi_frac: float = 1.0,
                       held_dist: np.ndarray | None = None, view: np.ndarray | None = None) -> dict[str, float]:
    """PROPOSAL_FEATURES of one candidate: ``maps`` the grid's mask/FP/FN probabilities now, ``after`` the same
    with the candidate accepted as a pseudo click (the look-ahead pass), ``image`` the grid's RGB,
    ``positives`` / ``humans`` (row, col) of the positive clicks and of all human clicks. ``image_px``: the
    whole image's area in grid pixels (default: the grid's), ``roi_frac``: the grid's view as a fraction of the
    image, ``held_dist``: distance of every grid pixel to the mask parts positive clicks hold
    (``held_distance``; computed when not given), ``view``: a second view's mask probability on the grid (the
    mirrored pass; ``pview`` is its mean over the region, the mask's own when there is none)."""
    seg = maps[..., 0] >= 0.5
    region = cand.region
    c = cand.click
    area = max(1, int(np.count_nonzero(seg)))
    root = float(np.sqrt(area))
    n = cv2.connectedComponents(seg.astype(np.uint8), connectivity=8)[0]
    if held_dist is None:
        held_dist = held_distance(maps[..., 0], positives)
    reg_labels = region.astype(np.int32)
    if cand.source == "island":  # the held parts are where the distance to them is 0
        llr = colour_llr(image, reg_labels, held_dist == 0, ~seg)[1]
    elif cand.source == "fp":
        llr = colour_llr(image, reg_labels, seg & ~region, ~seg)[1]
    else:
        llr = colour_llr(image, reg_labels, seg, ~seg & ~region)[1]
    depth = cv2.distanceTransform(np.pad(region.astype(np.uint8), 1), cv2.DIST_L2, 3).max()
    seg2 = after[..., 0] >= 0.5
    changed = seg2 != seg
    return {
        "area_frac": float(np.count_nonzero(region)) / area,
        "depth": float(depth) / root,
        "pseg": float(maps[..., 0][region].mean()),
        "pfp": float(maps[..., 1][region].mean()),
        "pfn": float(maps[..., 2][region].mean()),
        "llr": float(llr),
        "nh": float(len(humans)),
        "mfrac": area / float(seg.size),
        "dclick": min(float(np.hypot(c.row - r, c.col - q)) for r, q in humans) / root if humans else 1.0,
        "n_parts": float(n - 1),
        "d_err": (float((after[..., 1] + after[..., 2]).sum()) - float((maps[..., 1] + maps[..., 2]).sum())) / area,
        "changed": float(np.count_nonzero(changed)) / area,
        "changed_out": float(np.count_nonzero(changed & ~region)) / area,
        "d_area": (float(np.count_nonzero(seg2)) - area) / area,
        "p_after": float(after[c.row, c.col, 0]),
        "err_after_reg": float((after[..., 1] + after[..., 2])[region].mean()),
        "img_frac": area / float(image_px or seg.size),
        "roi_frac": float(roi_frac),
        "gap": float(held_dist[region].min()) / root,
        "pview": float((maps[..., 0] if view is None else view)[region].mean()),
    }


def held_distance(seg: np.ndarray, positives: list[tuple[float, float]]) -> np.ndarray:
    """Distance (grid px) of every pixel to the parts of the mask ``seg >= 0.5`` that a positive click holds
    (``inf``-like large values when none)."""
    mask = seg >= 0.5
    n, labels = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    held = _held(labels, n, positives, 2.0)
    held[0] = False
    held_px = held[labels]
    if not held_px.any():
        return np.full(seg.shape, float(max(seg.shape)), np.float32)
    return cv2.distanceTransform((~held_px).astype(np.uint8), cv2.DIST_L2, 3)


def feature_vector(features: dict[str, float], names: tuple[str, ...] = PROPOSAL_FEATURES) -> np.ndarray:
    """The scorer's input: logs of the scale-like features, a signed log of the changes."""
    v = np.empty(len(names), np.float64)
    for i, k in enumerate(names):
        x = float(features[k])
        if k in _LOG_FEATURES:
            x = np.log(max(x, 1e-4))
        elif k in _SIGNED_LOG_FEATURES:
            x = np.sign(x) * np.log1p(abs(x) * 100)
        v[i] = x
    return v


@dataclass(frozen=True)
class ProposalScorer:
    """Per candidate source, a logistic model over standardised ``feature_vector``s: the probability that
    accepting the candidate raises the mask's IoU. Stored in a checkpoint's metadata (``to_dict``)."""

    models: dict  # source -> {"mean": [...], "std": [...], "weights": [...], "bias": float[, "features": [...]]}
    threshold: float = 0.6
    features: tuple[str, ...] = PROPOSAL_FEATURES  # a model without its own "features" reads these

    def model_features(self, source: str) -> tuple[str, ...]:
        """The features ``source``'s model reads (its own list, else the scorer's)."""
        return tuple(self.models[source].get("features", self.features))

    def probability(self, source: str, features: dict[str, float]) -> float | None:
        """None when the scorer has no model for ``source`` (such candidates are never proposed)."""
        m = self.models.get(source)
        if m is None:
            return None
        z = (feature_vector(features, self.model_features(source)) - np.asarray(m["mean"])) / np.asarray(m["std"])
        logit = float(z @ np.asarray(m["weights"]) + m["bias"])
        return float(1.0 / (1.0 + np.exp(-np.clip(logit, -50, 50))))

    @property
    def uses_view(self) -> bool:
        """Whether scoring needs the mirrored pass: a model for ``view`` candidates, or weight on ``pview``."""
        if "view" in self.models:
            return True
        for src, m in self.models.items():
            names = self.model_features(src)
            if "pview" in names and float(m["weights"][names.index("pview")]) != 0.0:
                return True
        return False

    def to_dict(self) -> dict:
        return {"models": self.models, "threshold": self.threshold, "features": list(self.features)}

    @classmethod
    def from_file(cls, path) -> ProposalScorer:
        """A scorer JSON written by ``training/proposals.py fit``. Raises OSError or ValueError (malformed)."""
        import json
        from pathlib import Path

        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))

    @classmethod
    def from_dict(cls, d: dict) -> ProposalScorer:
        """Raises ValueError on a malformed description (a checkpoint's metadata is untrusted input)."""
        try:
            features = tuple(str(k) for k in d.get("features", PROPOSAL_FEATURES))
            unknown = set(features) - set(PROPOSAL_FEATURES)
            if unknown:
                raise ValueError(f"unknown features {sorted(unknown)}")
            models = {}
            for src, m in dict(d["models"]).items():
                if src not in CANDIDATE_SOURCES:
                    raise ValueError(f"unknown candidate source {src!r}")
                mm = {k: [float(x) for x in m[k]] for k in ("mean", "std", "weights")}
                names = tuple(str(k) for k in m.get("features", features))
                if set(names) - set(PROPOSAL_FEATURES):
                    raise ValueError(f"unknown features {sorted(set(names) - set(PROPOSAL_FEATURES))}")
                if any(len(mm[k]) != len(names) for k in mm) or min(mm["std"]) <= 0:
                    raise ValueError(f"model for {src!r} does not match its {len(names)} features")
                if not all(np.isfinite(v).all() for v in mm.values()) or not np.isfinite(float(m["bias"])):
                    raise ValueError(f"model for {src!r} holds a number that is not finite")
                mm["bias"] = float(m["bias"])
                if "features" in m:
                    mm["features"] = list(names)
                models[src] = mm
            threshold = float(d.get("threshold", 0.6))
            if not 0.0 <= threshold <= 1.0:
                raise ValueError(f"threshold {threshold} is not a probability")
            return cls(models, threshold, features)
        except (KeyError, TypeError, AttributeError) as e:
            raise ValueError(f"malformed proposal scorer: {e}") from e
