"""Label Studio's ML-backend protocol: what ``/predict`` receives and what it answers.

A request (Label Studio's ``MLApi.make_predictions``)::

    {"tasks": [{"id": 7, "data": {"image": "/data/upload/1/cat.jpg"}, ...}],
     "model_version": "...", "project": "3.1700000000", "label_config": "<View>...</View>",
     "params": {"login": null, "password": null,
                "context": {"result": [{"type": "keypointlabels", "from_name": "kp", "to_name": "image",
                                        "original_width": 640, "original_height": 480, "is_positive": true,
                                        "value": {"x": 41.2, "y": 57.9, "width": 0.6, "keypointlabels": ["Cat"]}}]}}}

Keypoints are in percent of the image (``x`` of the width, ``y`` of the height). The engine's clicks are pixel
indices (x = column, y = row; a pixel's centre is its integer coordinate), so a keypoint at ``x`` % is the
engine click ``x / 100 * W - 0.5``, and back.

The answer is ``{"results": [prediction per task], "model_version": ...}``, one prediction holding a
``brushlabels`` region (the mask, brush RLE) and, when the network proposes one, a ``keypointlabels`` region
for the pseudo click: its ``meta.text`` says it is a suggestion, ``score`` is its confidence, ``is_positive``
its sign, and its ``id`` starts with ``pseudo-`` so that it is recognised when it comes back.
"""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from .errors import BadRequest

PSEUDO_ID_PREFIX = "pseudo-"


@dataclass(frozen=True)
class Point:
    """A keypoint in engine pixels (x = column, y = row), with its sign and what Label Studio said of it."""

    x: float
    y: float
    positive: bool
    label: str | None = None
    region_id: str = ""

    @property
    def ours(self) -> bool:
        """A region this server returned as a pseudo click (Label Studio keeps region ids)."""
        return self.region_id.startswith(PSEUDO_ID_PREFIX)


@dataclass
class Tags:
    """Names from the labeling config: the image, the brush and keypoint controls, the image's data key."""

    image: str = "image"
    data_key: str = "image"
    brush: str | None = None
    keypoint: str | None = None
    brush_labels: list[str] = field(default_factory=list)


def parse_label_config(xml: str | None) -> Tags:
    """Reads the first ``<Image>`` and the ``<BrushLabels>``/``<KeyPointLabels>`` pointing at it. An absent or
    unreadable config gives the defaults (Label Studio always sends one)."""
    tags = Tags()
    if not xml or not isinstance(xml, str):
        return tags
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as exc:
        raise BadRequest(f"label_config is not valid XML ({exc})") from None
    images = [e for e in root.iter() if e.tag == "Image"]
    if images:
        tags.image = images[0].get("name", "image")
        value = images[0].get("value", "$image")
        tags.data_key = value[1:] if value.startswith("$") else value
    for e in root.iter():
        if e.get("toName", tags.image).split(",")[0] != tags.image:
            continue
        if e.tag == "BrushLabels" and tags.brush is None:
            tags.brush = e.get("name")
            tags.brush_labels = [lab.get("value", "") for lab in e if lab.tag == "Label"]
        elif e.tag == "KeyPointLabels" and tags.keypoint is None:
            tags.keypoint = e.get("name")
    return tags


@dataclass
class Interaction:
    """The object a request is about: its keypoints (in order), the label, and the size Label Studio shows."""

    points: list[Point]
    label: str | None
    width: int | None
    height: int | None
    brush: str | None
    keypoint: str | None
    to_name: str | None


