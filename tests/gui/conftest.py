from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))

from fakes import FakeConfig, fake_factory  # noqa: E402

W, H = 160, 120


def write_image(path: Path, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    img = np.full((H, W, 3), 60, np.uint8)
    img[20:90, 30:110] = (200, 120, 40)
    img[60:110, 100:150] = (40, 160, 220)
    img = np.clip(img.astype(int) + rng.integers(-20, 20, img.shape), 0, 255).astype(np.uint8)
    Image.fromarray(img).save(path)
    return path


@pytest.fixture(autouse=True)
def isolated_dirs(tmp_path, monkeypatch):
    monkeypatch.setenv("PSEUDOCLICK_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("PSEUDOCLICK_DATA_DIR", str(tmp_path / "data"))


@pytest.fixture
def images(tmp_path) -> list[Path]:
    d = tmp_path / "imgs"
    d.mkdir()
    return [write_image(d / f"img_{i}.png", i) for i in range(3)]


@pytest.fixture
def fake_config() -> FakeConfig:
    return FakeConfig()


@pytest.fixture
def make_window(qtbot, fake_config):
    """make_window(project=None, images=(), factory=None) -> MainWindow, closed at teardown."""
    from pseudoclick_gui.gui.main_window import MainWindow
    from pseudoclick_gui.gui.settings import AppSettings

    made = []

    def make(project=None, images=(), factory=None):
        w = MainWindow(factory or fake_factory(fake_config), AppSettings.load())
        qtbot.addWidget(w)
        w.resize(900, 640)
        w.show()
        made.append(w)
        if project is not None:
            assert w.open_project(project)
        if images:
            w.open_paths(list(images))
        wait_idle(qtbot, w)
        return w

    yield make
    for w in made:
        if w.ann.store is not None or w.isVisible():
            w.close()


def wait_idle(qtbot, w, timeout=20000):
    qtbot.waitUntil(lambda: w.ann.model_loaded and not w.ann.client.busy, timeout=timeout)


def click_pixel(qtbot, w, x, y, button=None, modifier=None):
    from PySide6.QtCore import Qt

    pos = w.canvas.image_to_widget(x, y)
    qtbot.mouseClick(w.canvas.viewport(), button or Qt.MouseButton.LeftButton,
                     modifier or Qt.KeyboardModifier.NoModifier, pos)  # fmt: skip


def finish_one(qtbot, w, x=40, y=40):
    """Click (x, y), finish the object, and return the one instance the image then holds."""
    click_pixel(qtbot, w, x, y)
    wait_idle(qtbot, w)
    w.ann.finish()
    wait_idle(qtbot, w)
    (inst,) = w.ann.store.instances(w.ann.image_id)
    return inst
