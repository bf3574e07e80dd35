"""Press-to-paint latency of the real main window: from the mouse press on the canvas (or the Enter key) to
the end of the canvas repaint that shows the new mask, with the shipped model on the CPU, offscreen.

Three cases, each its median and p90 over ``--rounds`` images (every round opens a fresh copy of the sample,
so every "first click" is really the first click on an image the app has not seen):

- ``first click``: the first positive click on a newly opened image;
- ``later click``: a further click on the same object (its pseudo-click pass runs too);
- ``Enter``: accepting the proposed pseudo click with the Enter key.

For each it prints *mask*: the press to the repaint showing the new mask, and *ring*: the press to the repaint
showing the next proposal (the pseudo-click pass) as well. The sample photo is resized to 480 x 320. The
last line, ``press-to-paint median ms: N``, is the median *mask* time of a later click.

    python benchmarks/gui_latency.py [--rounds 12] [--threads 2] [--random-model]

Figures depend on the machine's load: say what else ran (e.g. a training job) when quoting them.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402


def p90(v: list[float]) -> float:
    return float(np.percentile(v, 90)) if v else float("nan")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=12, help="images (each: first click, later clicks, Enter)")
    ap.add_argument("--later", type=int, default=3, help="later clicks per image")
    ap.add_argument("--threads", type=int, default=2, help="torch threads")
    ap.add_argument("--look", type=float, default=1.0, help="seconds between opening an image and its first click")
    ap.add_argument("--random-model", action="store_true", help="an untrained network (same speed)")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="pseudoclick-guilat-"))
    os.environ["PSEUDOCLICK_DATA_DIR"] = str(tmp / "data")
    os.environ["PSEUDOCLICK_CONFIG_DIR"] = str(tmp / "config")

    import torch
    from PIL import Image
    from PySide6.QtCore import QEvent, QEventLoop, QObject, Qt, QTimer
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    from pseudoclick_gui.gui.app import session_factory
    from pseudoclick_gui.gui.main_window import MainWindow
    from pseudoclick_gui.gui.settings import AppSettings
    from pseudoclick_gui.paths import samples_dir

    torch.set_num_threads(args.threads)
    app = QApplication.instance() or QApplication(sys.argv[:1])  # noqa: F841 - kept alive
    sample = Image.open(samples_dir() / "sample.jpg").convert("RGB").resize((480, 320))
    paths = []
    for i in range(args.rounds):  # distinct files: each is a new image to the app (no cached inputs)
        p = tmp / f"img_{i:02d}.png"
        arr = np.asarray(sample).copy()
        arr[0, 0] = i  # not byte-identical
        Image.fromarray(arr).save(p)
        paths.append(p)

    settings = AppSettings()
    w = MainWindow(session_factory(args.random_model), settings)
    w.resize(1280, 800)
    w.show()
    a = w.ann

    def spin(cond, timeout=120.0):
        t0 = time.perf_counter()
        loop = QEventLoop()
        while not cond():
            if time.perf_counter() - t0 > timeout:
                raise TimeoutError("no result within the timeout")
            QTimer.singleShot(1, loop.quit)
            loop.exec()

    class PaintClock(QObject):
        """Records the end of each canvas repaint, and what it showed (the prediction and proposal objects)."""

        def __init__(self):
            super().__init__()
            self.events: list[tuple[float, int, int]] = []

        def eventFilter(self, obj, ev):  # noqa: N802 - Qt's name
            if ev.type() == QEvent.Type.Paint:
                shown = (id(a.prediction), id(a.proposal))
                w.canvas.viewportEvent(ev)
                self.events.append((time.perf_counter(), *shown))
                return True
            return False

    clock = PaintClock()
    w.canvas.viewport().installEventFilter(clock)

    def measure(act) -> tuple[float, float]:
        """(ms to the repaint showing a new mask, ms to the repaint showing the new mask and a new proposal)."""
        old_pred, old_prop = id(a.prediction), id(a.proposal)
        clock.events.clear()
        t0 = time.perf_counter()
        act()
        spin(lambda: a.model_loaded and not a.client.busy and a.prediction is not None
             and id(a.prediction) != old_pred)  # fmt: skip
        spin(lambda: any(e[1] == id(a.prediction) for e in clock.events), 10)
        if a.proposals_enabled and a.proposal is not None:
            spin(lambda: any(e[2] == id(a.proposal) and e[2] != old_prop for e in clock.events), 10)
        mask = next(t for t, pr, _ in clock.events if pr != old_pred and pr == id(a.prediction))
        ring = max(mask, next((t for t, _, pp in clock.events if pp == id(a.proposal)), mask))
        return (mask - t0) * 1000, (ring - t0) * 1000

    def press(x, y):
        def act():
            pos = w.canvas.image_to_widget(x, y)
            QTest.mousePress(w.canvas.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, pos)
            QTest.mouseRelease(w.canvas.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, pos)

        return act

    def enter():
        QTest.keyClick(w.canvas, Qt.Key.Key_Return)

    assert w.open_project(tmp / "bench.pcproj")
    spin(lambda: a.model_loaded, 300)
    first, later, accept = [], [], []
    cx, cy = 240, 190  # the cup
    offsets = [(-30, 10), (35, -5), (0, 40), (-50, -20), (45, 25)]
    for r, path in enumerate(paths):
        a.add_images([path])  # opens it
        spin(lambda: not a.client.busy)
        t_look = time.perf_counter()  # the user looks at the new image before clicking (idle-time preparation runs)
        spin(lambda t=t_look: time.perf_counter() - t > args.look)
        first.append(measure(press(cx, cy)))
        if a.proposal is not None:
            accept.append(measure(enter))
        for k in range(args.later):
            dx, dy = offsets[(r + k) % len(offsets)]
            later.append(measure(press(cx + dx, cy + dy)))
        a.finish()
        spin(lambda: not a.client.busy)

    print(f"gui_latency: {args.rounds} images 480x320, device={a.device_name}, torch threads={args.threads}, "
          f"model={'random' if args.random_model else 'shipped'}, {args.look:.1f} s before each first click; "
          f"load: {os.getloadavg()[0]:.2f} (1-min avg)")
    for name, v in (("first click", first), ("later click", later), ("Enter (accept)", accept)):
        m = [x[0] for x in v]
        g = [x[1] for x in v]
        if not v:
            print(f"{name:15s}: no samples")
            continue
        print(f"{name:15s}: mask median {statistics.median(m):6.0f} ms  p90 {p90(m):6.0f} ms   |   "
              f"ring median {statistics.median(g):6.0f} ms  p90 {p90(g):6.0f} ms   (n={len(v)})")
    w.close()
    print(f"press-to-paint median ms: {statistics.median([x[0] for x in later]):.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
