import csv
import os
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

# the tests' shared helpers; appended, so that tests/gui (put first by its conftest) finds its own conftest
sys.path.append(str(Path(__file__).parent))

from dicom_series import write_dicom_series as _write_dicom_series  # noqa: E402

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    """The research data sets beside the checkout; tests using it skip when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data not present")
    return SHARED_DATA


@pytest.fixture
def tiny_dataset(tmp_path):
    """A dataset folder in the shared layout: 4 images with 1-2 ellipse objects each."""
    root = tmp_path / "tiny"
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    rng = np.random.default_rng(0)
    rows = []
    for i in range(4):
        img = rng.integers(0, 80, (96, 128, 3), dtype=np.uint8)
        for k in range(1 + i % 2):
            m = np.zeros((96, 128), np.uint8)
            cv2.ellipse(m, (40 + 45 * k, 48), (20, 14 + 4 * i), 15 * i, 0, 360, 255, -1)
            img[m > 0] = (200, 120 + 30 * k, 60)
            cv2.imwrite(str(root / "masks" / f"{i:02d}_{k}.png"), m)
            rows.append({"image": f"images/{i:02d}.png", "mask": f"masks/{i:02d}_{k}.png", "area_px": int((m > 0).sum())})
        cv2.imwrite(str(root / "images" / f"{i:02d}.png"), img)
    with open(root / "instances.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["image", "mask", "area_px"])
        w.writeheader()
        w.writerows(rows)
    return root


@pytest.fixture
def write_dicom_series():
    """tests/dicom_series.py's writer: ``write_dicom_series(folder, slices, positions, **tags)``."""
    return _write_dicom_series
