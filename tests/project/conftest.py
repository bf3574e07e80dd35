from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pseudoclick_gui.project import ProjectStore


def blob_mask(h, w, rng, *, holes=False, parts=1):
    """A random mask of one or more filled ellipses, optionally with holes."""
    yy, xx = np.mgrid[:h, :w]
    m = np.zeros((h, w), bool)
    for _ in range(parts):
        cy, cx = rng.uniform(0.2, 0.8) * h, rng.uniform(0.2, 0.8) * w
        ry, rx = rng.uniform(0.08, 0.25) * h, rng.uniform(0.08, 0.25) * w
        m |= ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1
        if holes:
            m &= ((yy - cy) / (ry / 3)) ** 2 + ((xx - cx) / (rx / 3)) ** 2 > 1
    return m


@pytest.fixture
def blob():
    """``blob(h, w, rng, holes=False, parts=1)``: see :func:`blob_mask`."""
    return blob_mask


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture
def image_dir(tmp_path) -> Path:
    d = tmp_path / "images"
    d.mkdir()
    sizes = {"a": (40, 30), "b": (25, 50), "c_01": (33, 33)}  # stem: (w, h)
    for stem, (w, h) in sizes.items():
        arr = (np.arange(w * h * 3).reshape(h, w, 3) % 251).astype(np.uint8)
        Image.fromarray(arr).save(d / f"{stem}.png")
    return d


@pytest.fixture
def store(tmp_path):
    s = ProjectStore.open(tmp_path / "project.pcproj")
    yield s
    s.close()
