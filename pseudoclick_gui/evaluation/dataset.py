"""Evaluation samples from a folder in the shared layout: ``images/``, ``masks/<id>[_<k>].png`` and optional
``ignore/<id>.png`` (255 = excluded from IoU and from the robot's error regions)."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..errors import PseudoClickError

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")


@dataclass
class EvalSample:
    name: str
    image: Path
    mask: Path
    ignore: Path | None = None

    def load(self) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """(rgb H x W x 3 uint8, gt bool, ignore bool or None)."""
        bgr = cv2.imread(str(self.image), cv2.IMREAD_COLOR)
        gt = cv2.imread(str(self.mask), cv2.IMREAD_GRAYSCALE)
        if bgr is None or gt is None:
            raise PseudoClickError(f"cannot read {self.image.name} or its mask")
        ign = None
        if self.ignore is not None:
            raw = cv2.imread(str(self.ignore), cv2.IMREAD_GRAYSCALE)
            ign = None if raw is None else raw > 127
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), gt > 127, ign


def find_samples(root: Path) -> list[EvalSample]:
    root = Path(root)
    if not (root / "images").is_dir() or not (root / "masks").is_dir():
        raise PseudoClickError(f"{root}: expected images/ and masks/ folders")
    csv_path = root / "instances.csv"
    samples: list[EvalSample] = []
    if csv_path.is_file():
        for row in csv.DictReader(open(csv_path, newline="")):
            ign = row.get("ignore_mask") or None
            samples.append(EvalSample(Path(row["mask"]).stem, root / row["image"], root / row["mask"],
                                      root / ign if ign else None))
        return samples
    images = {p.stem: p for p in (root / "images").iterdir() if p.suffix.lower() in IMAGE_EXTS}
    for m in sorted((root / "masks").glob("*.png")):
        stem = m.stem if m.stem in images else re.sub(r"_\d+$", "", m.stem)
        if stem not in images:
            continue
        ign = root / "ignore" / f"{stem}.png"
        samples.append(EvalSample(m.stem, images[stem], m, ign if ign.is_file() else None))
    return samples
