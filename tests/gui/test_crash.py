"""Killing the app (SIGKILL) mid-session loses at most the step in flight: a separate process runs the real
main window offscreen with a real project store, reports each committed step, and is killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import wait_idle

from pseudoclick_gui.project.store import ProjectStore

DRIVER = r"""
import os, sys
os.environ["QT_QPA_PLATFORM"] = "offscreen"
sys.path.insert(0, {tests!r})
from PySide6.QtCore import QEventLoop, Qt, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication
from fakes import fake_factory
from pseudoclick_gui.gui.main_window import MainWindow

app = QApplication([])
w = MainWindow(fake_factory())
w.resize(800, 600)
w.show()
assert w.open_project({proj!r})
w.open_paths([{img!r}])
a = w.ann

def spin():
    loop = QEventLoop()
    while not a.model_loaded or a.client.busy:
        QTimer.singleShot(5, loop.quit)
        loop.exec()

spin()
n = 0
while True:
    x, y = 10 + (n * 37) % 140, 10 + (n * 23) % 100
    QTest.mouseClick(w.canvas.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     w.canvas.image_to_widget(x, y))
    spin()
    print(f"CLICK {{x}} {{y}}", flush=True)
    n += 1
    if n % 3 == 0:
        QTest.keyClick(w.canvas, Qt.Key.Key_Space)
        spin()
        print(f"INSTANCES {{len(a.store.instances(a.image_id))}}", flush=True)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_sigkill_mid_session_keeps_every_reported_step(tmp_path, images, make_window, qtbot):
    proj = tmp_path / "crash.pcproj"
    code = DRIVER.format(tests=str(Path(__file__).parent), proj=str(proj), img=str(images[0]))
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    instances, pending = 0, []
    deadline = time.time() + 60
    try:
        for line in p.stdout:
            kind, *vals = line.split()
            if kind == "INSTANCES":
                instances, pending = int(vals[0]), []
            elif kind == "CLICK":
                pending.append((float(vals[0]), float(vals[1])))
            if instances >= 2 and len(pending) == 2 or time.time() > deadline:
                break
        os.kill(p.pid, signal.SIGKILL)
        p.wait(10)
    finally:
        if p.poll() is None:
            p.kill()
    err = p.stderr.read()
    assert instances >= 2, err[-2000:]
    assert p.returncode == -signal.SIGKILL

    with ProjectStore.open(proj) as store:
        assert store.integrity_check() == "ok"
        (img,) = store.images()
        assert len(store.instances(img.id)) >= instances
        draft = store.draft(img.id)
        got = [(c.x, c.y) for c in draft.clicks] if draft else []
        assert got[: len(pending)] == pending
        assert draft.mask is not None and all(draft.mask[int(y), int(x)] for x, y in pending)

    # the app reopens the project where it was: instances and the draft's clicks
    w = make_window(proj)
    wait_idle(qtbot, w)
    assert w.instances_panel.list.count() >= instances
    assert [(e.click.x, e.click.y) for e in w.ann.clicks][: len(pending)] == pending
    assert w.ann.prediction is not None and all(w.ann.prediction.mask[int(y), int(x)] for x, y in pending)
