"""The evaluation loop: NoC@85/90/95, mIoU@k curves, seconds per click, pseudo-click precision.

Modes:
* ``human``    — human clicks only (the robot user of ``clicker.py``).
* ``pseudo``   — after each human click, the network's proposal is accepted and the step is re-run with it;
                 pseudo clicks are free (not counted in NoC).
* ``postproc`` — human clicks only, each prediction refined with the error maps (``refine_with_error_maps``).
* ``oracle``   — as ``pseudo``, but the pseudo click comes from the TRUE error maps (the paper's rule: largest
                 region over FP and FN, at its most interior point): what a perfect error head would give,
                 the ceiling for ``pseudo`` with this segmentation network. A diagnostic, not a user mode.

The predictor is anything with the ``Session`` interface (set_image, add_click, predict,
propose_pseudo_click, accept_pseudo_click, refine_with_error_maps).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from ..engine.pseudo import true_error_click
from ..engine.types import Click
from .clicker import RobotClicker, iou

MODES = ("human", "pseudo", "postproc", "oracle")
PSEUDO_MODES = ("pseudo", "oracle")  # the modes that accept pseudo clicks
THRESHOLDS = (0.85, 0.90, 0.95)


@dataclass
class SampleResult:
    name: str
    mode: str
    ious: list[float]  # IoU after each human click
    seconds: float
    n_clicks: int
    proposals: int = 0
    proposals_correct: int = 0
    iou_gain: list[float] = field(default_factory=list)  # IoU change from each accepted proposal
    right: list[bool] = field(default_factory=list)  # whether each accepted proposal landed in a true error

    def noc(self, target: float, max_clicks: int) -> int:
        for k, v in enumerate(self.ious[:max_clicks], start=1):
            if v >= target:
                return k
        return max_clicks


def evaluate_sample(predictor, image: np.ndarray, gt: np.ndarray, ignore: np.ndarray | None, mode: str,
                    max_clicks: int = 20, pred_threshold: float = 0.49, stop_at: float | None = None,
                    name: str = "", chain: int = 1, chain_confidence: float = 0.0) -> SampleResult:
    """Run the robot user for one object. ``stop_at``: stop once IoU reaches it (NoC only, faster);
    None runs all ``max_clicks`` (needed for mIoU@k). ``chain``: after a human click, up to this many
    proposals are accepted one after another (the app's auto-accept chain), the second and later ones only
    when their confidence reaches ``chain_confidence``; 1 is the paper's protocol."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; choose from {MODES}")
    predictor.set_image(image)
    robot = RobotClicker(gt, ignore)
    pred = np.zeros_like(gt, bool)
    res = SampleResult(name, mode, [], 0.0, 0)
    t0 = time.perf_counter()
    for _ in range(max_clicks):
        click = robot.next_click(pred)
        if click is None:  # perfect already: the same IoU for the remaining clicks
            res.ious.append(res.ious[-1] if res.ious else iou(pred, gt, ignore))
            continue
        predictor.add_click(click.x, click.y, click.positive)
        p = predictor.predict()
        res.n_clicks += 1
        for link in range(chain if mode in PSEUDO_MODES else 0):
            now = p.probability > pred_threshold
            if mode == "pseudo":
                proposal = predictor.propose_pseudo_click()
            else:
                proposal = _oracle_click(now, gt, ignore)
            if proposal is None or (link > 0 and proposal.confidence < chain_confidence):
                break
            before = iou(now, gt, ignore)
            right = _lands_in_error(proposal, now, gt, ignore)
            res.proposals += 1
            res.proposals_correct += int(right)
            predictor.accept_pseudo_click(proposal)
            p = predictor.predict()
            res.iou_gain.append(iou(p.probability > pred_threshold, gt, ignore) - before)
            res.right.append(right)
        if mode == "postproc":
            p = predictor.refine_with_error_maps()
        pred = p.probability > pred_threshold
        res.ious.append(iou(pred, gt, ignore))
        if stop_at is not None and res.ious[-1] >= stop_at:
            break
    res.seconds = time.perf_counter() - t0
    return res


def _oracle_click(pred: np.ndarray, gt: np.ndarray, ignore: np.ndarray | None) -> Click | None:
    c = true_error_click(pred, gt.astype(bool), None if ignore is None else ~ignore)
    return None if c is None else Click(float(c.col), float(c.row), c.positive, "pseudo", 1.0, c.area)


def _lands_in_error(click, pred: np.ndarray, gt: np.ndarray, ignore: np.ndarray | None) -> bool:
    r, c = click.rc
    if ignore is not None and ignore[r, c]:
        return False
    if click.positive:
        return bool(gt[r, c] and not pred[r, c])
    return bool(pred[r, c] and not gt[r, c])


def summarize(results: list[SampleResult], max_clicks: int = 20) -> dict:
    """Mean NoC per threshold, count reaching max_clicks, mIoU@k, SPC, pseudo-click precision/gain."""
    if not results:
        return {}
    out: dict = {"samples": len(results)}
    for t in THRESHOLDS:
        nocs = [r.noc(t, max_clicks) for r in results]
        key = f"{int(round(t * 100))}"
        out[f"NoC@{key}"] = float(np.mean(nocs))
        out[f">={max_clicks}@{key}"] = int(sum(n >= max_clicks and r.ious[min(len(r.ious), max_clicks) - 1] < t
                                               for n, r in zip(nocs, results)))
    full = [r.ious + [r.ious[-1]] * (max_clicks - len(r.ious)) for r in results if r.ious]
    curve = np.mean(np.array(full), axis=0)
    out["mIoU@k"] = [round(float(v), 4) for v in curve]
    for k in (1, 2, 3, 5, 10):
        if k <= max_clicks:
            out[f"mIoU@{k}"] = round(float(curve[k - 1]), 4)
    clicks = sum(r.n_clicks for r in results)
    out["seconds_per_click"] = round(sum(r.seconds for r in results) / max(1, clicks), 4)
    props = sum(r.proposals for r in results)
    if props:
        out["pseudo_proposals"] = props
        out["pseudo_precision"] = round(sum(r.proposals_correct for r in results) / props, 4)
        gains = [g for r in results for g in r.iou_gain]
        out["pseudo_mean_iou_gain"] = round(float(np.mean(gains)), 5) if gains else 0.0
        for key, want in (("right", True), ("wrong", False)):  # the IoU change of accepted right / wrong ones
            g = [g for r in results for g, ok in zip(r.iou_gain, r.right) if ok is want]
            out[f"pseudo_accepted_{key}"] = len(g)
            if g:
                out[f"pseudo_gain_{key}"] = round(float(np.mean(g)), 5)
    return out
