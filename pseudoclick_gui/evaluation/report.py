"""Writing evaluation results: JSON summary, per-sample CSV, and a PNG plot of mIoU vs clicks (OpenCV)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np

from .noc import SampleResult

COLORS = {"human": (200, 90, 30), "pseudo": (40, 160, 40), "postproc": (30, 30, 200)}


def write_json(path: Path, payload: dict) -> None:
    path.write_text(json.dumps(payload, indent=2))


def write_csv(path: Path, results: list[SampleResult], max_clicks: int) -> None:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["sample", "mode", "NoC@85", "NoC@90", "NoC@95", "seconds", "clicks", "proposals",
                    "proposals_correct", *[f"iou@{k}" for k in range(1, max_clicks + 1)]])
        for r in results:
            ious = r.ious + [r.ious[-1]] * (max_clicks - len(r.ious)) if r.ious else []
            w.writerow([r.name, r.mode, r.noc(0.85, max_clicks), r.noc(0.90, max_clicks), r.noc(0.95, max_clicks),
                        round(r.seconds, 3), r.n_clicks, r.proposals, r.proposals_correct,
                        *(round(v, 4) for v in ious)])


def plot_curves(path: Path, curves: dict[str, list[float]], title: str) -> None:
    """mIoU@k per mode on one chart, drawn with OpenCV (no plotting dependency)."""
    W, H, L, R, T, B = 720, 480, 70, 150, 40, 50
    img = np.full((H, W, 3), 255, np.uint8)
    n = max(len(c) for c in curves.values())
    lo = max(0.0, min(min(c) for c in curves.values()) - 0.05)
    lo = np.floor(lo * 10) / 10

    def px(k: int, v: float) -> tuple[int, int]:
        x = L + (k - 1) / max(1, n - 1) * (W - L - R)
        y = T + (1 - (v - lo) / (1 - lo)) * (H - T - B)
        return int(round(x)), int(round(y))

    for v in np.arange(lo, 1.0001, 0.1):
        y = px(1, v)[1]
        cv2.line(img, (L, y), (W - R, y), (225, 225, 225), 1)
        cv2.putText(img, f"{v:.1f}", (L - 40, y + 5), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (60, 60, 60), 1, cv2.LINE_AA)
    for k in range(1, n + 1, max(1, n // 10)):
        x = px(k, lo)[0]
        cv2.putText(img, str(k), (x - 5, H - B + 20), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (60, 60, 60), 1, cv2.LINE_AA)
    cv2.rectangle(img, (L, T), (W - R, H - B), (0, 0, 0), 1)
    cv2.putText(img, "clicks", (W // 2 - 60, H - 12), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(img, title[:70], (L, 25), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 1, cv2.LINE_AA)
    for i, (mode, curve) in enumerate(curves.items()):
        color = COLORS.get(mode, (120, 120, 120))
        pts = np.array([px(k + 1, v) for k, v in enumerate(curve)], np.int32)
        cv2.polylines(img, [pts], False, color, 2, cv2.LINE_AA)
        cv2.line(img, (W - R + 15, T + 20 + 22 * i), (W - R + 40, T + 20 + 22 * i), color, 2)
        cv2.putText(img, f"{mode} mIoU", (W - R + 45, T + 25 + 22 * i), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.imwrite(str(path), img)
