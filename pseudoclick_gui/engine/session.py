"""``Session``: the interactive API the GUI, the evaluation harness, the server and external code use.

Read it like segment-anything's ``SamPredictor``: ``set_image`` once, then clicks and ``predict``. Coordinates
are image pixels, ``x`` = column, ``y`` = row; every map is H x W float32 at the image's resolution.

    s = Session.from_default_checkpoint()
    s.set_image(rgb)                             # H x W x 3 uint8
    s.add_click(x=120, y=80, positive=True)
    r = s.predict()                              # r.probability, r.fp, r.fn (H x W float32), r.mask (H x W bool)
    c = s.propose_pseudo_click()                 # Click(kind="pseudo") or None
    s.accept_pseudo_click(c); r = s.predict()    # or s.withdraw_pseudo_click(c)

How a prediction is made: the first click sees the whole image scaled so its long side is at most ``max_side``;
from the second click on, the network sees RITM's zoom-in window (bbox of mask and positive clicks, x1.4, at
least 200 px) scaled to ``zoom_side``, and the output is pasted back. When the mask runs into a side of that
window that lies inside the image, the window grows and the step runs again, so a mask is never cut along a
straight line. The previous-mask input is the probability of the prediction before the latest human click, so
an accepted pseudo click re-runs the same step with the pseudo-click channels set, exactly as in training.

Thread safety: every public method holds one lock, so a GUI worker thread may call ``predict`` while the UI
thread reads ``clicks``.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from ..errors import CheckpointError, PseudoClickError
from .checkpoint import load_model
from .encoding import DISK_RADIUS, disk_maps
from .fuse import fuse_for_inference
from .network import PseudoClickNet
from .preprocess import to_rgb_uint8
from .pseudo import Candidate, candidate_features, held_distance, joins_held, proposal_candidates
from .rule import ProposalRule, rule_click
from .types import Click, Prediction
from .zoom import CropTransform, Rect, grow_roi, update_roi

DEFAULT_CHECKPOINT = "pseudoclick-lite0.pt"
# optional second network for grey images (medical, EM), found beside the default one (models/MODEL.md)
GREY_CHECKPOINT = "pseudoclick-lite0-grey.pt"
MIN_REGION = 20  # image pixels: no proposal from a smaller region
MAX_GROW = 2  # how often one step may grow a zoom-in window the mask runs out of


def is_grey(rgb: np.ndarray) -> bool:
    """True when the three channels of an H x W x 3 image are identical (a grey image replicated)."""
    return bool(np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 1], rgb[..., 2]))


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return f"CUDA ({torch.cuda.get_device_name(device)})"
    return f"CPU ({torch.get_num_threads()} threads)"


@dataclass
class _Step:
    """Undo record: what one click changed."""

    kind: str  # "human" | "pseudo" | "withdraw"
    click: Click
    base_prev: np.ndarray | None  # previous-mask input before this step (uint8-quantised to save memory)
    roi: Rect | None
    last: Prediction | None
    last_valid: bool  # whether ``last`` was up to date with the clicks before this step


class Session:
    def __init__(self, model: PseudoClickNet, device: str | torch.device | None = None, *,
                 grey_model: PseudoClickNet | None = None, rule: ProposalRule | None = None,
                 grey_rule: ProposalRule | None = None, meta: dict | None = None, zoom_in: bool = True,
                 zoom_side: int = 400, max_side: int = 480, threshold: float = 0.5):
        """``model`` serves colour images, and grey ones (three equal channels: medical, EM) too unless
        ``grey_model`` is given. ``rule`` / ``grey_rule``: where proposals come from on colour / grey images
        (``engine/rule.py``); by default the checkpoint's metadata ``meta`` says, else the paper's rule; a
        ``rule`` given alone applies to every image. ``zoom_in``: RITM's zoom-in from the second click;
        ``zoom_side`` / ``max_side``: the network's input side when zoomed in / on the whole image;
        ``threshold``: probability above which a pixel is in the mask."""
        if meta is not None and not isinstance(meta, dict):
            raise CheckpointError(f"the checkpoint's metadata is a {type(meta).__name__}, not a dict")
        self.device = torch.device(device) if device is not None else default_device()
        self.colour_model = self._prepare(model)
        self.grey_model = self._prepare(grey_model) if grey_model is not None else None
        self.model = self.colour_model
        self.meta = dict(meta or {})
        self.rule = rule if rule is not None else ProposalRule.from_meta(self.meta)
        if grey_rule is None:
            grey_rule = rule if rule is not None else ProposalRule.from_meta(self.meta, grey=True)
        self.grey_rule = grey_rule
        self.zoom_in, self.zoom_side, self.max_side, self.threshold = zoom_in, zoom_side, max_side, threshold
        self._lock = threading.RLock()
        self._image: np.ndarray | None = None
        self._image_grey = False
        self.reset()

    def _prepare(self, model: PseudoClickNet) -> PseudoClickNet:
        if not getattr(model, "_pseudoclick_fused", False):
            model = fuse_for_inference(model)
        model = model.to(self.device).eval()
        return model.to(memory_format=torch.channels_last) if self.device.type == "cpu" else model

    # --------------------------------------------------------------------------------------- construction
    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str | torch.device | None = None,
                        grey_checkpoint: str | Path | None = None, **kwargs) -> Session:
        """A session on the network in ``path`` (and ``grey_checkpoint``'s for grey images, if given)."""
        dev = torch.device(device) if device is not None else default_device()
        model, meta = load_model(path, dev)
        grey = None
        if grey_checkpoint is not None:
            grey, grey_meta = load_model(grey_checkpoint, dev)
            meta = {**meta, "grey_checkpoint": str(grey_checkpoint), "grey_meta": grey_meta}
        return cls(model, dev, meta=meta, grey_model=grey, **kwargs)

    @classmethod
    def from_default_checkpoint(cls, device: str | torch.device | None = None, grey: bool | None = None,
                                **kwargs) -> Session:
        """The shipped model (``models/pseudoclick-lite0.pt``, or ``$PSEUDOCLICK_MODELS``) and, when it lies
        beside it and ``grey`` is true, the shipped network for grey images (``pseudoclick-lite0-grey.pt``).
        CheckpointError with a clear message when the default one is missing or corrupt. An unreadable grey
        network is left out: the default one then serves every image, and ``meta["grey_checkpoint_error"]``
        says why. ``grey=None`` reads ``$PSEUDOCLICK_GREY_NETWORK`` (``0`` turns it off)."""
        if grey is None:
            grey = os.environ.get("PSEUDOCLICK_GREY_NETWORK", "1").strip().lower() not in ("0", "off", "false", "no")
        path = find_default_checkpoint()
        dev = torch.device(device) if device is not None else default_device()
        model, meta = load_model(path, dev)
        grey_path, grey_model = path.parent / GREY_CHECKPOINT, None
        if grey and grey_path.is_file():
            try:
                grey_model, grey_meta = load_model(grey_path, dev)
                meta.update(grey_checkpoint=str(grey_path), grey_meta=grey_meta)
            except CheckpointError as exc:
                meta["grey_checkpoint_error"] = str(exc)
        return cls(model, dev, meta=meta, grey_model=grey_model, **kwargs)

    @classmethod
    def from_random(cls, device: str | torch.device | None = None, seed: int = 0, **kwargs) -> Session:
        """A randomly initialised network (tests, benchmarks of speed): its masks mean nothing."""
        torch.manual_seed(seed)
        return cls(PseudoClickNet(), device, meta={"random": True}, **kwargs)

    device_name = property(lambda self: device_name(self.device), doc="e.g. 'CPU (2 threads)'.")

    def spawn(self) -> Session:
        """A fresh session sharing this one's networks, rules and image (no clicks): one per object."""
        with self._lock:
            other = Session(self.colour_model, self.device, grey_model=self.grey_model, rule=self.rule,
                            grey_rule=self.grey_rule, meta=self.meta, zoom_in=self.zoom_in,
                            zoom_side=self.zoom_side, max_side=self.max_side, threshold=self.threshold)
            other._image, other._image_grey, other.model = self._image, self._image_grey, self.model
            return other

    def set_proposal_rule(self, rule: str | None) -> None:
        """Where suggested clicks come from, on every image: None (or ``"default"``) for the checkpoint's own
        rules, ``"paper"`` for the paper's (the largest region of the predicted error maps). ValueError for
        any other name."""
        with self._lock:
            if rule in (None, "default"):
                self.rule, self.grey_rule = ProposalRule.from_meta(self.meta), ProposalRule.from_meta(self.meta, True)
            elif rule in ("paper", "errors"):
                self.rule = self.grey_rule = ProposalRule.paper()
            else:
                raise ValueError(f"unknown proposal rule {rule!r}: use 'default' or 'paper'")
            self._lookahead = None

    @property
    def image_rule(self) -> ProposalRule:
        """The rule that applies to the current image: ``grey_rule`` for a grey image, else ``rule``."""
        return self.grey_rule if self._image_grey else self.rule

    @property
    def image_pseudo_lifetime(self) -> str:
        """How long an accepted pseudo click stays an input on the current image: ``"object"`` or ``"step"``."""
        return self.image_rule.lifetime

    @property
    def model_kind(self) -> str:
        """Which network serves the current image: "grey" or "colour"."""
        return "grey" if self.model is self.grey_model and self.grey_model is not None else "colour"

    # --------------------------------------------------------------------------------------- state
    def set_image(self, image: np.ndarray) -> None:
        """``image``: H x W x 3 uint8 RGB; grey (H x W), RGBA, uint16 and float are converted
        (``preprocess.py``). Clears all clicks."""
        rgb = to_rgb_uint8(image)
        with self._lock:
            self._image = rgb
            self._image_grey = is_grey(rgb)
            grey = self._image_grey and self.grey_model is not None
            self.model = self.grey_model if grey else self.colour_model
            self.reset()

    image = property(lambda self: self._image, doc="The current image as the network sees it (H x W x 3 uint8).")

    def reset(self) -> None:
        """Forget the current object's clicks and mask (the image stays)."""
        with self._lock:
            self._human: list[Click] = []
            self._pseudo: list[Click] = []
            self._withdrawn: list[Click] = []
            self._history: list[_Step] = []
            self._redo: list[_Step] = []
            self._base_prev: np.ndarray | None = None
            self._roi: Rect | None = None
            self._last: Prediction | None = None
            self._dirty = True
            self._seed_mask: np.ndarray | None = None
            self._lookahead: tuple | None = None  # (history length, click, transform, crop maps) of a proposal

    def set_previous_mask(self, mask: np.ndarray | None) -> None:
        """Start the current object from an existing mask (H x W bool or probability): re-opening an instance,
        an imported mask, or propagation from a neighbouring slice. Clears clicks."""
        with self._lock:
            self._need_image()
            self.reset()
            if mask is not None:
                m = np.asarray(mask, dtype=np.float32)
                if m.shape != self._image.shape[:2]:
                    raise PseudoClickError(f"mask shape {m.shape} does not match the image {self._image.shape[:2]}")
                self._base_prev = np.clip(np.nan_to_num(m), 0, 1)
                self._seed_mask = self._base_prev
                z = np.zeros_like(self._base_prev)
                self._last = Prediction(self._base_prev.copy(), z, z.copy(), self.threshold)
                self._dirty = False

    @property
    def clicks(self) -> list[Click]:
        """Human clicks and accepted pseudo clicks, in the order they were made."""
        with self._lock:
            return [s.click for s in self._history if s.kind in ("human", "pseudo")]

    human_clicks = property(lambda self: list(self._human), doc="The human clicks, in order.")
    pseudo_clicks = property(lambda self: list(self._pseudo), doc="Accepted pseudo clicks, live or not.")

    @property
    def live_pseudo_clicks(self) -> list[Click]:
        """The accepted pseudo clicks the network sees now: all of them, or with the lifetime ``"step"`` those
        accepted since the latest human click."""
        with self._lock:
            return list(self._live_pseudo())

    def _live_pseudo(self) -> list[Click]:
        if self.image_rule.lifetime == "object" or not self._pseudo:
            return self._pseudo
        live = []
        for step in reversed(self._history):
            if step.kind == "human":
                break
            if step.kind == "pseudo" and step.click in self._pseudo:
                live.append(step.click)
        return live[::-1]

    withdrawn_clicks = property(lambda self: list(self._withdrawn), doc="Proposals withdrawn for this object.")
    last_prediction = property(lambda self: self._last, doc="The latest Prediction, or None.")

    def _need_image(self) -> None:
        if self._image is None:
            raise PseudoClickError("no image to segment: none was set, or it could not be used (set_image)")

    def _check_click(self, x: float, y: float) -> None:
        h, w = self._image.shape[:2]
        try:
            ok = bool(np.isfinite([x, y]).all()) and 0 <= x < w and 0 <= y < h
        except TypeError:
            raise PseudoClickError(f"a click needs two numbers, not ({x!r}, {y!r})") from None
        if not ok:
            raise PseudoClickError(f"click ({x}, {y}) is outside the {w} x {h} image")

    def _push(self, kind: str, click: Click) -> None:
        prev = None if self._base_prev is None else (self._base_prev * 255 + 0.5).astype(np.uint8)
        self._history.append(_Step(kind, click, prev, self._roi, self._last, not self._dirty))
        self._redo.clear()
        self._dirty = True

    # --------------------------------------------------------------------------------------- clicks
    def add_click(self, x: float, y: float, positive: bool = True) -> Click:
        """A human click at column ``x``, row ``y``. The previous-mask input becomes the latest prediction. A
        pseudo click accepted since the last prediction gets its prediction first (the app coalesces an accept
        and a quick click into one prediction; with lifetime ``step`` the pseudo click would otherwise leave
        the inputs without ever having shaped the mask, and redo would differ from what was done)."""
        with self._lock:
            self._need_image()
            self._check_click(x, y)
            if self._dirty and self._history and self._history[-1].kind == "pseudo":
                self.predict()
            click = Click(float(x), float(y), bool(positive), "human", 1.0)
            self._push("human", click)
            if self._last is not None:
                self._base_prev = self._last.probability
            self._human.append(click)
            return click

    def propose_pseudo_click(self, cancelled: Callable[[], bool] | None = None) -> Click | None:
        """The next click the network suggests (runs ``predict`` first when clicks changed), by the image's
        rule (``image_rule``); None before the first human click or when nothing qualifies. The search runs on
        the network's own output grid (the zoom-in crop), so its cost does not grow with the photo; the click
        is mapped back to image pixels. ``cancelled``: asked between network passes; when it answers True the
        search stops and returns None (an app whose user clicked again meanwhile)."""
        with self._lock:
            step = self._crop_step()
            if step is None:
                return None
            t, maps = step
            rule = self.image_rule
            if rule.source == "scored":
                return self._propose_scored(t, rule, cancelled)
            scale = (t.out_w / (t.roi[2] - t.roi[0])) * (t.out_h / (t.roi[3] - t.roi[1]))
            positives = [t.forward_point(k.x, k.y)[::-1] for k in self._human + self._live_pseudo() if k.positive]

            def joins(c) -> bool:  # the "same object?" trial: a positive click on the island
                xy = self._to_image(c.col, c.row, t)
                trial = self._run(t, self.predict().probability, [*self._human, Click(*xy, True, "human")])
                return joins_held(trial[..., 0], maps[..., 0], c.row, c.col, positives)

            c = rule_click(rule, maps, positives, max(4, int(round(MIN_REGION * scale))), self._blocked_mask(t), joins)
            if c is None:
                return None
            x, y = self._to_image(c.col, c.row, t)
            return Click(x, y, c.positive, "pseudo", c.confidence, int(round(c.area / scale)))

    def _crop_step(self) -> tuple[CropTransform, np.ndarray] | None:
        """The current step's crop transform and crop maps (``predict`` runs when clicks changed); None before
        the first human click."""
        if not self._human:
            return None
        pred = self.predict()
        t: CropTransform | None = pred.extra.get("transform")
        return None if t is None else (t, pred.extra["crop_maps"])

    def scored_candidates(self, views: bool | None = None, sources: tuple[str, ...] | None = None,
                          cancelled: Callable[[], bool] | None = None) -> list[tuple[Candidate, dict, Click, np.ndarray]]:
        """The scored rule's candidates for the current step (``engine.pseudo.proposal_candidates``), each with
        its features, the pseudo click it would be (image pixels) and the network's crop maps with it accepted
        (the look-ahead pass, one forward each); [] before the first click. ``views``: also run the mirrored
        pass (its ``view`` candidate and every candidate's ``pview``; by default when the scorer uses it).
        ``sources``: only these kinds of candidate are looked ahead and returned (default all); ``cancelled``: as
        ``propose_pseudo_click``'s ([] once it answers True).
        ``training/proposals.py`` fits the scorer on these."""
        with self._lock:
            step = self._crop_step()
            if step is None:
                return []
            t, maps = step
            rule = self.image_rule
            scale = (t.out_w / (t.roi[2] - t.roi[0])) * (t.out_h / (t.roi[3] - t.roi[1]))
            live = self._live_pseudo()
            positives = [t.forward_point(k.x, k.y)[::-1] for k in self._human + live if k.positive]
            humans = [t.forward_point(k.x, k.y)[::-1] for k in self._human]
            h, w = self._image.shape[:2]
            prev = self._step_prev()
            if views is None:
                views = rule.scorer is not None and rule.scorer.uses_view
            inputs = self._crop_inputs(t, prev)  # shared by the mirrored and every look-ahead pass
            view = self._run(t, prev, mirror=True, inputs=inputs)[..., 0] if views else None
            cands = proposal_candidates(maps, positives, max(4, int(round(MIN_REGION * scale))), self._blocked_mask(t),
                                        rule.error_threshold, view=view, view_threshold=rule.view_threshold,
                                        view_min_depth=rule.view_min_depth)
            cands = [c for c in cands if sources is None or c.source in sources]
            held = held_distance(maps[..., 0], positives) if cands else None
            roi_frac = (t.roi[2] - t.roi[0]) * (t.roi[3] - t.roi[1]) / float(h * w)
            out = []
            for cand in cands:
                if cancelled is not None and cancelled():
                    return []
                x, y = self._to_image(cand.click.col, cand.click.row, t)
                click = Click(x, y, cand.click.positive, "pseudo", 1.0, int(round(cand.click.area / scale)))
                after = self._run(t, prev, self._human, live + [click], inputs=inputs)
                feats = candidate_features(cand, maps, after, inputs[0], positives, humans, h * w * scale, roi_frac,
                                           held, view)
                out.append((cand, feats, click, after))
            return out

    def _propose_scored(self, t: CropTransform, rule: ProposalRule, cancelled=None) -> Click | None:
        best = None
        for cand, feats, click, after in self.scored_candidates(cancelled=cancelled):
            p = rule.scorer.probability(cand.source, feats)
            if p is not None and p >= rule.scorer.threshold and (best is None or p > best[0]):
                best = (p, click, after)
        if best is None:
            return None
        p, click, after = best
        click = replace(click, confidence=p)
        # accepting it re-runs exactly this pass: keep the result so predict() need not run it again
        self._lookahead = (len(self._history), click, t, after)
        return click

    def _to_image(self, col: int, row: int, t: CropTransform) -> tuple[float, float]:
        """A pixel of the network's grid as the nearest image pixel (x, y)."""
        x = (col + 0.5) * (t.roi[2] - t.roi[0]) / t.out_w - 0.5 + t.roi[0]
        y = (row + 0.5) * (t.roi[3] - t.roi[1]) / t.out_h - 0.5 + t.roi[1]
        h, w = self._image.shape[:2]
        return float(min(max(round(x), 0), w - 1)), float(min(max(round(y), 0), h - 1))

    def accept_pseudo_click(self, click: Click) -> Click:
        """Use a proposed click: it goes into the pseudo-click channels (it does not count as a human click)."""
        with self._lock:
            self._need_image()
            if not isinstance(click, Click):
                raise PseudoClickError(f"accept_pseudo_click needs a proposed Click, not {type(click).__name__}")
            self._check_click(click.x, click.y)
            c = Click(click.x, click.y, click.positive, "pseudo", click.confidence, click.region_area)
            self._push("pseudo", c)
            self._pseudo.append(c)
            return c

    def withdraw_pseudo_click(self, click: Click) -> None:
        """Reject a proposal: it is not proposed again near that spot for the current object. If it had been
        accepted, it is removed from the inputs."""
        with self._lock:
            if not isinstance(click, Click):
                raise PseudoClickError(f"withdraw_pseudo_click needs a proposed Click, not {type(click).__name__}")
            c = Click(click.x, click.y, click.positive, "pseudo", click.confidence, click.region_area)
            self._push("withdraw", c)
            self._withdrawn.append(c)
            if c in self._pseudo:
                self._pseudo.remove(c)

    def undo(self) -> Click | None:
        """Undo the last human click, accepted pseudo click or withdrawal; returns it (None if nothing)."""
        with self._lock:
            if not self._history:
                return None
            step = self._history.pop()
            if step.kind == "human":
                self._human.remove(step.click)
            elif step.kind == "pseudo":
                self._pseudo.remove(step.click)
            else:
                self._withdrawn.remove(step.click)
                if any(s.kind == "pseudo" and s.click == step.click for s in self._history):
                    self._pseudo.append(step.click)
            self._base_prev = None if step.base_prev is None else step.base_prev.astype(np.float32) / 255.0
            self._roi, self._last, self._dirty = step.roi, step.last, not step.last_valid
            self._redo.append(step)
            return step.click

    def redo(self) -> Click | None:
        """Redo what ``undo`` took back; returns it (None if nothing)."""
        with self._lock:
            if not self._redo:
                return None
            step = self._redo.pop()
            redo = list(self._redo)
            if step.kind == "human":
                self.add_click(step.click.x, step.click.y, step.click.positive)
            elif step.kind == "pseudo":
                self.accept_pseudo_click(step.click)
            else:
                self.withdraw_pseudo_click(step.click)
            self._redo = redo
            return step.click

    def _blocked_mask(self, t: CropTransform) -> np.ndarray | None:
        """Crop-grid pixels near withdrawn proposals (3 disk radii) and existing clicks (one radius): no proposal
        lands there again."""
        spots = [(c.x, c.y, 3 * DISK_RADIUS) for c in self._withdrawn]
        return t.disks([*spots, *((c.x, c.y, DISK_RADIUS) for c in self._human + self._live_pseudo())])

    # --------------------------------------------------------------------------------------- inference
    def predict(self) -> Prediction:
        """Run the network for the current clicks (cached: calling twice does not run twice)."""
        with self._lock:
            self._need_image()
            if not self._dirty and self._last is not None:
                return self._last
            t0 = time.perf_counter()
            h, w = self._image.shape[:2]
            if not self._human and not self._pseudo:
                z = np.zeros((h, w), np.float32)
                self._last = Prediction(self._step_prev().copy(), z, z.copy(), self.threshold)
                self._dirty = False
                return self._last
            prev = self._step_prev()
            ahead = self._lookahead
            if ahead is not None and self._history and self._history[-1].kind == "pseudo" \
                    and ahead[0] == len(self._history) - 1 and ahead[1] == self._history[-1].click:
                transform, out = ahead[2], ahead[3]  # the scored rule already ran this step (look-ahead)
            else:
                transform = self._transform(prev)
                out = self._run(transform, prev)
                for _ in range(MAX_GROW if self._roi is not None else 0):
                    grown = grow_roi(transform.roi, out[..., 0] > 0.5, w, h)
                    if grown is None:
                        break
                    self._roi = grown  # the mask ran into a side of the window inside the image
                    transform = CropTransform.fit(grown, self.zoom_side, upscale=True)
                    out = self._run(transform, prev)
            self._lookahead = None
            if not np.isfinite(out).all():
                raise PseudoClickError("the network's output is not a number (NaN): its weights are broken")
            prob, fp, fn = transform.inverse_planes(out, h, w)
            ms = (time.perf_counter() - t0) * 1000
            self._last = Prediction(prob, fp, fn, self.threshold, ms, transform.roi,
                                    {"crop_maps": out, "transform": transform, "network": self.model_kind})
            self._dirty = False
            return self._last

    def _transform(self, prev: np.ndarray) -> CropTransform:
        h, w = self._image.shape[:2]
        full = (0, 0, w, h)
        # RITM zooms in from the 2nd *human* click; a pseudo-click pass re-runs its step with that step's view
        if not self.zoom_in or (len(self._human) <= 1 and self._seed_mask is None):
            return CropTransform.fit(full, self.max_side, upscale=False)
        last_human = self._human[-1] if self._human else None
        last = (last_human.x, last_human.y, last_human.positive) if last_human else None
        positives = [(c.x, c.y) for c in self._human + self._live_pseudo() if c.positive]
        if self._history and self._history[-1].kind == "human" or self._roi is None:
            self._roi = update_roi(self._roi, prev > 0.5, positives, last)
        return CropTransform.fit(self._roi or full, self.zoom_side, upscale=True)

    def _step_prev(self) -> np.ndarray:
        """The previous-mask input of the current step (what ``predict`` feeds the network)."""
        if self._base_prev is not None:
            return self._base_prev
        return np.zeros(self._image.shape[:2], np.float32)

    def _crop_inputs(self, t: CropTransform, prev: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The image and the previous mask resampled to the network's crop (what every pass of a step shares)."""
        img = t.forward_image(self._image)
        if not img.flags.writeable:
            img = np.array(img, copy=True)
        return img, np.ascontiguousarray(t.forward_image(prev.astype(np.float32, copy=False)))

    @torch.inference_mode()
    def _run(self, t: CropTransform, prev: np.ndarray, human: list[Click] | None = None,
             pseudo: list[Click] | None = None, mirror: bool = False,
             inputs: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
        """Returns out_h x out_w x 3 probabilities (mask, fp, fn) in the crop; the session's clicks unless
        ``human`` / ``pseudo`` are given. ``mirror``: one pass on the left-right mirrored inputs, its output
        mirrored back (the scored rule's second view). ``inputs``: ``_crop_inputs(t, prev)`` when the caller
        runs several passes of one step."""
        human = self._human if human is None else human
        pseudo = self._live_pseudo() if pseudo is None else pseudo
        img, prev_c = inputs if inputs is not None else self._crop_inputs(t, prev)
        hc, wc = img.shape[:2]

        def tensor_clicks(clicks: list[Click]) -> torch.Tensor:
            pts = [(cy, cx, 1.0 if c.positive else -1.0) for c in clicks for cx, cy in [t.forward_point(c.x, c.y)]]
            return torch.tensor(pts, dtype=torch.float32).view(1, len(pts), 3)

        dev = self.device
        image = torch.from_numpy(img).to(dev).permute(2, 0, 1)[None].float() / 255.0
        maps = torch.cat([torch.from_numpy(prev_c).to(dev)[None, None], disk_maps(tensor_clicks(human), hc, wc).to(dev)], 1)
        pseudo_maps = disk_maps(tensor_clicks(pseudo), hc, wc).to(dev)
        if mirror:
            image, maps, pseudo_maps = (x.flip(-1) for x in (image, maps, pseudo_maps))
        if dev.type == "cpu":
            image, maps, pseudo_maps = (x.contiguous(memory_format=torch.channels_last) for x in (image, maps, pseudo_maps))
        out = self.model(image, maps, pseudo_maps)
        logits = torch.cat([out["seg"], out["err"]], 1)
        if mirror:
            logits = logits.flip(-1)
        return torch.sigmoid(logits)[0].permute(1, 2, 0).float().cpu().numpy()

    def refine_with_error_maps(self) -> Prediction:
        """The paper's post-processing: P' = clip(P - E_fp + E_fn, 0, 1) on the latest prediction.
        Returns a new Prediction; the session's state is unchanged."""
        with self._lock:
            p = self.predict()
            refined = np.clip(p.probability - p.fp + p.fn, 0.0, 1.0).astype(np.float32)
            return Prediction(refined, p.fp, p.fn, p.threshold, p.elapsed_ms, p.roi, {"refined": True})

    def warm_up(self) -> None:
        """One forward on a small dummy input so the first real click is not slowed by lazy initialisation."""
        with torch.inference_mode():
            x = torch.zeros(1, 3, 64, 64, device=self.device)
            for model in filter(None, (self.colour_model, self.grey_model)):
                model(x, torch.zeros(1, 3, 64, 64, device=self.device), None)


def find_default_checkpoint() -> Path:
    from ..paths import models_dirs

    for d in models_dirs():
        p = d / DEFAULT_CHECKPOINT
        if p.is_file():
            return p
    searched = ", ".join(str(d) for d in models_dirs()) or "(no models folder found)"
    raise CheckpointError(
        f"no trained model found ({DEFAULT_CHECKPOINT} in {searched}). Train one with `pseudoclick train` "
        "or point $PSEUDOCLICK_MODELS at a folder holding it."
    )