def parse_context(context, tags: Tags, max_clicks: int) -> Interaction | None:
    """The keypoints of the object being drawn, or None when the context holds none (no interaction yet).

    Keypoints are grouped by label: the object is the keypoints sharing the label of the last one, so that a
    second object of another class on the same image starts afresh. Coordinates stay in percent here
    (``Point.x``/``y`` are percent until :func:`to_pixels`)."""
    if context is None:
        return None
    if not isinstance(context, dict):
        raise BadRequest("params.context must be an object")
    results = context.get("result") or []
    if not isinstance(results, list):
        raise BadRequest("params.context.result must be a list")
    raw: list[tuple[Point, dict]] = []
    for r in results:
        if not isinstance(r, dict) or r.get("type", "").lower() != "keypointlabels":
            continue  # rectangles, brushes ... are not clicks
        v = r.get("value")
        if not isinstance(v, dict):
            raise BadRequest("a keypoint without a value")
        try:
            x, y = float(v["x"]), float(v["y"])
        except (KeyError, TypeError, ValueError):
            raise BadRequest("a keypoint's value needs numeric x and y (percent)") from None
        if not (0.0 <= x <= 100.0 and 0.0 <= y <= 100.0):
            raise BadRequest(f"keypoint ({x}, {y}) is outside the image (percent coordinates 0..100)")
        labels = v.get("keypointlabels") or v.get("labels") or []
        label = str(labels[0]) if isinstance(labels, list) and labels else None
        positive = r.get("is_positive", True)
        positive = positive if isinstance(positive, bool) else str(positive).lower() not in ("0", "false", "")
        raw.append((Point(x, y, positive, label, str(r.get("id") or "")), r))
    if not raw:
        return None
    label = raw[-1][0].label
    chosen = [(p, r) for p, r in raw if p.label == label]
    if len(chosen) > max_clicks:
        raise BadRequest(f"more than {max_clicks} keypoints for one object")
    last = chosen[-1][1]
    width, height = _int_or_none(last.get("original_width")), _int_or_none(last.get("original_height"))
    return Interaction([p for p, _ in chosen], label, width, height, tags.brush,
                       last.get("from_name") or tags.keypoint, last.get("to_name") or tags.image)


def to_pixels(points: list[Point], width: int, height: int) -> list[Point]:
    """Percent -> engine pixel coordinates (clamped to the image)."""
    out = []
    for p in points:
        x = min(max(p.x / 100.0 * width - 0.5, 0.0), width - 1.0)
        y = min(max(p.y / 100.0 * height - 0.5, 0.0), height - 1.0)
        out.append(Point(x, y, p.positive, p.label, p.region_id))
    return out


def to_percent(x: float, y: float, width: int, height: int) -> tuple[float, float]:
    return (x + 0.5) / width * 100.0, (y + 0.5) / height * 100.0


def _region(region_id: str, from_name: str, kind: str, width: int, height: int, interaction: Interaction,
            value: dict, **fields) -> dict:
    """A Label Studio result region on the image: the common keys, *value* with the label under *kind*,
    then *fields* (score, ...)."""
    return {
        "id": region_id,
        "from_name": from_name,
        "to_name": interaction.to_name or "image",
        "type": kind,
        "original_width": width,
        "original_height": height,
        "image_rotation": 0,
        "value": {**value, kind: [interaction.label] if interaction.label else []},
        **fields,
        "readonly": False,
    }


def brush_region(rle: list[int], width: int, height: int, interaction: Interaction, score: float) -> dict:
    return _region("pcmask-" + _short_hash(interaction.label, len(interaction.points), width, height),
                   interaction.brush or "brush", "brushlabels", width, height, interaction,
                   {"format": "rle", "rle": rle}, score=round(float(score), 4))  # fmt: skip


def pseudo_click_region(x: float, y: float, positive: bool, confidence: float, width: int, height: int,
                        interaction: Interaction) -> dict:
    px, py = to_percent(x, y, width, height)
    sign = "object" if positive else "background"
    return _region(PSEUDO_ID_PREFIX + _short_hash(round(x, 2), round(y, 2), positive, width, height),
                   interaction.keypoint or "keypoint", "keypointlabels", width, height, interaction,
                   {"x": px, "y": py, "width": 1.0}, is_positive=bool(positive), score=round(float(confidence), 4),
                   meta={"text": [f"pseudo click (suggestion, {sign}), confidence {confidence:.2f}: "
                                  "keep it to accept, delete it to ignore"]})  # fmt: skip


def _short_hash(*parts) -> str:
    return hashlib.sha1(repr(parts).encode()).hexdigest()[:10]


def _int_or_none(v) -> int | None:
    try:
        i = int(v)
    except (TypeError, ValueError):
        return None
    return i if i > 0 else None
