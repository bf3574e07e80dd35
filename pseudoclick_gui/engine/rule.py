"""``ProposalRule``: where the next suggested click comes from, and how long an accepted one stays an input.

A checkpoint carries its rules in its metadata (chosen on development data, ``models/MODEL.md``): one for colour
images and one for grey ones (three equal channels: medical, EM), which may differ. Three sources exist:

* ``"errors"`` — the paper's rule: the largest region of the predicted FP/FN maps (``largest_error_click``).
* ``"islands+errors"`` — a negative click on a part of the mask that no positive click holds, else the error
  maps. With ``island_trial_confidence`` set, the network first runs once more with a positive click on the
  island: if it then makes one object of the island and the clicked part, the island is probably a piece of
  the object and the click keeps the low ``island_confidence``; otherwise it carries the high one.
* ``"scored"`` — every candidate (islands, FP and FN regions, the mirrored view's) looked ahead and weighed by
  the fitted ``ProposalScorer``; the click's confidence is the scorer's probability.

``lifetime``: an accepted pseudo click stays a network input for the whole object (``"object"``, the paper) or
only until the next human click (``"step"``; its effect lives on in the previous-mask input).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, fields, replace

import numpy as np

from ..errors import CheckpointError
from .pseudo import RANKS, SIGNS, ErrorRegionClick, ProposalScorer, island_click, largest_error_click

SOURCES = ("errors", "islands+errors", "scored")
LIFETIMES = ("object", "step")
# metadata key of each field (grey images: "grey_" + key for source and lifetime, the rest shared)
_META_KEYS = {"source": "proposal_source", "lifetime": "pseudo_lifetime", "error_threshold": "error_threshold",
              "rank": "proposal_rank", "signs": "proposal_signs", "min_fraction": "proposal_min_fraction",
              "island_confidence": "island_confidence", "island_trial_confidence": "island_trial_confidence",
              "view_threshold": "view_threshold", "view_min_depth": "view_min_depth", "scorer": "proposal_scorer"}
_PROBABILITIES = ("error_threshold", "min_fraction", "island_confidence", "island_trial_confidence", "view_threshold")


@dataclass(frozen=True)
class ProposalRule:
    """The defaults are the paper's rule: error maps at 0.5, the largest region over both maps."""

    source: str = "errors"
    lifetime: str = "object"
    error_threshold: float = 0.5  # FP/FN probability above which a pixel is an error
    rank: str = "area"  # which region wins: the largest ("area") or the one whose interior lies deepest
    signs: str = "both"  # which error maps may propose: both, negative (FP) or positive (FN)
    min_fraction: float = 0.0  # no error-map proposal from a region smaller than this fraction of the mask
    island_confidence: float = 0.5  # the confidence an island proposal shows
    island_trial_confidence: float | None = None  # None: no "same object?" trial; else the confidence it gives
    view_threshold: float = 0.3  # scored rule: the mirrored view's candidate needs at least 1 - this
    view_min_depth: float = 2.0  # ... and this depth in grid pixels
    scorer: ProposalScorer | None = None  # the scored rule's model

    def __post_init__(self):
        if self.source not in SOURCES:
            raise ValueError(f"proposal source must be one of {SOURCES}, not {self.source!r}")
        if self.lifetime not in LIFETIMES:
            raise ValueError(f"pseudo-click lifetime must be one of {LIFETIMES}, not {self.lifetime!r}")
        if self.rank not in RANKS:
            raise ValueError(f"proposal rank must be one of {RANKS}, not {self.rank!r}")
        if self.signs not in SIGNS:
            raise ValueError(f"proposal signs must be one of {SIGNS}, not {self.signs!r}")
        for name in (*_PROBABILITIES, "view_min_depth"):
            value = getattr(self, name)
            if value is None and name == "island_trial_confidence":
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"{name} must be a finite number, not {value!r}")
            if name in _PROBABILITIES and not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must lie between 0 and 1, not {value!r}")
        if self.source == "scored" and self.scorer is None:
            raise ValueError("the scored rule needs a proposal scorer, and there is none")

    @classmethod
    def paper(cls) -> ProposalRule:
        return cls()

    @classmethod
    def from_meta(cls, meta: dict, grey: bool = False) -> ProposalRule:
        """The checkpoint's rule for colour (or ``grey``) images; keys it does not know are ignored, a missing
        key takes the paper's value. CheckpointError names what is wrong in a bad one."""
        if not isinstance(meta, dict):
            raise CheckpointError(f"the checkpoint's metadata is a {type(meta).__name__}, not a dict")
        values = {}
        for name, key in _META_KEYS.items():
            if grey and name in ("source", "lifetime") and meta.get("grey_" + key) is not None:
                key = "grey_" + key
            if meta.get(key) is not None:
                values[name] = meta[key]
        if meta.get("island_trial", "off") == "off":  # older checkpoints switch the trial with its own key
            values.pop("island_trial_confidence", None)
        try:
            if "scorer" in values:
                values["scorer"] = ProposalScorer.from_dict(values["scorer"])
            for name in (*_PROBABILITIES, "view_min_depth"):
                if name in values and isinstance(values[name], (int, float)) and not isinstance(values[name], bool):
                    values[name] = float(values[name])
            return cls(**values)
        except (ValueError, TypeError) as e:
            raise CheckpointError(f"the checkpoint's proposal rule is unusable: {e}") from None

    def to_meta(self, grey: bool = False) -> dict:
        """The metadata keys ``from_meta`` reads back (``grey``: the source and lifetime as the grey ones)."""
        out = {}
        for f in fields(self):
            key, value = _META_KEYS[f.name], getattr(self, f.name)
            if grey and f.name in ("source", "lifetime"):
                key = "grey_" + key
            if f.name == "scorer":
                value = None if value is None else value.to_dict()
            if value is not None:
                out[key] = value
        out["island_trial"] = "off" if self.island_trial_confidence is None else "confidence"
        return out

    def with_scorer(self, scorer: ProposalScorer | None) -> ProposalRule:
        return replace(self, scorer=scorer)


def rule_click(rule: ProposalRule, maps: np.ndarray, positives: list[tuple[float, float]], min_area: int,
               blocked: np.ndarray | None = None,
               joins: Callable[[ErrorRegionClick], bool] | None = None) -> ErrorRegionClick | None:
    """One proposal of the ``"errors"`` or ``"islands+errors"`` rule on one grid: ``maps`` H x W x 3 (mask, FP, FN
    probabilities), ``positives`` (row, col) of the positive clicks on it, ``blocked`` pixels where no click may
    land. ``joins(click)``: the "same object?" trial (``joins_held`` of one more network pass); without it an
    island keeps ``island_confidence``. The engine and the training loop both propose through this."""
    c = None
    if rule.source == "islands+errors":
        c = island_click(maps[..., 0], positives, min_area, blocked, rule.rank, confidence=rule.island_confidence)
        if c is not None and rule.island_trial_confidence is not None and joins is not None and not joins(c):
            c = replace(c, confidence=float(rule.island_trial_confidence))
    if c is None:
        c = largest_error_click(maps[..., 1], maps[..., 2], rule.error_threshold, min_area, blocked, rule.rank,
                                rule.signs, maps[..., 0], rule.min_fraction)
    return c
