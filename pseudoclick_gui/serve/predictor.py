"""The engine side of ``/predict``: one task's keypoints -> mask and pseudo click, with sessions cached.

Sessions live in a bounded LRU cache keyed by (task, image, label). A request whose keypoints extend the
cached ones costs one network step per new click (``predict`` after each new click, then one proposal); a
request that drops or changes keypoints undoes back to the longest common prefix (no network: the engine's
undo restores the earlier prediction) and adds the rest. A cache miss loads the image and replays.

A keypoint that lands on a pseudo click this object was offered (same sign, within ``match_px`` pixels or
``match_frac`` of the image's longer side), or that carries the ``pseudo-`` region id this server gives its
suggestions, is that pseudo click kept by the annotator: ``accept_pseudo_click``, not a human click.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, OrderedDict
from dataclasses import dataclass, field

import cv2
import numpy as np

from . import protocol
from .errors import BadRequest, ServeError
from .images import ImageSource
from .rle import encode_mask
from .settings import ServeSettings

_SAME_PX = 0.05  # two keypoints closer than this (engine pixels) are the same click


@dataclass(frozen=True)
class Job:
    """One task of a ``/predict`` request, as the engine needs it (picklable: it travels to worker processes)."""

    key: tuple
    image_ref: str
    interaction: protocol.Interaction


@dataclass(frozen=True)
class Step:
    kind: str  # "human" | "pseudo"
    x: float
    y: float
    positive: bool
    confidence: float = 1.0

    def same(self, other: Step) -> bool:
        return (self.kind == other.kind and self.positive == other.positive
                and abs(self.x - other.x) <= _SAME_PX and abs(self.y - other.y) <= _SAME_PX)


@dataclass
class Entry:
    """A cached engine session for one object, and what it has seen."""

    session: object = None
    shape: tuple[int, int] = (0, 0)
    steps: list[Step] = field(default_factory=list)
    suggestions: list = field(default_factory=list)  # engine Clicks proposed for this object
    lock: threading.Lock = field(default_factory=threading.Lock)

    def nbytes(self) -> int:
        """Estimated memory: the image, and per step the engine's kept prediction (3 float32 planes) and
        previous-mask input (uint8)."""
        h, w = self.shape
        return h * w * (3 + 13 * (len(self.steps) + 1))


class SessionCache:
    """Bounded LRU of ``Entry`` by key: at most ``max_entries`` and about ``max_bytes`` (estimated)."""

    def __init__(self, max_entries: int, max_bytes: int):
        self.max_entries = max(1, int(max_entries))
        self.max_bytes = max(1, int(max_bytes))
        self._d: OrderedDict[tuple, Entry] = OrderedDict()
        self._lock = threading.Lock()
        self.evictions = 0

    def get_or_add(self, key: tuple) -> tuple[Entry, bool]:
        with self._lock:
            e = self._d.get(key)
            if e is not None:
                self._d.move_to_end(key)
                return e, True
            e = Entry()
            self._d[key] = e
            return e, False

    def drop(self, key: tuple, entry: Entry) -> None:
        with self._lock:
            if self._d.get(key) is entry:
                del self._d[key]

    def trim(self) -> None:
        with self._lock:
            total = sum(e.nbytes() for e in self._d.values())
            while self._d and (len(self._d) > self.max_entries or total > self.max_bytes):
                if len(self._d) == 1:
                    break  # the entry just used stays, whatever its size
                _, e = self._d.popitem(last=False)
                total -= e.nbytes()
                self.evictions += 1

    def __len__(self) -> int:
        return len(self._d)

    def bytes(self) -> int:
        with self._lock:
            return sum(e.nbytes() for e in self._d.values())


class Predictor:
    """Loads the network once; answers jobs from any thread (one lock per cached session)."""

    def __init__(self, settings: ServeSettings, base=None):
        import torch

        from ..engine import Session

        self.settings = settings
        torch.set_num_threads(settings.resolved_torch_threads())
        self.base = base if base is not None else Session.from_default_checkpoint(device=settings.device)
        if settings.proposal_rule is not None:
            setter = getattr(self.base, "set_proposal_rule", None)
            if setter is None:
                raise ServeError("this engine cannot change its proposal rule", 500)
            setter(settings.proposal_rule)
        self.images = ImageSource(settings)
        self.cache = SessionCache(settings.cache_size, settings.cache_mb << 20)
        self.stats: Counter = Counter()
        self._stats_lock = threading.Lock()
        meta = getattr(self.base, "meta", {}) or {}
        name = str(meta.get("name") or meta.get("checkpoint") or "pseudoclick-lite0")
        self.model_version = f"pseudoclick/{name.rsplit('/', 1)[-1]}" + \
            (f"/{settings.proposal_rule}" if settings.proposal_rule else "")

    # ------------------------------------------------------------------------------------------ warm-up
    def warm_up(self) -> None:
        """A first click and a zoomed-in second click on a small synthetic image, so that the first real
        request does not pay for lazy initialisation."""
        self.base.warm_up()
        img = np.full((96, 128, 3), 40, np.uint8)
        cv2.ellipse(img, (64, 48), (30, 20), 0, 0, 360, (200, 120, 60), -1)
        s = self.base.spawn()
        s.set_image(img)
        for x, y in ((64, 48), (40, 48)):
            s.add_click(x, y, True)
            s.predict()
            s.propose_pseudo_click()

    # ------------------------------------------------------------------------------------------ one task
    def run(self, job: Job) -> dict:
        t0 = time.perf_counter()
        entry, hit = self.cache.get_or_add(job.key)
        try:
            with entry.lock:
                if entry.session is None:
                    rgb = self.images.load(job.image_ref)
                    s = self.base.spawn()
                    s.set_image(rgb)
                    entry.session, entry.shape = s, rgb.shape[:2]
                    hit = False
                result = self._answer(entry, job, hit)
        except BaseException:
            if entry.session is None or not entry.steps:
                self.cache.drop(job.key, entry)
            raise
        self.cache.trim()
        result["ms"] = round((time.perf_counter() - t0) * 1000, 1)
        return result

    def _answer(self, entry: Entry, job: Job, hit: bool) -> dict:
        s = entry.session
        h, w = entry.shape
        it = job.interaction
        target = self._classify(protocol.to_pixels(it.points, w, h), entry, w, h)
        n = 0
        while n < min(len(entry.steps), len(target)) and entry.steps[n].same(target[n]):
            n += 1
        undone = len(entry.steps) - n
        for _ in range(undone):
            s.undo()
        del entry.steps[n:]
        added = 0
        for step in target[n:]:
            if step.kind == "pseudo":
                from ..engine import Click

                s.accept_pseudo_click(Click(step.x, step.y, step.positive, "pseudo", step.confidence))
            else:
                s.add_click(step.x, step.y, step.positive)
            entry.steps.append(step)
            s.predict()  # each click gets its own prediction, as it did when it was made
            added += 1
        pred = s.predict()
        proposal = s.propose_pseudo_click()
        if proposal is not None:
            entry.suggestions.append(proposal)
        with self._stats_lock:
            self.stats["requests"] += 1
            self.stats["cache_hits" if hit else "cache_misses"] += 1
            self.stats["clicks_added"] += added
            self.stats["clicks_undone"] += undone
            self.stats["pseudo_kept"] += sum(st.kind == "pseudo" for st in target[n:])
        out_w, out_h = it.width or w, it.height or h
        mask = pred.mask
        if (out_w, out_h) != (w, h):
            mask = cv2.resize(mask.astype(np.uint8), (out_w, out_h), interpolation=cv2.INTER_NEAREST) > 0
        inside = pred.probability[pred.mask]
        score = float(inside.mean()) if inside.size else 0.0
        regions = [protocol.brush_region(encode_mask(mask), out_w, out_h, it, score)]
        if proposal is not None:
            sx, sy = out_w / w, out_h / h  # same percent either way; pixel sizes may differ (EXIF, resize)
            px, py = (proposal.x + 0.5) * sx - 0.5, (proposal.y + 0.5) * sy - 0.5
            regions.append(protocol.pseudo_click_region(px, py, proposal.positive, float(proposal.confidence),
                                                        out_w, out_h, it))
        return {
            "result": regions,
            "score": round(score, 4),
            "model_version": self.model_version,
            "cache": "hit" if hit else "miss",
            "clicks": {"human": sum(st.kind == "human" for st in entry.steps),
                       "pseudo": sum(st.kind == "pseudo" for st in entry.steps),
                       "added": added, "undone": undone},
        }

    def _classify(self, points: list[protocol.Point], entry: Entry, w: int, h: int) -> list[Step]:
        tol = max(self.settings.match_px, self.settings.match_frac * max(w, h))
        steps = []
        for p in points:
            best, best_d = None, tol
            for c in entry.suggestions:
                d = float(np.hypot(c.x - p.x, c.y - p.y))
                if c.positive == p.positive and d <= best_d:
                    best, best_d = c, d
            if best is not None:
                steps.append(Step("pseudo", float(best.x), float(best.y), bool(best.positive),
                                  float(best.confidence)))
            elif p.ours:  # ours, but this object's cache entry was evicted: keep it as a pseudo click
                steps.append(Step("pseudo", p.x, p.y, p.positive, 0.5))
            else:
                steps.append(Step("human", p.x, p.y, p.positive))
        if len(steps) > self.settings.max_clicks:
            raise BadRequest(f"more than {self.settings.max_clicks} keypoints for one object")
        return steps

    def snapshot(self) -> dict:
        with self._stats_lock:
            stats = dict(self.stats)
        return {**stats, "cached_sessions": len(self.cache), "cache_evictions": self.cache.evictions,
                "cache_mb_estimate": round(self.cache.bytes() / 2**20, 1)}
