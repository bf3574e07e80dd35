"""``Session``: the interactive API the GUI, the evaluation harness and external code use.

Read it like segment-anything's predictor: ``set_image`` once, then clicks and ``predict``. All coordinates are
image pixels, ``x`` = column, ``y`` = row. All maps are H x W float32 at the image's resolution.

    s = Session.from_default_checkpoint()
    s.set_image(rgb)
    s.add_click(x=120, y=80, positive=True)
    r = s.predict()                   # r.probability, r.fp, r.fn, r.mask
    c = s.propose_pseudo_click()      # Click(kind="pseudo") or None
    s.accept_pseudo_click(c); r = s.predict()   # or s.withdraw_pseudo_click(c)

How a prediction is made (FACTS §3): the first click sees the whole image scaled so its long side is at most
``max_side``; from the second click on, the network sees RITM's zoom-in window (bbox of mask and positive
clicks, ×1.4, at least 200 px) scaled to ``zoom_side``, and the output is pasted back (0 outside). The previous
mask input is the full-resolution probability of the prediction before the latest human click, so an accepted
pseudo click re-runs the same step with the pseudo-click channels set, exactly as in training. A 6000 x 4000
photo never goes through the network at full resolution.

Thread safety: every public method holds one lock, so a GUI worker thread may call ``predict`` while the UI
thread reads ``clicks``.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np
import torch

from ..errors import CheckpointError, PseudoClickError
from .checkpoint import load_model
from .encoding import DISK_RADIUS, disk_maps
from .error_net import ErrorNet, build_inputs
from .fuse import fuse_for_inference
from .network import PseudoClickNet
from .preprocess import to_rgb_uint8
from .pseudo import (
    ISLAND_TRIALS,
    PROPOSAL_SOURCES,
    PSEUDO_INPUTS,
    PSEUDO_LIFETIMES,
    SIGNS,
    VIEW_SOURCES,
    Candidate,
    ProposalScorer,
    candidate_features,
    held_distance,
    island_click,
    joins_held,
    largest_error_click,
    proposal_candidates,
    view_candidate,
    view_click,
)
from .types import Click, Prediction
from .zoom import CropTransform, Rect, expand_roi, update_roi

DEFAULT_CHECKPOINT = "pseudoclick-lite0.pt"
# optional second network for grey images (medical, EM), found beside the default one (models/MODEL.md)
GREY_CHECKPOINT = "pseudoclick-lite0-grey.pt"


def is_grey(rgb: np.ndarray) -> bool:
    """True when the three channels of an H x W x 3 image are identical (a grey image replicated)."""
    return bool(np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 1], rgb[..., 2]))


def default_device() -> torch.device:
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


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


# proposal settings and the paper's values (threshold 0.5, largest region over both maps, no extra limits, error
# maps only); island_* apply to proposals from mask parts no positive click holds (engine/pseudo.py)
PROPOSAL_DEFAULTS = {"error_threshold": 0.5, "proposal_rank": "area", "proposal_signs": "both", "fn_reach": None,
                     "proposal_min_fraction": 0.0, "proposal_source": "errors", "island_min_fraction": 0.0,
                     "island_min_gap": 0.0, "island_confidence": 0.5, "island_colour_llr": None,
                     "error_colour_llr": None, "island_trial": "off", "island_trial_confidence": 0.5,
                     "pseudo_lifetime": "object", "view_threshold": 0.3, "view_signs": "positive",
                     "view_min_depth": 2.0, "view_confidence": None, "errornet_threshold": 0.5,
                     "zoom_view_min_gain": 1.5, "pseudo_input": "pseudo"}
# every metadata key the proposal rule reads: what a network inherits when it takes another's rule
# (``python -m pseudoclick_gui.training.ship … --rules-from C``)
RULE_META_KEYS = (*PROPOSAL_DEFAULTS, "proposal_scorer", "error_net", "grey_proposal_source", "grey_pseudo_lifetime",
                  "first_click_zoom")


class Session:
    def __init__(self, model: PseudoClickNet, device: str | torch.device | None = None, *, zoom_in: bool = True,
                 zoom_side: int = 400, max_side: int = 480, flip: bool = False, threshold: float = 0.5,
                 min_region: int = 20, error_threshold: float | None = None, proposal_rank: str | None = None,
                 proposal_signs: str | None = None, fn_reach: float | None = None,
                 proposal_min_fraction: float | None = None, proposal_source: str | None = None,
                 island_min_fraction: float | None = None, island_min_gap: float | None = None,
                 island_confidence: float | None = None, island_colour_llr: float | None = None,
                 error_colour_llr: float | None = None, island_trial: str | None = None,
                 island_trial_confidence: float | None = None, proposal_scorer: ProposalScorer | dict | None = None,
                 pseudo_lifetime: str | None = None, grey_pseudo_lifetime: str | None = None,
                 view_threshold: float | None = None, view_signs: str | None = None,
                 view_min_depth: float | None = None, view_confidence: float | None = None,
                 errornet_threshold: float | None = None, error_net: ErrorNet | dict | None = None,
                 zoom_view_min_gain: float | None = None, grey_proposal_source: str | None = None,
                 first_click_zoom: float | None = None, pseudo_input: str | None = None,
                 meta: dict | None = None, grey_model: PseudoClickNet | None = None,
                 whole_model: PseudoClickNet | None = None):
        """``error_threshold``: FP/FN probability above which a pixel counts as an error region for proposals.
        The paper uses 0.5; a checkpoint may carry a calibrated value in its metadata
        (``meta["error_threshold"]``), used when this argument is None. ``proposal_scorer``: the model the
        ``"scored"`` source uses (else ``meta["proposal_scorer"]``). ``pseudo_lifetime`` (PSEUDO_LIFETIMES):
        whether an accepted pseudo click stays a network input for the whole object (``"object"``) or only
        until the next human click (``"step"``), or until a human click says it did wrong (``"contradicted"``: the
        click lands on a pixel the pseudo click's step changed and asks for it back; that click then builds on
        the mask from before the pseudo click); it stays in ``pseudo_clicks``, the history and undo either way.
        ``grey_pseudo_lifetime``: the same for grey images (three equal channels: medical, EM), which may differ
        (models/MODEL.md, session 9); else ``meta["grey_pseudo_lifetime"]``, else ``pseudo_lifetime``. Given
        ``pseudo_lifetime`` alone applies to every image.
        ``view_*``: the ``"views"`` sources' settings (``engine.pseudo.view_click``: the mirrored view's
        confidence threshold, which signs it may propose, the least depth of a proposal in grid pixels, and the
        confidence a proposal shows — a measured precision — or None for the view's own agreement).
        ``grey_model``: a second network used whenever the image is grey (its three channels equal: medical and
        EM images); ``model`` serves colour images, and grey ones too when there is no grey model.
        ``error_net`` (else ``meta["error_net"]``): the ``"errornet"`` source's small network
        (``engine/error_net.py``); ``errornet_threshold``: the probability above which its maps count as an error.
        ``grey_proposal_source``: the proposal rule for grey images, which may differ from the colour one
        (models/MODEL.md, session 11); else ``meta["grey_proposal_source"]``, else ``proposal_source``. Given
        ``proposal_source`` alone applies to every image, as ``set_proposal_source`` does.
        ``zoom_view_min_gain``: the scored rule's ``zoom`` candidate (``zoom_view``) is looked for only when the
        zoom-in window around the mask would show it at least this many times larger than the step's own view.
        ``first_click_zoom`` (else ``meta["first_click_zoom"]``, else 0: off, RITM's rule): a gain G >= 1 makes the
        first click of an object zoom in at once when the window around its whole-image mask shows the object at
        least G times larger; the window pass then answers the click (models/MODEL.md, session 12).
        ``whole_model``: the ``"whole"`` source's second network, fine-tuned on whole objects only (a click on a
        garment means its person, on a mushroom's cap the mushroom); one pass of it on the step's inputs is the
        second view whose confident "more object" becomes a positive proposal (colour images only).
        ``pseudo_input`` (PSEUDO_INPUTS; else ``meta["pseudo_input"]``, else ``"pseudo"``: the paper's separate
        encoding): which of the network's click channels an accepted pseudo click is drawn into. ``"human"`` draws
        it as if the annotator had clicked there (its own channels stay empty), for every image; what that does
        to the clicks needed is in models/MODEL.md, session 18."""
        self.device = torch.device(device) if device is not None else default_device()
        self.colour_model = self._prepare(model)
        self.grey_model = self._prepare(grey_model) if grey_model is not None else None
        self.whole_model = self._prepare(whole_model) if whole_model is not None else None
        self.model = self.colour_model
        self.grey_network_on = True  # use_grey_network()
        self.zoom_in = zoom_in
        self.zoom_side = zoom_side
        self.max_side = max_side
        self.flip = flip
        self.threshold = threshold
        self.min_region = min_region
        self.meta = dict(meta or {})
        fcz = first_click_zoom if first_click_zoom is not None else self.meta.get("first_click_zoom", 0.0)
        self.first_click_zoom = float(fcz or 0.0)
        if self.first_click_zoom and self.first_click_zoom < 1.0:
            raise ValueError(f"first_click_zoom must be 0 (off) or a gain >= 1, not {self.first_click_zoom}")
        # the proposal rule: the argument, else the checkpoint's metadata (what its error head was measured to do
        # reliably, models/MODEL.md), else the paper's rule; see engine/pseudo.py for each setting
        given = {"error_threshold": error_threshold, "proposal_rank": proposal_rank, "proposal_signs": proposal_signs,
                 "fn_reach": fn_reach, "proposal_min_fraction": proposal_min_fraction,
                 "proposal_source": proposal_source, "island_min_fraction": island_min_fraction,
                 "island_min_gap": island_min_gap, "island_confidence": island_confidence,
                 "island_colour_llr": island_colour_llr, "error_colour_llr": error_colour_llr,
                 "island_trial": island_trial, "island_trial_confidence": island_trial_confidence,
                 "pseudo_lifetime": pseudo_lifetime, "view_threshold": view_threshold, "view_signs": view_signs,
                 "view_min_depth": view_min_depth, "view_confidence": view_confidence,
                 "errornet_threshold": errornet_threshold, "zoom_view_min_gain": zoom_view_min_gain,
                 "pseudo_input": pseudo_input}
        for key, default in PROPOSAL_DEFAULTS.items():
            value = given[key] if given[key] is not None else self.meta.get(key, default)
            setattr(self, key, value if value is None or isinstance(default, str) else float(value))
        for key in ("island_colour_llr", "error_colour_llr"):
            if getattr(self, key) is not None and not np.isfinite(getattr(self, key)):
                setattr(self, key, None)  # "off"
        self.proposal_scorer: ProposalScorer | None = self._part(proposal_scorer, "proposal_scorer", ProposalScorer,
                                                                 ProposalScorer.from_dict, "proposal scorer")
        self.error_net: ErrorNet | None = self._part(error_net, "error_net", ErrorNet, ErrorNet.from_checkpoint_entry,
                                                     "error net")
        if grey_proposal_source is None:
            grey_proposal_source = proposal_source or self.meta.get("grey_proposal_source") or self.proposal_source
        self.grey_proposal_source = grey_proposal_source
        for key in ("proposal_source", "grey_proposal_source"):
            self._check_source(getattr(self, key), key)
        if grey_pseudo_lifetime is None:
            grey_pseudo_lifetime = pseudo_lifetime or self.meta.get("grey_pseudo_lifetime") or self.pseudo_lifetime
        self.grey_pseudo_lifetime = grey_pseudo_lifetime
        for key in ("pseudo_lifetime", "grey_pseudo_lifetime"):
            if getattr(self, key) not in PSEUDO_LIFETIMES:
                raise ValueError(f"{key} must be one of {PSEUDO_LIFETIMES}, not {getattr(self, key)!r}")
        if self.pseudo_input not in PSEUDO_INPUTS:
            raise ValueError(f"pseudo_input must be one of {PSEUDO_INPUTS}, not {self.pseudo_input!r}")
        if self.view_signs not in SIGNS:
            raise ValueError(f"view_signs must be one of {SIGNS}, not {self.view_signs!r}")
        if self.island_trial not in ISLAND_TRIALS:
            raise ValueError(f"island_trial must be one of {ISLAND_TRIALS}, not {self.island_trial!r}")
        self._lock = threading.RLock()
        self._image: np.ndarray | None = None
        self._image_grey = False  # is_grey(self._image), checked once per image and only when it matters
        self.reset()

    def _part(self, given, key: str, kind: type, parse, label: str):
        """A part of the proposal rule given as an argument, else from the checkpoint's metadata (parsed from its
        stored form); CheckpointError when the stored form is unusable."""
        value = given if given is not None else self.meta.get(key)
        if value is not None and not isinstance(value, kind):
            try:
                value = parse(value)
            except ValueError as e:
                raise CheckpointError(f"the checkpoint's {label} is unusable: {e}") from e
        return value

    def _prepare(self, model: PseudoClickNet) -> PseudoClickNet:
        if not getattr(model, "_pseudoclick_fused", False):
            model = fuse_for_inference(model)
        model = model.to(self.device).eval()
        return model.to(memory_format=torch.channels_last) if self.device.type == "cpu" else model

    def _pick_model(self) -> None:
        grey = self.grey_model is not None and self.grey_network_on and self._image_grey
        self.model = self.grey_model if grey else self.colour_model

    def use_grey_network(self, on: bool) -> None:
        """Whether grey images go to the grey network (when there is one). Takes effect at once: the current
        object's next prediction runs the network now chosen, with the same clicks."""
        with self._lock:
            self.grey_network_on = bool(on)
            before = self.model
            self._pick_model()
            if self.model is not before:
                self._dirty = True
                self._lookahead = None

    @property
    def model_kind(self) -> str:
        """Which network serves the current image: "grey" or "colour"."""
        return "grey" if self.model is self.grey_model and self.grey_model is not None else "colour"

    # --------------------------------------------------------------------------------------- construction
    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str | torch.device | None = None,
                        grey_checkpoint: str | Path | None = None, whole_checkpoint: str | Path | None = None,
                        **kwargs) -> Session:
        """``grey_checkpoint``: the optional network for grey images (``grey_model``); ``whole_checkpoint``: the
        optional whole-object network of the ``"whole"`` source (``whole_model``, which may also come as a network
        in ``kwargs``)."""
        dev = torch.device(device) if device is not None else default_device()
        model, meta = load_model(path, dev)
        grey = None
        if grey_checkpoint is not None:
            grey, grey_meta = load_model(grey_checkpoint, dev)
            meta = {**meta, "grey_checkpoint": str(grey_checkpoint), "grey_meta": grey_meta}
        if whole_checkpoint is not None:
            kwargs["whole_model"] = load_model(whole_checkpoint, dev)[0]
            meta = {**meta, "whole_checkpoint": str(whole_checkpoint)}
        return cls(model, dev, meta=meta, grey_model=grey, **kwargs)

    @classmethod
    def from_default_checkpoint(cls, device: str | torch.device | None = None, grey: bool | None = None,
                                **kwargs) -> Session:
        """The shipped model (``models/pseudoclick-lite0.pt``, or ``$PSEUDOCLICK_MODELS``) and, when it lies
        beside it and ``grey`` is true, the shipped network for grey images (``pseudoclick-lite0-grey.pt``).
        CheckpointError with a clear message when the default one is missing or corrupt. An unreadable grey
        network is left out: the default one then serves every image, and ``meta["grey_checkpoint_error"]``
        says why (the app shows it). ``grey=None`` reads ``$PSEUDOCLICK_GREY_NETWORK`` (``0`` turns it off)."""
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

    @property
    def device_name(self) -> str:
        return device_name(self.device)

    def spawn(self) -> Session:
        """A fresh session sharing this one's network, settings and image (no clicks): one per object."""
        with self._lock:
            other = Session(self.colour_model, self.device, zoom_in=self.zoom_in, zoom_side=self.zoom_side,
                            max_side=self.max_side, flip=self.flip, threshold=self.threshold,
                            min_region=self.min_region, meta=self.meta, proposal_scorer=self.proposal_scorer,
                            grey_model=self.grey_model, grey_pseudo_lifetime=self.grey_pseudo_lifetime,
                            error_net=self.error_net, grey_proposal_source=self.grey_proposal_source,
                            first_click_zoom=self.first_click_zoom, whole_model=self.whole_model,
                            **{k: getattr(self, k) for k in PROPOSAL_DEFAULTS})
            other._image = self._image
            other._image_grey = self._image_grey  # same image: not checked again for every object
            other.grey_network_on = self.grey_network_on
            other._pick_model()
            return other

    # --------------------------------------------------------------------------------------- state
    def set_image(self, image: np.ndarray) -> None:
        """H x W x 3 uint8 RGB (other layouts/types: see ``preprocess.py``). Clears all clicks."""
        rgb = to_rgb_uint8(image)
        with self._lock:
            self._image = rgb
            # 3 ms at 2048x1536: skipped when grey and colour images are treated alike
            differ = (self.grey_model is not None or self.grey_pseudo_lifetime != self.pseudo_lifetime
                      or self.grey_proposal_source != self.proposal_source)
            self._image_grey = differ and is_grey(rgb)
            self._pick_model()
            self.reset()

    @property
    def image(self) -> np.ndarray | None:
        return self._image

    @property
    def image_shape(self) -> tuple[int, int]:
        self._need_image()
        return self._image.shape[:2]

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
            self._lookahead: tuple | None = None  # (history length, click, transform, crop maps) of a scored proposal

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
                self._base_prev = np.clip(m, 0, 1)
                self._seed_mask = self._base_prev
                z = np.zeros_like(self._base_prev)
                self._last = Prediction(self._base_prev.copy(), z, z.copy(), self.threshold)
                self._dirty = False

    @property
    def clicks(self) -> list[Click]:
        """Human clicks and accepted pseudo clicks, in the order they were made."""
        with self._lock:
            return [s.click for s in self._history if s.kind in ("human", "pseudo")]

    @property
    def human_clicks(self) -> list[Click]:
        return list(self._human)

    @property
    def pseudo_clicks(self) -> list[Click]:
        return list(self._pseudo)

    def _check_source(self, value: str, key: str = "proposal_source") -> None:
        if value not in PROPOSAL_SOURCES:
            raise ValueError(f"{key} must be one of {PROPOSAL_SOURCES}, not {value!r}")
        if value == "scored" and self.proposal_scorer is None:
            raise ValueError("this model carries no proposal scorer, so the scored rule is not available")
        if value == "errornet" and self.error_net is None:
            raise ValueError("this model carries no error net, so the error-net rule is not available")
        if value == "whole" and key == "proposal_source" and self.whole_model is None:
            raise ValueError("this model has no whole-object network, so the whole rule is not available")

    def set_proposal_source(self, source: str | None) -> None:
        """Switch where proposals come from, for every image: one of PROPOSAL_SOURCES; or None for the
        checkpoint's own rules (its metadata's ``proposal_source`` and ``grey_proposal_source``, else the
        paper's). ValueError for an unknown name, or a rule the model carries nothing for (``"scored"`` without
        a scorer, ``"errornet"`` without an error net); the rules stay as they were then."""
        with self._lock:
            if source:
                colour = grey = source
            else:
                colour = self.meta.get("proposal_source", PROPOSAL_DEFAULTS["proposal_source"])
                grey = self.meta.get("grey_proposal_source", colour)
            self._check_source(colour)
            self._check_source(grey, "grey_proposal_source")
            self.proposal_source, self.grey_proposal_source = colour, grey
            if self._image is not None and not self._image_grey and grey != colour:
                self._image_grey = is_grey(self._image)  # it matters now

    def set_proposal_rule(self, rule: str | None) -> None:
        """Where suggested clicks come from: None (or ``"default"``) for the checkpoint's own rules, ``"paper"``
        for the paper's: the largest region of the predicted error maps. ValueError for any other name."""
        if rule in (None, "default"):
            self.set_proposal_source(None)
        elif rule in ("paper", "errors"):
            self.set_proposal_source("errors")
        else:
            raise ValueError(f"unknown proposal rule {rule!r}: use 'default' or 'paper'")

    @property
    def live_pseudo_clicks(self) -> list[Click]:
        """The accepted pseudo clicks the network sees now: all of them, or with the lifetime ``"step"``
        (``image_pseudo_lifetime``) those accepted since the latest human click."""
        with self._lock:
            return list(self._live_pseudo())

    @property
    def image_proposal_source(self) -> str:
        """The proposal rule that applies to the current image: ``grey_proposal_source`` for a grey image, else
        ``proposal_source``."""
        return self.grey_proposal_source if self._image_grey else self.proposal_source

    @property
    def image_pseudo_lifetime(self) -> str:
        """The pseudo-click lifetime that applies to the current image: ``grey_pseudo_lifetime`` for a grey
        image, else ``pseudo_lifetime``."""
        return self.grey_pseudo_lifetime if self._image_grey else self.pseudo_lifetime

    def _live_pseudo(self) -> list[Click]:
        lifetime = self.image_pseudo_lifetime
        if lifetime == "object" or not self._pseudo:
            return self._pseudo
        if lifetime == "contradicted":
            return [k for i, k in self._accepted_steps() if not self._contradicted(i)]
        live = []
        for step in reversed(self._history):
            if step.kind == "human":
                break
            if step.kind == "pseudo" and step.click in self._pseudo:
                live.append(step.click)
        return live[::-1]

    def _accepted_steps(self) -> list[tuple[int, Click]]:
        return [(i, h.click) for i, h in enumerate(self._history) if h.kind == "pseudo" and h.click in self._pseudo]

    def _contradicted(self, i: int) -> bool:
        """Whether a later human click says that the pseudo click of history step ``i`` did wrong: it lands on a
        pixel whose label that pseudo click's step changed, and asks for it back (a negative click on what the
        step added, a positive one on what it took away)."""
        steps = self._history
        if i + 1 >= len(steps) or not steps[i].last_valid or not steps[i + 1].last_valid:
            return False
        before, after = steps[i].last.probability, steps[i + 1].last.probability
        thr = self.threshold
        for h in steps[i + 1:]:
            if h.kind != "human":
                continue
            y = min(max(int(round(h.click.y)), 0), before.shape[0] - 1)
            x = min(max(int(round(h.click.x)), 0), before.shape[1] - 1)
            was, now = before[y, x] >= thr, after[y, x] >= thr
            if was != now and now != h.click.positive:
                return True
        return False

    @property
    def withdrawn_clicks(self) -> list[Click]:
        return list(self._withdrawn)

    @property
    def last_prediction(self) -> Prediction | None:
        return self._last

    def _need_image(self) -> None:
        if self._image is None:
            raise PseudoClickError("no image: call set_image() first")

    def _check_xy(self, x: float, y: float) -> None:
        h, w = self._image.shape[:2]
        if not (0 <= x < w and 0 <= y < h) or not np.isfinite([x, y]).all():
            raise PseudoClickError(f"click ({x:.1f}, {y:.1f}) is outside the {w} x {h} image")

    def _push(self, kind: str, click: Click) -> None:
        prev = None if self._base_prev is None else (self._base_prev * 255 + 0.5).astype(np.uint8)
        self._history.append(_Step(kind, click, prev, self._roi, self._last, not self._dirty))
        self._redo.clear()
        self._dirty = True

    # --------------------------------------------------------------------------------------- clicks
    def add_click(self, x: float, y: float, positive: bool = True) -> Click:
        """A human click. The previous-mask input becomes the latest prediction. A pseudo click accepted since
        the last prediction gets its prediction first (the app coalesces an accept and a quick click into one
        prediction; with lifetime ``step`` the pseudo click would otherwise leave the inputs without ever having
        shaped the mask, and redo would differ from what was done)."""
        with self._lock:
            self._need_image()
            self._check_xy(x, y)
            if self._dirty and self._history and self._history[-1].kind == "pseudo":
                self.predict()
            click = Click(float(x), float(y), bool(positive), "human", 1.0)
            self._push("human", click)
            if self._last is not None:
                self._base_prev = self._last.probability
                if self.image_pseudo_lifetime == "contradicted":
                    # a click that undoes what a pseudo click of this step did withdraws it, and the mask it
                    # builds on is the one from before that pseudo click
                    for i in range(len(self._history) - 2, -1, -1):  # back to the previous human click
                        step = self._history[i]
                        if step.kind == "human":
                            break
                        if step.kind == "pseudo" and step.click in self._pseudo and self._contradicted(i):
                            self._base_prev = step.last.probability
                            break
            self._human.append(click)
            return click

    def propose_pseudo_click(self) -> Click | None:
        """The next click the network suggests (runs ``predict`` first when clicks changed), from the sources
        ``proposal_source`` names: ``"errors"`` — the largest error region of the predicted FP/FN maps (the
        paper); ``"islands"`` — a negative click on a part of the mask that no positive click holds;
        ``"islands+errors"`` — an island if there is one, else the error maps; ``"views"`` — where the network's
        mirrored view (one more pass) is confident that the mask is wrong; ``"islands+views"`` — an island, else
        the mirrored view; ``"errornet"`` — the largest error region of the error net's maps (``engine/error_net.py``:
        a small network that sees the mask, the error maps, the mirrored view, the clicks and the image);
        ``"whole"`` — a positive click where the whole-object network (``whole_model``, fine-tuned on whole objects
        only) is confident that the object goes on beyond the mask (``view_click`` with its mask as the second
        view; one more pass). None when nothing qualifies. Grey images follow ``grey_proposal_source``
        (``image_proposal_source``).

        The search runs on the network's own output grid (the zoom-in crop), not on the full-resolution
        maps, so its cost does not grow with the photo; the click is mapped back to image pixels."""
        with self._lock:
            step = self._crop_step()
            if step is None:
                return None
            t, maps = step
            scale_x = t.out_w / (t.roi[2] - t.roi[0])
            scale_y = t.out_h / (t.roi[3] - t.roi[1])
            source = self.image_proposal_source
            if source == "scored":
                return self._propose_scored(t)
            min_area = max(4, int(round(self.min_region * scale_x * scale_y)))
            blocked = self._blocked_mask(t)
            if source == "errornet":
                c = self._errornet_click(t, maps, min_area, blocked)
                if c is None:
                    return None
                x, y = self._to_image(c.col, c.row, t)
                return Click(x, y, c.positive, "pseudo", c.confidence, int(round(c.area / (scale_x * scale_y))))
            crop_image = None
            if self.island_colour_llr is not None or self.error_colour_llr is not None:
                crop_image = t.forward_image(self._image)
            c = None
            if source.startswith("islands"):
                positives = [t.forward_point(k.x, k.y)[::-1] for k in self._human + self._live_pseudo() if k.positive]
                tried = None if blocked is None else blocked.copy()
                labels = None  # the mask's parts, labelled once when the gate skips an island
                for _ in range(3 if self.island_trial == "gate" else 1):
                    c = island_click(maps[..., 0], positives, min_area, tried, self.proposal_rank,
                                     self.island_min_fraction, confidence=self.island_confidence,
                                     min_gap=self.island_min_gap,
                                     image=crop_image, max_colour_llr=self.island_colour_llr)
                    if c is None or self.island_trial == "off":
                        break
                    # the "same object?" trial: the network's mask with a positive click on the island
                    xy = self._to_image(c.col, c.row, t)
                    trial = self._run(t, self.predict().probability, self._human + [Click(*xy, True, "human")], self._live_pseudo())
                    if not joins_held(trial[..., 0], maps[..., 0], c.row, c.col, positives):
                        c = replace(c, confidence=float(self.island_trial_confidence))  # passed the trial
                        break
                    if self.island_trial == "gate":  # skip this island, try the next one
                        if labels is None:
                            _, labels = cv2.connectedComponents((maps[..., 0] >= 0.5).astype(np.uint8), connectivity=8)
                        part = labels == labels[c.row, c.col]
                        tried = part if tried is None else tried | part
                        c = None
            if c is None and source in VIEW_SOURCES:
                mirrored = self._run(t, self._step_prev(), mirror=True)
                c = view_click(maps[..., 0], mirrored[..., 0], self.view_threshold, self.view_signs,
                               self.view_min_depth, blocked, self.view_confidence)
            elif c is None and source == "whole":
                whole = self.whole_view(t)
                if whole is not None:
                    c = view_click(maps[..., 0], whole, self.view_threshold, "positive", self.view_min_depth,
                                   blocked, self.view_confidence)
            elif c is None and source != "islands":
                reach = None if self.fn_reach is None else self.fn_reach * max(maps.shape[:2])
                c = largest_error_click(maps[..., 1], maps[..., 2], self.error_threshold, min_area, blocked,
                                        self.proposal_rank, self.proposal_signs, maps[..., 0], reach,
                                        self.proposal_min_fraction, crop_image, self.error_colour_llr)
            if c is None:
                return None
            x, y = self._to_image(c.col, c.row, t)
            return Click(x, y, c.positive, "pseudo", c.confidence, int(round(c.area / (scale_x * scale_y))))

    def whole_view(self, t: CropTransform, inputs: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray | None:
        """The whole-object network's mask probability for the current step on its crop grid: one pass of
        ``whole_model`` on the step's inputs; None without one, or on a grey image that the grey network serves
        (it has no whole-object counterpart). ``inputs``: as ``_run``'s."""
        if self.whole_model is None or self.model is not self.colour_model:
            return None
        return self._run(t, self._step_prev(), inputs=inputs, model=self.whole_model)[..., 0]

    def _crop_step(self) -> tuple[CropTransform, np.ndarray] | None:
        """The current step's crop transform and crop maps (``predict`` runs when clicks changed); None before
        the first human click."""
        if not self._human:
            return None
        pred = self.predict()
        t: CropTransform | None = pred.extra.get("transform")
        return None if t is None else (t, pred.extra["crop_maps"])

    def error_net_maps(self) -> np.ndarray | None:
        """The error net's (true FP, true FN) probabilities for the current step on the network's crop grid
        (out_h x out_w x 2; one mirrored pass and one small-net pass), or None before the first click or without
        an error net."""
        with self._lock:
            step = self._crop_step() if self.error_net is not None else None
            return None if step is None else self._error_net_maps(*step)

    def _error_net_maps(self, t: CropTransform, maps: np.ndarray) -> np.ndarray:
        inputs = self._crop_inputs(t, self._step_prev())
        view = self._run(t, self._step_prev(), mirror=True, inputs=inputs)[..., 0]

        def points(clicks: list[Click]) -> list[tuple[float, float, bool]]:
            return [(*t.forward_point(k.x, k.y), k.positive) for k in clicks]

        x = build_inputs(inputs[0], maps, view, points(self._human), points(self._live_pseudo()))
        return self.error_net.predict(x, maps.shape[0], maps.shape[1])

    def _errornet_click(self, t: CropTransform, maps: np.ndarray, min_area: int, blocked: np.ndarray | None):
        if self.error_net is None:
            return None
        err = self._error_net_maps(t, maps)
        return largest_error_click(err[..., 0], err[..., 1], self.errornet_threshold, min_area, blocked,
                                   self.proposal_rank, "both", maps[..., 0])

    def scored_candidates(self, views: bool | None = None, zoom: bool | None = None, whole: bool | None = None,
                          sources: tuple[str, ...] | None = None) -> list[tuple[Candidate, dict[str, float], Click, np.ndarray]]:
        """The scored rule's candidates for the current step (``engine.pseudo.proposal_candidates``), each with
        its PROPOSAL_FEATURES, the pseudo click it would be (image pixels) and the network's crop maps with it
        accepted (the look-ahead pass, one forward each). Used by ``propose_pseudo_click`` and by
        ``training/proposals.py`` to fit the scorer; [] before the first click. ``views``: also run the mirrored
        pass (its ``view`` candidate and every candidate's ``pview``); by default only when the scorer uses it.
        ``zoom``: also look for the ``zoom`` candidate (``zoom_view``; its ``pview`` is the closer view's); by
        default when the scorer has a model for it. ``whole``: also run the whole-object network (``whole_view``;
        its ``whole`` candidate and every candidate's ``pwhole``) when the session has one; by default when the
        scorer uses it. ``sources``: only these kinds of candidate get a look-ahead and are returned (default all)."""
        with self._lock:
            step = self._crop_step()
            if step is None:
                return []
            t, maps = step
            scale = (t.out_w / (t.roi[2] - t.roi[0])) * (t.out_h / (t.roi[3] - t.roi[1]))
            min_area = max(4, int(round(self.min_region * scale)))
            live = self._live_pseudo()
            positives = [t.forward_point(k.x, k.y)[::-1] for k in self._human + live if k.positive]
            humans = [t.forward_point(k.x, k.y)[::-1] for k in self._human]
            h, w = self._image.shape[:2]
            prev = self._step_prev()
            if views is None:
                views = self.proposal_scorer is not None and self.proposal_scorer.uses_view
            if zoom is None:
                zoom = self.proposal_scorer is not None and self.proposal_scorer.uses_zoom
            if whole is None:
                whole = self.proposal_scorer is not None and self.proposal_scorer.uses_whole
            inputs = self._crop_inputs(t, prev)  # shared by the mirrored and every look-ahead pass
            view = self._run(t, prev, mirror=True, inputs=inputs)[..., 0] if views else None
            blocked = self._blocked_mask(t)
            cands = proposal_candidates(maps, positives, min_area, blocked, self.error_threshold,
                                        view=view, view_threshold=self.view_threshold,
                                        view_min_depth=self.view_min_depth)
            closer = self.zoom_view(t, prev) if zoom else None
            more = self.whole_view(t, inputs) if whole else None
            for source, second, signs in (("zoom", closer, "both"), ("whole", more, "positive")):
                found = None if second is None else view_candidate(source, maps[..., 0], second, self.view_threshold,
                                                                   signs, self.view_min_depth, blocked)
                if found is not None:
                    cands.append(found)
            if sources is not None:
                cands = [c for c in cands if c.source in sources]
            if not cands:
                return []
            image = inputs[0]
            held = held_distance(maps[..., 0], positives)
            roi_frac = (t.roi[2] - t.roi[0]) * (t.roi[3] - t.roi[1]) / float(h * w)
            out = []
            for cand in cands:
                c = cand.click
                x, y = self._to_image(c.col, c.row, t)
                click = Click(x, y, c.positive, "pseudo", 1.0, int(round(c.area / scale)))
                after = self._run(t, prev, self._human, live + [click], inputs=inputs)
                feats = candidate_features(cand, maps, after, image, positives, humans, h * w * scale, roi_frac, held,
                                           closer if cand.source == "zoom" else view, more)
                out.append((cand, feats, click, after))
            return out

    def zoom_view(self, t: CropTransform, prev: np.ndarray) -> np.ndarray | None:
        """The network's closer view of the current step, as a mask probability on the step's grid (0 outside
        the window): while the step still sees the whole image (the first click: RITM zooms in from the second),
        one pass on the zoom-in window that the next click would get (mask and positive clicks, x1.4). None when
        zoom-in is off, the step is already zoomed in, or the window would not show the object at least
        ``zoom_view_min_gain`` times larger than the step does (a view at the same scale adds little; measured in
        models/MODEL.md, session 12)."""
        h, w = self._image.shape[:2]
        if not self.zoom_in or self._last is None:
            return None
        tz = self._closer_transform(t, self._last.probability > 0.5, self.zoom_view_min_gain)
        if tz is None:
            return None
        roi = tz.roi
        out = np.ascontiguousarray(self._run(tz, prev)[..., 0])
        # zoom-crop pixel -> image pixel -> step-grid pixel (pixel centres to pixel centres), one affine warp
        sx, sy = t.out_w / w, t.out_h / h
        zx, zy = tz.out_w / (roi[2] - roi[0]), tz.out_h / (roi[3] - roi[1])
        m = np.array([[sx / zx, 0.0, (0.5 / zx + roi[0]) * sx - 0.5],
                      [0.0, sy / zy, (0.5 / zy + roi[1]) * sy - 0.5]], np.float64)
        return cv2.warpAffine(out, m, (t.out_w, t.out_h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                              borderValue=0.0)

    def _closer_transform(self, t: CropTransform, mask: np.ndarray, min_gain: float) -> CropTransform | None:
        """The zoom-in window the next click would get (RITM: ``mask`` H x W bool and the positive clicks,
        x1.4) while the step ``t`` still sees the whole image, if it shows the object at least ``min_gain``
        times larger than ``t`` does; else None."""
        h, w = self._image.shape[:2]
        if tuple(t.roi) != (0, 0, w, h):
            return None
        roi = expand_roi(mask, [(c.x, c.y) for c in self._human + self._live_pseudo() if c.positive])
        if roi is None:
            return None
        tz = CropTransform.fit(roi, self.zoom_side, upscale=True)
        return tz if tz.scale >= min_gain * t.scale else None

    def _propose_scored(self, t: CropTransform) -> Click | None:
        best = None
        for cand, feats, click, after in self.scored_candidates():
            p = self.proposal_scorer.probability(cand.source, feats)
            if p is None or p < self.proposal_scorer.threshold:
                continue
            key = self.proposal_scorer.rank_key(p, feats)
            if best is None or key > best[0]:
                best = (key, p, click, after)
        if best is None:
            return None
        _, p, click, after = best
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
            self._check_xy(click.x, click.y)
            c = Click(click.x, click.y, click.positive, "pseudo", click.confidence, click.region_area)
            self._push("pseudo", c)
            self._pseudo.append(c)
            return c

    def withdraw_pseudo_click(self, click: Click) -> None:
        """Reject a proposal: it is not proposed again near that spot for the current object. If it had been
        accepted, it is removed from the inputs."""
        with self._lock:
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
            self._apply_undo(step)
            self._redo.append(step)
            return step.click

    def redo(self) -> Click | None:
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

    def _apply_undo(self, step: _Step) -> None:
        if step.kind == "human":
            self._human.remove(step.click)
        elif step.kind == "pseudo":
            self._pseudo.remove(step.click)
        else:
            self._withdrawn.remove(step.click)
            if any(s.kind == "pseudo" and s.click == step.click for s in self._history):
                self._pseudo.append(step.click)
        self._base_prev = None if step.base_prev is None else step.base_prev.astype(np.float32) / 255.0
        self._roi = step.roi
        self._last = step.last
        self._dirty = not step.last_valid

    def _blocked_mask(self, t: CropTransform) -> np.ndarray | None:
        """Crop-grid pixels near withdrawn proposals (3 disk radii, in image pixels) and existing clicks (one
        radius): no proposal lands there again."""
        spots = [(c, 3 * DISK_RADIUS) for c in self._withdrawn] + [(c, DISK_RADIUS) for c in self._human + self._live_pseudo()]
        if not spots:
            return None
        blocked = np.zeros((t.out_h, t.out_w), bool)
        s = t.out_w / (t.roi[2] - t.roi[0])
        for c, r in spots:
            cx, cy = t.forward_point(c.x, c.y)
            rr = r * s + 0.5
            r_i = int(np.ceil(rr))
            y0, y1 = max(0, int(cy) - r_i), min(t.out_h, int(cy) + r_i + 2)
            x0, x1 = max(0, int(cx) - r_i), min(t.out_w, int(cx) + r_i + 2)
            if y0 >= y1 or x0 >= x1:
                continue
            yy, xx = np.ogrid[y0:y1, x0:x1]
            blocked[y0:y1, x0:x1] |= (yy - cy) ** 2 + (xx - cx) ** 2 <= rr * rr
        return blocked

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
            self._lookahead = None
            prob, fp, fn = transform.inverse_planes(out, h, w)
            if (self.first_click_zoom and self.zoom_in and len(self._human) == 1 and self._seed_mask is None
                    and self._history and self._history[-1].kind == "human"):
                # first_click_zoom: a small object's first click is answered by its zoom-in window
                closer = self._closer_transform(transform, prob > 0.5, self.first_click_zoom)
                if closer is not None:
                    transform, out, self._roi = closer, self._run(closer, prev), closer.roi
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
            if self.zoom_in and self._roi is not None and self._history and self._history[-1].kind != "human":
                return CropTransform.fit(self._roi, self.zoom_side, upscale=True)  # a first click zoomed in at once
            return CropTransform.fit(full, self.max_side, upscale=False)
        last_human = self._human[-1] if self._human else None
        last = (last_human.x, last_human.y, last_human.positive) if last_human else None
        positives = [(c.x, c.y) for c in self._human + self._live_pseudo() if c.positive]
        if self._history and self._history[-1].kind == "human" or self._roi is None:
            self._roi = update_roi(self._roi, prev > 0.5, positives, last)
        roi = self._roi or full
        return CropTransform.fit(roi, self.zoom_side, upscale=True)

    def _step_prev(self) -> np.ndarray:
        """The previous-mask input of the current step (what ``predict`` feeds the network)."""
        if self._base_prev is not None:
            return self._base_prev
        return np.zeros(self._image.shape[:2], np.float32)

    def _crop_inputs(self, t: CropTransform, prev: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The image and the previous mask resampled to the network's crop (what every pass of a step shares)."""
        img = np.array(t.forward_image(self._image), copy=True) if not self._image.flags.writeable else t.forward_image(self._image)
        return img, np.ascontiguousarray(t.forward_image(prev.astype(np.float32, copy=False)))

    @torch.inference_mode()
    def _run(self, t: CropTransform, prev: np.ndarray, human: list[Click] | None = None,
             pseudo: list[Click] | None = None, mirror: bool = False,
             inputs: tuple[np.ndarray, np.ndarray] | None = None, model: PseudoClickNet | None = None) -> np.ndarray:
        """Returns out_h x out_w x 3 probabilities (mask, fp, fn) in the crop; the session's clicks unless
        ``human`` / ``pseudo`` are given. ``mirror``: one pass on the left-right mirrored inputs, its output
        mirrored back (the second view of the ``"views"`` proposals; no flip averaging). ``inputs``:
        ``_crop_inputs(t, prev)`` when the caller runs several passes of one step. ``model``: another network
        than the image's own (``whole_model``)."""
        human = self._human if human is None else human
        pseudo = self._live_pseudo() if pseudo is None else pseudo
        if self.pseudo_input == "human":
            human, pseudo = [*human, *pseudo], []
        img, prev_c = inputs if inputs is not None else self._crop_inputs(t, prev)
        hc, wc = img.shape[:2]

        def tensor_clicks(clicks: list[Click]) -> torch.Tensor:
            pts = []
            for c in clicks:
                cx, cy = t.forward_point(c.x, c.y)
                pts.append((cy, cx, 1.0 if c.positive else -1.0))
            return torch.tensor(pts, dtype=torch.float32).view(1, len(pts), 3)

        dev = self.device
        image = torch.from_numpy(img).to(dev).permute(2, 0, 1)[None].float() / 255.0
        maps = torch.cat([torch.from_numpy(prev_c).to(dev)[None, None], disk_maps(tensor_clicks(human), hc, wc).to(dev)], 1)
        pseudo = disk_maps(tensor_clicks(pseudo), hc, wc).to(dev)
        if mirror:
            image, maps, pseudo = (x.flip(-1) for x in (image, maps, pseudo))
        elif self.flip:
            image, maps, pseudo = (torch.cat([x, x.flip(-1)]) for x in (image, maps, pseudo))
        if dev.type == "cpu":
            image, maps, pseudo = (x.contiguous(memory_format=torch.channels_last) for x in (image, maps, pseudo))
        out = (model or self.model)(image, maps, pseudo)
        logits = torch.cat([out["seg"], out["err"]], 1)
        if mirror:
            logits = logits.flip(-1)
        elif self.flip:
            logits = 0.5 * (logits[:1] + logits[1:].flip(-1))
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
