"""What a new user meets in the first hour: start-up checks, the hint, the window at its default size, undo
across images, shortcuts whatever has focus, outlines at any zoom, the error maps' legend, the proposal ring,
and a folder that reopens its own project."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import click_pixel, wait_idle
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QColor, QImage, QPainter
from PySide6.QtWidgets import QMessageBox, QStyleOptionGraphicsItem, QToolBar, QToolButton

LDD = """\
\tlinux-vdso.so.1 (0x00007ffd)
\tlibQt6XcbQpa.so.6 => /x/PySide6/Qt/lib/libQt6XcbQpa.so.6 (0x00007f)
\tlibxcb-cursor.so.0 => /lib/x86_64-linux-gnu/libxcb-cursor.so.0 (0x00007f)
\tlibxcb-icccm.so.4 => not found
\tlibxcb-keysyms.so.1 => not found
\tlibxcb-icccm.so.4 => not found
\tlibfoo-unknown.so.3 => not found
"""


def test_missing_xcb_libraries_are_named_as_debian_packages(monkeypatch):
    from pseudoclick_gui.gui import app

    assert app.missing_xcb_packages(LDD) == ["libxcb-icccm4", "libxcb-keysyms1", "libfoo-unknown.so.3"]
    monkeypatch.setattr(app, "missing_xcb_packages", lambda: ["libxcb-icccm4", "libxcb-keysyms1"])
    monkeypatch.setattr(app.sys, "platform", "linux")
    monkeypatch.setenv("QT_QPA_PLATFORM", "xcb")
    line = app.check_platform_libraries()
    assert "\n" not in line and line.endswith("sudo apt-get install libxcb-icccm4 libxcb-keysyms1")
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")  # not the X11 plugin: nothing to say
    assert app.check_platform_libraries() == ""


def test_a_hint_on_the_canvas_until_the_first_click(make_window, images, tmp_path, qtbot):
    w = make_window(tmp_path / "p.pcproj", images[:1])
    assert w.canvas.hint.isVisible() and "Left-click the object" in w.canvas.hint.text()
    click_pixel(qtbot, w, 50, 50)
    wait_idle(qtbot, w)
    assert not w.canvas.hint.isVisible()
    w.close()
    w2 = make_window(tmp_path / "p.pcproj", images[:1])
    assert not w2.canvas.hint.isVisible()  # shown until the first click, not at every start


def test_toolbars_and_status_bar_fit_the_default_window(make_window, images, tmp_path, qtbot):
    from pseudoclick_gui.gui.main_window import DEFAULT_SIZE

    w = make_window(tmp_path / "p.pcproj", images[:1])
    w.resize(*DEFAULT_SIZE)
    assert DEFAULT_SIZE == (1280, 800)
    qtbot.wait(50)
    for tb in w.findChildren(QToolBar):
        ext = [b for b in tb.findChildren(QToolButton) if b.objectName() == "qt_toolbar_ext_button"]
        assert not any(b.isVisible() for b in ext), f"{tb.windowTitle()} overflows"
        for act in tb.actions():
            if not act.isSeparator():
                assert tb.widgetForAction(act).isVisible(), act.text()
    w.st_slice.setText("axial 77/154 · pixel 0.94×0.94 mm · T1c · (120, 80) = 1234")  # as with a volume open
    w.ann.message.emit("info", "x")
    qtbot.wait(50)
    for lab in (w.st_slice, w.st_object, w.st_saved, w.st_ms, w.st_device):
        assert lab.width() >= lab.sizeHint().width(), lab.text()


def test_undo_history_is_kept_per_image_when_switching(make_window, images, tmp_path, qtbot):
    w = make_window(tmp_path / "p.pcproj", images)
    a = w.ann
    first = a.image_id
    click_pixel(qtbot, w, 40, 40)
    wait_idle(qtbot, w)
    click_pixel(qtbot, w, 80, 60)
    wait_idle(qtbot, w)
    a.finish()
    wait_idle(qtbot, w)
    click_pixel(qtbot, w, 120, 90)
    wait_idle(qtbot, w)
    qtbot.keyClick(w.canvas, Qt.Key.Key_D)  # next image
    wait_idle(qtbot, w)
    assert a.image_id != first and not w.actions["undo"].isEnabled()
    click_pixel(qtbot, w, 30, 30)
    wait_idle(qtbot, w)
    qtbot.keyClick(w.canvas, Qt.Key.Key_A)  # back
    wait_idle(qtbot, w)
    assert a.image_id == first and w.actions["undo"].isEnabled()
    assert [(e.click.x, e.click.y) for e in a.clicks] == [(120, 90)]
    assert a.prediction is not None and a.prediction.mask[90, 120]
    a.undo()  # the click made before switching
    wait_idle(qtbot, w)
    assert a.clicks == [] and len(a.store.instances(first)) == 1
    a.undo()  # the finished object comes back as the current one, with its two clicks
    wait_idle(qtbot, w)
    assert len(a.store.instances(first)) == 0 and len(a.clicks) == 2
    assert a.prediction.mask[40, 40] and a.prediction.mask[60, 80]
    a.redo()
    wait_idle(qtbot, w)
    assert len(a.store.instances(first)) == 1
    qtbot.keyClick(w.canvas, Qt.Key.Key_D)
    wait_idle(qtbot, w)
    assert [(e.click.x, e.click.y) for e in a.clicks] == [(30, 30)]
    a.undo()
    wait_idle(qtbot, w)
    assert a.clicks == [] and a.store.draft(a.image_id) is None or not a.store.draft(a.image_id).clicks


def test_help_says_what_survives_a_restart(make_window, images, tmp_path, qtbot):
    from PySide6.QtWidgets import QTextBrowser

    w = make_window(tmp_path / "p.pcproj", images[:1])
    w.show_help()
    text = w._help.findChild(QTextBrowser).toPlainText()
    assert "after a restart the undo history starts empty" in text
    assert "Proposal rule" not in text and "session" not in text.lower()


def test_space_and_letters_reach_the_canvas_whatever_has_focus(make_window, images, tmp_path, qtbot, monkeypatch):
    from PySide6.QtWidgets import QInputDialog, QPushButton

    w = make_window(tmp_path / "p.pcproj", images[:1])
    a = w.ann
    monkeypatch.setattr(QInputDialog, "getText", lambda *args, **kw: ("cat", True))
    add = next(b for b in w.categories_panel.findChildren(QPushButton) if b.text() == "Add")
    add.click()  # a dialog (answered by the stub), then focus goes back to the canvas
    assert [c.name for c in a.store.categories()][-1] == "cat"
    assert w.canvas.hasFocus() or w.focusWidget() is w.canvas
    opened = []
    monkeypatch.setattr(QInputDialog, "getText", lambda *args, **kw: opened.append(1) or ("", False))
    click_pixel(qtbot, w, 50, 50)
    wait_idle(qtbot, w)
    w.categories_panel.list.setFocus()  # focus on a dock's widget
    add.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
    add.setFocus()  # even a focused button does not take Space
    qtbot.keyClick(add, Qt.Key.Key_Space)
    wait_idle(qtbot, w)
    assert not opened and len(a.store.instances(a.image_id)) == 1  # Space finished the object
    w.categories_panel.list.setFocus()
    qtbot.keyClick(w.categories_panel.list, Qt.Key.Key_M)  # a letter shortcut from another widget
    assert w.actions["toggle_errors"].isChecked()


def test_outlines_are_one_screen_pixel_wide_at_any_zoom(make_window, tmp_path, qtbot):
    from PIL import Image

    img = tmp_path / "small.png"
    Image.fromarray(np.full((96, 96, 3), 90, np.uint8)).save(img)
    w = make_window(tmp_path / "p.pcproj", [img])
    w.canvas.zoom_by(6.0 / w.canvas.zoom_factor())
    click_pixel(qtbot, w, 48, 48)
    wait_idle(qtbot, w)
    items = w.canvas.outline_items("current")
    assert items and all(i.pen().isCosmetic() and i.pen().widthF() <= 1.0 for i in items)
    w.ann.finish()
    wait_idle(qtbot, w)
    w.actions["toggle_contours"].setChecked(True)
    items = w.canvas.outline_items("instances")
    assert items and all(i.pen().isCosmetic() and i.pen().widthF() <= 1.0 for i in items)
    assert w.canvas.layer_pixmap("instances").isNull()  # contours only: no thick raster edge
    # the outline runs along the mask's border pixels: its box matches the mask's (within a pixel)
    (inst,) = w.ann.store.instances(w.ann.image_id)
    ys, xs = np.nonzero(inst.mask())
    r = items[0].path().boundingRect()
    assert abs(r.left() - (xs.min() + 0.5)) <= 1 and abs(r.right() - (xs.max() + 0.5)) <= 1


def test_error_maps_show_a_legend(make_window, images, tmp_path, qtbot):
    w = make_window(tmp_path / "p.pcproj", images[:1])
    assert not w.canvas.legend.isVisible()
    qtbot.keyClick(w.canvas, Qt.Key.Key_M)
    assert w.canvas.legend.isVisible() and "red" in w.canvas.legend.text() and "blue" in w.canvas.legend.text()
    qtbot.keyClick(w.canvas, Qt.Key.Key_M)
    assert not w.canvas.legend.isVisible()


def test_a_proposal_ring_on_a_red_object_has_a_light_halo(qtbot):
    from pseudoclick_gui.gui.canvas import ProposalMarker

    m = ProposalMarker(0, 0, False, 0.5)  # a red (negative) ring
    img = QImage(80, 80, QImage.Format.Format_RGB32)
    img.fill(QColor(235, 50, 50))
    p = QPainter(img)
    p.translate(QPointF(40, 40))
    m.paint(p, QStyleOptionGraphicsItem())
    p.end()
    px = [QColor(img.pixel(x, 40)) for x in range(80)]
    assert any(c.red() > 200 and c.green() > 200 and c.blue() > 200 for c in px)  # light halo
    assert any(c.red() < 60 and c.green() < 60 for c in px)  # dark ring


def test_reopening_a_folder_reopens_its_project(make_window, images, qtbot):
    from pseudoclick_gui.gui.annotator import folder_project_path

    folder = images[0].parent
    w = make_window()
    w.open_paths([folder])
    wait_idle(qtbot, w)
    path = w.ann.store.path
    assert path == folder_project_path(folder)
    click_pixel(qtbot, w, 50, 50)
    wait_idle(qtbot, w)
    w.ann.finish()
    wait_idle(qtbot, w)
    w.close()
    w2 = make_window()
    w2.open_paths([folder])
    wait_idle(qtbot, w2)
    assert w2.ann.store.path == path
    assert sum(len(w2.ann.store.instances(r.id)) for r in w2.ann.images()) == 1


def test_a_model_that_fails_to_load_is_a_message_not_loading_forever(make_window, images, tmp_path, qtbot):
    def factory():
        raise ValueError("pseudo_lifetime must be one of ('object', 'step'), not 'objct'")

    w = make_window(tmp_path / "p.pcproj", images[:1], factory=factory)
    assert w.ann.model_loaded and "objct" in w.ann.model_error
    assert "no model" in w.st_device.text()
    assert any("could not be loaded" in b.text() for b in w.findChildren(QMessageBox))
    click_pixel(qtbot, w, 50, 50)  # a message, no crash, nothing recorded
    wait_idle(qtbot, w)
    assert w.ann.clicks == [] and w.ann.store.clicks(w.ann.image_id) == []


def test_nan_weights_are_refused(monkeypatch, tmp_path):
    import torch

    import pseudoclick_gui.engine.session as session_mod
    import pseudoclick_gui.paths as paths
    from pseudoclick_gui.engine.checkpoint import save_checkpoint
    from pseudoclick_gui.engine.network import PseudoClickNet
    from pseudoclick_gui.errors import CheckpointError
    from pseudoclick_gui.gui.app import session_factory

    net = PseudoClickNet()
    with torch.no_grad():
        for p in net.parameters():
            p.fill_(float("nan"))
    save_checkpoint(net, tmp_path / session_mod.DEFAULT_CHECKPOINT)
    monkeypatch.setattr(paths, "models_dirs", lambda: [tmp_path])
    with pytest.raises(CheckpointError, match="NaN"):
        session_factory()()


def test_a_locked_project_opens_read_only_or_not_at_all(make_window, images, tmp_path, qtbot, monkeypatch):
    from pseudoclick_gui.errors import ProjectError
    from pseudoclick_gui.gui import annotator

    proj = tmp_path / "p.pcproj"
    w = make_window(proj, images[:1])
    click_pixel(qtbot, w, 50, 50)
    wait_idle(qtbot, w)
    w.ann.finish()
    wait_idle(qtbot, w)
    w.close()

    real_open = annotator.ProjectStore.open

    class ProjectLockedError(ProjectError):
        pass

    def locked_open(path, **kw):
        if kw.get("read_only"):
            return real_open(path, **kw)
        raise ProjectLockedError(f"{path} is open in another PseudoClick (pid 4242 on host lab-1)")

    monkeypatch.setattr(annotator.ProjectStore, "open", staticmethod(locked_open))
    answers = iter([QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Open])
    monkeypatch.setattr(QMessageBox, "exec", lambda self: next(answers))
    w2 = make_window()
    assert not w2.open_project(proj) and w2.ann.store is None  # refused
    assert "pid 4242" in w2.statusBar().currentMessage()
    assert w2.open_project(proj)  # read-only
    wait_idle(qtbot, w2)
    a = w2.ann
    assert a.read_only and len(a.store.instances(a.image_id)) == 1
    click_pixel(qtbot, w2, 80, 80)
    wait_idle(qtbot, w2)
    assert a.clicks == [] and "read-only" in w2.statusBar().currentMessage()


def test_project_errors_in_slots_are_plain_messages(make_window, images, tmp_path, qtbot):
    import sys

    from pseudoclick_gui.errors import ProjectError
    from pseudoclick_gui.gui.app import _install_excepthook

    w = make_window(tmp_path / "p.pcproj", images[:1])
    old = sys.excepthook
    try:
        _install_excepthook(lambda: w)
        sys.excepthook(ProjectError, ProjectError("the project file is damaged"), None)
    finally:
        sys.excepthook = old
    texts = [b.text() for b in w.findChildren(QMessageBox)]
    assert "the project file is damaged" in texts and not any("Unexpected" in t for t in texts)


def _run_app(args, env_extra, timeout=120):
    import os
    import subprocess
    import sys

    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", **env_extra)
    return subprocess.run([sys.executable, "-m", "pseudoclick_gui.gui", *args], capture_output=True, text=True,
                          timeout=timeout, env=env)  # fmt: skip


def test_start_up_with_the_data_folder_under_a_file_is_a_message_not_an_abort(tmp_path):
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    shot = tmp_path / "shot.png"
    r = _run_app(["--random-model", "--screenshot", str(shot), "--after-ms", "500"],
                 {"PSEUDOCLICK_DATA_DIR": str(blocker / "data"), "PSEUDOCLICK_CONFIG_DIR": str(tmp_path / "c")})  # fmt: skip
    assert r.returncode == 0, r.stderr[-2000:]
    assert shot.is_file() and "QThread: Destroyed" not in r.stderr


def test_bad_rows_in_the_last_project_do_not_stop_the_start(tmp_path, images):
    import json
    import sqlite3

    from pseudoclick_gui.project.store import ProjectStore

    proj = tmp_path / "last.pcproj"
    with ProjectStore.open(proj) as store:
        iid = store.add_image(images[0])
        store.record_click(iid, 10, 10, True, "human")
        store.save_draft(iid, np.zeros((120, 160), bool))
        store.set_setting("gui.current_image", iid)
    con = sqlite3.connect(proj)
    con.execute("UPDATE settings SET value = 'not json {' WHERE key = 'gui.current_image'")
    con.execute("PRAGMA ignore_check_constraints = ON")  # a row the schema would refuse, as a damaged file has
    con.execute("UPDATE clicks SET kind = 'alien'")
    con.commit()
    con.close()
    cfg = tmp_path / "c"
    cfg.mkdir()
    (cfg / "settings.json").write_text(json.dumps({"last_project": str(proj)}))
    shot = tmp_path / "shot.png"
    r = _run_app(["--random-model", "--screenshot", str(shot), "--after-ms", "500"],
                 {"PSEUDOCLICK_DATA_DIR": str(tmp_path / "d"), "PSEUDOCLICK_CONFIG_DIR": str(cfg)})  # fmt: skip
    assert r.returncode == 0, r.stderr[-2000:]
    assert shot.is_file() and "QThread: Destroyed" not in r.stderr and "Traceback (most recent" not in r.stdout


def test_smoke_fails_fast_with_one_line_when_the_model_is_corrupt(tmp_path):
    import time

    from pseudoclick_gui.engine.session import DEFAULT_CHECKPOINT

    models = tmp_path / "models"
    models.mkdir()
    (models / DEFAULT_CHECKPOINT).write_bytes(b"\x00" * 100)
    t0 = time.time()
    r = _run_app(["--smoke"], {"PSEUDOCLICK_MODELS": str(models)})
    assert r.returncode != 0 and time.time() - t0 < 90
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("smoke:")]
    assert len(lines) == 1 and "could not be loaded" in lines[0], r.stderr[-2000:]
    assert "QThread: Destroyed" not in r.stderr
