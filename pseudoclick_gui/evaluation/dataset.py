"""Evaluation samples.

* A 2-D set in the shared layout: ``images/``, ``masks/<id>[_<k>].png`` and optional ``ignore/<id>.png``
  (255 = excluded from IoU and from the robot's error regions).
* A volume set (BraTS protocol, PseudoClick Sec. 4): a folder whose ``volumes/`` (or itself) holds case folders
  or NIfTI files with a label volume. Per case, the axial slice with the largest whole-tumour area
  (label > 0) is one sample; the image is that slice of one modality (``modality``, default FLAIR),
  normalised from raw intensities (0.5–99.5 percentile) and replicated to 3 channels.
"""

from __future__ import annotations

import csv
import functools
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


@dataclass
class VolumeSliceSample:
    """One axial slice of one case: by default the slice with the largest labelled area (BraTS protocol),
    else the slice ``index``."""

    name: str
    case: Path
    modality: str = "flair"
    index: int | None = None

    def load(self) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        vol = _open_labelled(self.case)
        names = {n.lower(): n for n in vol.channel_names}
        channel = names.get(self.modality.lower())
        if channel is None:
            channel = vol.channel_names[0]
        k = self.index if self.index is not None else int(np.argmax(_label_areas(vol)))
        rgb = vol.network_slice("axial", k, channel)
        gt = vol.label_slice("axial", k) > 0
        return np.ascontiguousarray(rgb), np.ascontiguousarray(gt), None


@functools.lru_cache(maxsize=1)  # find_volume_cases and then each of a case's slices read the same volume
def _open_labelled(case: Path):
    from ..io.volume import open_volume

    vol = open_volume(case)
    if vol.labels is None:
        raise PseudoClickError(f"{case.name}: no label volume found")
    return vol


def _label_areas(vol) -> list[int]:
    return [int(np.count_nonzero(vol.label_slice("axial", k))) for k in range(vol.n_slices("axial"))]


def spread_slices(areas: list[int], count: int, min_share: float = 0.1) -> list[int]:
    """``count`` axial slices spread evenly (by rank) over those whose labelled area is at least
    ``min_share`` of the largest (no sliver at the object's ends); the largest slice is always one of them."""
    top = max(areas) if areas else 0
    if top == 0:
        return []
    keep = [k for k, a in enumerate(areas) if a >= max(1, min_share * top)]
    if count >= len(keep):
        return keep
    picks = {keep[round(i * (len(keep) - 1) / max(1, count - 1))] for i in range(count)}
    biggest = int(np.argmax(areas))
    if biggest not in picks:  # swap the pick nearest to the largest slice for it
        picks.remove(min(picks, key=lambda k: abs(k - biggest)))
        picks.add(biggest)
    return sorted(picks)


def find_volume_cases(root: Path, modality: str = "flair", slices: int = 1) -> list[VolumeSliceSample]:
    """One sample per case (its largest labelled slice), or with ``slices`` > 1 that many slices per case
    spread over the labelled extent (``spread_slices``): a better-powered check than one slice per case."""
    base = root / "volumes" if (root / "volumes").is_dir() else root
    cases = [p for p in sorted(base.iterdir()) if p.is_dir() or p.name.endswith((".nii", ".nii.gz"))]
    if slices <= 1:
        return [VolumeSliceSample(p.name, p, modality) for p in cases]
    out = []
    for p in cases:
        for k in spread_slices(_label_areas(_open_labelled(p)), slices):
            out.append(VolumeSliceSample(f"{p.name}@{k:03d}", p, modality, k))
    return out


def find_samples(root: Path, modality: str = "flair", volume_slices: int = 1) -> list[EvalSample] | list[VolumeSliceSample]:
    root = Path(root)
    if not root.is_dir():
        raise PseudoClickError(f"{root}: not a folder")
    if not (root / "images").is_dir() or not (root / "masks").is_dir():
        if (root / "volumes").is_dir() or (root / "cases.csv").is_file():
            return find_volume_cases(root, modality, volume_slices)
        raise PseudoClickError(f"{root}: expected images/ and masks/ folders, or volumes/ with cases")
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
