"""Small value objects shared by the engine, the evaluation harness and the GUI (numpy only)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Click:
    """One click in image pixel coordinates.

    ``x`` is the column and ``y`` the row, both in pixels of the image given to ``Session.set_image``
    (floats allowed; the click covers the pixel ``(int(round(y)), int(round(x)))``).
    ``positive`` marks foreground. ``kind`` is ``"human"`` or ``"pseudo"``. ``confidence`` is in [0, 1]:
    1 for human clicks; for a pseudo click from the error maps, the mean error probability inside the region it
    came from; for one on an island (a mask part no positive click holds), the rule's measured precision, which
    the checkpoint's metadata carries (``island_confidence``, or ``island_trial_confidence`` when the island
    passed the "same object?" trial pass, ``Session.island_trial``); for one from the scored rule
    (``proposal_source="scored"``), the fitted probability that accepting it improves the mask.
    """

    x: float
    y: float
    positive: bool = True
    kind: str = "human"
    confidence: float = 1.0
    region_area: int = 0

    @property
    def rc(self) -> tuple[int, int]:
        """(row, col) integer pixel."""
        return int(round(self.y)), int(round(self.x))


@dataclass
class Prediction:
    """The network's answer for the current clicks, at image resolution.

    probability, fp, fn: H x W float32 in [0, 1] (foreground probability, and the probabilities that the
    thresholded mask is a false positive / a false negative at each pixel).
    """

    probability: np.ndarray
    fp: np.ndarray
    fn: np.ndarray
    threshold: float = 0.5
    elapsed_ms: float = 0.0
    roi: tuple[int, int, int, int] | None = None  # (x0, y0, x1, y1) zoom-in window used, exclusive ends
    extra: dict = field(default_factory=dict)

    @property
    def mask(self) -> np.ndarray:
        """H x W bool: probability > threshold."""
        return self.probability > self.threshold
