"""A deterministic stand-in for ``engine.Session`` (same public surface the GUI uses), fast at any size.

Mask: union of disks (radius ``R``) around positive clicks (human and accepted pseudo), minus disks around
negative ones, over an optional seed mask. Proposal: a positive click ``STEP`` px right of the last human click
(then below, then left...), skipping spots near withdrawn proposals and existing clicks. ``FakeConfig`` lets a
test block ``predict`` (``gate``), learn when it started (``entered``) or make it fail once (``fail_next``);
``blank`` makes every mask empty (an object that ends), ``images`` records every image given to ``set_image``.
Each session logs its calls in ``calls``: ("seed", mask), ("click", x, y, positive), ("pseudo", x, y),
("withdraw", x, y), ("predict",), in order (a restored draft's replay can be checked step by step).
"""

from __future__ import annotations

import threading
import time

import numpy as np

from pseudoclick_gui.engine.types import Click, Prediction


class FakeConfig:
    def __init__(self):
        self.gate: threading.Event | None = None
        self.entered: threading.Event | None = None
        self.fail_next = False
        self.predict_calls = 0
        self.delay = 0.0
        self.confidence = 0.8
        self.blank = False
        self.images: list[np.ndarray] = []
        self.pseudo_lifetime = "object"  # what image_pseudo_lifetime reports (the fake's masks ignore it)
        self.spent: list[tuple[float, float]] = []  # accepted pseudo clicks the fake says are no longer an input
        self.rules: list = []  # every set_proposal_rule call, in order


class FakeSession:
    R = 10
    STEP = 22
    device_name = "fake device"

    def __init__(self, config: FakeConfig | None = None):
        self.config = config or FakeConfig()
        self.model = None
        self.device = "cpu"
        self.image = None
        self.proposal_rule = None
        self.calls: list[tuple] = []
        self.reset()

    def spawn(self) -> FakeSession:
        s = FakeSession(self.config)
        s.image = self.image
        s.proposal_rule = self.proposal_rule
        return s

    @property
    def image_pseudo_lifetime(self) -> str:
        return self.config.pseudo_lifetime

    def warm_up(self) -> None:
        pass

    def set_proposal_rule(self, rule) -> None:
        if rule not in (None, "default", "paper"):
            raise ValueError(f"unknown proposal rule {rule!r}")
        self.proposal_rule = rule
        self.config.rules.append(rule)

    def set_image(self, rgb) -> None:
        self.image = np.asarray(rgb)
        self.config.images.append(self.image)
        self.reset()

    def reset(self) -> None:
        self._history: list[tuple[str, Click]] = []
        self._redo: list[tuple[str, Click]] = []
        self._seed = None

    def set_previous_mask(self, mask) -> None:
        self.calls.append(("seed", None if mask is None else np.asarray(mask, bool).copy()))
        self.reset()
        self._seed = None if mask is None else np.asarray(mask, bool).copy()

    @property
    def human_clicks(self):
        return [c for k, c in self._history if k == "human"]

    @property
    def pseudo_clicks(self):
        withdrawn = self.withdrawn_clicks
        return [c for k, c in self._history if k == "pseudo" and c not in withdrawn]

    @property
    def live_pseudo_clicks(self):
        return [c for c in self.pseudo_clicks if (c.x, c.y) not in self.config.spent]

    @property
    def withdrawn_clicks(self):
        return [c for k, c in self._history if k == "withdraw"]

    def _push(self, kind, click):
        self._history.append((kind, click))
        self._redo.clear()
        return click

    def add_click(self, x, y, positive=True):
        h, w = self.image.shape[:2]
        if not (0 <= x < w and 0 <= y < h):
            raise ValueError("outside")
        self.calls.append(("click", float(x), float(y), bool(positive)))
        return self._push("human", Click(float(x), float(y), bool(positive)))

    def accept_pseudo_click(self, c):
        self.calls.append(("pseudo", c.x, c.y))
        return self._push("pseudo", Click(c.x, c.y, c.positive, "pseudo", c.confidence, c.region_area))

    def withdraw_pseudo_click(self, c):
        self.calls.append(("withdraw", c.x, c.y))
        self._push("withdraw", Click(c.x, c.y, c.positive, "pseudo", c.confidence, c.region_area))

    def undo(self):
        if not self._history:
            return None
        step = self._history.pop()
        self._redo.append(step)
        return step[1]

    def redo(self):
        if not self._redo:
            return None
        step = self._redo.pop()
        self._history.append(step)
        return step[1]

    def _disk(self, c, h, w):
        yy, xx = np.ogrid[:h, :w]
        return (yy - c.y) ** 2 + (xx - c.x) ** 2 <= self.R**2

    def predict(self) -> Prediction:
        cfg = self.config
        cfg.predict_calls += 1
        self.calls.append(("predict",))
        if cfg.entered is not None:
            cfg.entered.set()
        if cfg.gate is not None:
            cfg.gate.wait(10)
        if cfg.delay:
            time.sleep(cfg.delay)
        if cfg.fail_next:
            cfg.fail_next = False
            raise RuntimeError("injected failure")
        h, w = self.image.shape[:2]
        m = np.zeros((h, w), bool) if self._seed is None else self._seed.copy()
        for c in self.human_clicks + self.pseudo_clicks:
            d = self._disk(c, h, w)
            m = m | d if c.positive else m & ~d
        if cfg.blank:
            m[:] = False
        prob = m.astype(np.float32)
        fn = np.zeros((h, w), np.float32)
        fp = np.zeros((h, w), np.float32)
        if self.human_clicks:
            fn[: h // 4, : w // 4] = 0.7
        return Prediction(prob, fp, fn, 0.5, 1.0)

    def propose_pseudo_click(self, cancelled=None):
        if not self.human_clicks:
            return None
        self.predict()
        h, w = self.image.shape[:2]
        last = self.human_clicks[-1]
        taken = [c for k, c in self._history]
        for dx, dy in ((1, 0), (0, 1), (-1, 0), (0, -1), (1, 1), (-1, -1)):
            x, y = last.x + dx * self.STEP, last.y + dy * self.STEP
            if not (0 <= x < w and 0 <= y < h):
                continue
            if any((c.x - x) ** 2 + (c.y - y) ** 2 < (self.R * 1.5) ** 2 for c in taken):
                continue
            return Click(float(x), float(y), True, "pseudo", self.config.confidence, 50)
        return None


def fake_factory(config: FakeConfig | None = None):
    def make():
        return FakeSession(config), ""

    return make
