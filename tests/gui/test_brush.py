"""Brush / eraser on a finished object's mask: strokes dragged on the viewport (press -> moves -> release) are
one undoable command each, written to the project, and never reach the network."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import click_pixel, wait_idle
from PySide6.QtCore import QPoint, Qt

from pseudoclick_gui.gui.brush import bigger, smaller, stroke_patch

LEFT = Qt.MouseButton.LeftButton
NOMOD = Qt.KeyboardModifier.NoModifier


def _finished_object(qtbot, w, x=40, y=40):
    """One finished object (the fake network's disk of radius 10 around the click), selected in the panel."""
    click_pixel(qtbot, w, x, y)
    wait_idle(qtbot, w)
    assert w.ann.finish()
    wait_idle(qtbot, w)
    (inst,) = w.ann.store.instances(w.ann.image_id)
    w.instances_panel.list.setCurrentRow(0)
    assert w.instances_panel.selected() == inst.id
    return inst.id


def _stroke(qtbot, w, pts, button=LEFT, modifier=NOMOD, check_preview=None):
    vp = w.canvas.viewport()
    qtbot.mousePress(vp, button, modifier, w.canvas.image_to_widget(*pts[0]))
    for p in pts[1:]:
        qtbot.mouseMove(vp, w.canvas.image_to_widget(*p))
    if check_preview is not None:
        check_preview()
    qtbot.mouseRelease(vp, button, modifier, w.canvas.image_to_widget(*pts[-1]))


def _mask(w, iid):
    return w.ann.store.instance_mask(iid)


def test_brush_paints_eraser_erases_each_stroke_undoes_exactly_and_persists(make_window, images, tmp_path, qtbot,
                                                                            fake_config):  # fmt: skip
    proj = tmp_path / "p.pcproj"
    w = make_window(proj, images[:1])
    a = w.ann
    iid = _finished_object(qtbot, w)
    m0 = _mask(w, iid)
    assert m0[40, 40] and not m0[40, 60] and m0.sum() > 200
    n_clicks, n_predict, n_undo = len(a.store.clicks(a.image_id, include_undone=True)), fake_config.predict_calls, \
        a.undo_stack.count()  # fmt: skip

    qtbot.keyClick(w.canvas, Qt.Key.Key_B)
    assert w.canvas.brush_mode == "brush" and w.actions["brush"].isChecked()
    w.set_brush_radius(3)
    assert "Brush r=3 px" in w.st_brush.text()

    def during_drag():  # the stroke is previewed on the canvas, the mask changes only on release
        assert w.canvas.stroke_active()
        assert np.array_equal(_mask(w, iid), m0)

    _stroke(qtbot, w, [(52, 40), (60, 40), (70, 42)], check_preview=during_drag)
    assert not w.canvas.stroke_active()
    m1 = _mask(w, iid)
    assert m1[40, 52] and m1[40, 56] and m1[40, 60] and m1[42, 70] and m1[41, 65] and m1[42, 73]
    assert not m1[42, 74] and not m1[36, 60] and not m1[48, 60]  # radius 3, no further
    assert np.array_equal(m1 & m0, m0)  # only adds
    assert (m1 & ~m0).sum() > 60
    assert a.undo_stack.count() == n_undo + 1  # one stroke, one command
    assert w.instances_panel.list.item(0).text().endswith(f"{int(m1.sum())} px")  # the panel shows the new area

    # eraser (X): a horizontal cut through the middle of the disk
    qtbot.keyClick(w.canvas, Qt.Key.Key_X)
    assert w.canvas.brush_mode == "erase" and w.actions["eraser"].isChecked() and not w.actions["brush"].isChecked()
    w.set_brush_radius(1)
    _stroke(qtbot, w, [(28, 40), (40, 40), (52, 40)])
    m2 = _mask(w, iid)
    assert not m2[40, 40] and not m2[39, 35] and not m2[41, 45] and m2[37, 40] and m2[43, 40]
    assert np.array_equal(m2 | m1, m1)  # only removes
    assert a.undo_stack.count() == n_undo + 2

    # Shift while brushing erases too
    qtbot.keyClick(w.canvas, Qt.Key.Key_B)
    assert w.canvas.brush_mode == "brush"
    _stroke(qtbot, w, [(40, 33), (40, 34)], modifier=Qt.KeyboardModifier.ShiftModifier)
    m3 = _mask(w, iid)
    assert not m3[33, 40] and not m3[34, 40] and m2[33, 40]
    assert np.array_equal(m3 | m2, m2)

    # nothing went to the network, no click was recorded
    assert fake_config.predict_calls == n_predict
    assert len(a.store.clicks(a.image_id, include_undone=True)) == n_clicks
    assert a.clicks == []

    # undo restores the exact previous masks, redo re-applies
    a.undo()
    assert np.array_equal(_mask(w, iid), m2)
    a.undo()
    assert np.array_equal(_mask(w, iid), m1)
    a.undo()
    assert np.array_equal(_mask(w, iid), m0)
    a.redo()
    assert np.array_equal(_mask(w, iid), m1)
    a.redo()
    assert np.array_equal(_mask(w, iid), m2)
    a.redo()
    assert np.array_equal(_mask(w, iid), m3)

    # Esc leaves the mode (and does not reset anything)
    qtbot.keyClick(w.canvas, Qt.Key.Key_Escape)
    assert w.canvas.brush_mode is None and not w.actions["brush"].isChecked() and w.st_brush.text() == ""
    assert w.canvas.brush_cursor_rect() is None
    assert a.undo_stack.count() == n_undo + 3

    # the project file keeps the edited mask
    image_id = a.image_id
    w.close()
    w2 = make_window(proj)
    assert w2.ann.image_id == image_id
    (inst,) = w2.ann.store.instances(image_id)
    assert np.array_equal(inst.mask(), m3)


def test_without_a_selection_a_stroke_changes_nothing_and_says_why(make_window, images, tmp_path, qtbot,
                                                                   fake_config):  # fmt: skip
    w = make_window(tmp_path / "p.pcproj", images[:1])
    a = w.ann
    iid = _finished_object(qtbot, w)
    m0 = _mask(w, iid)
    w.instances_panel.list.setCurrentRow(-1)
    assert w.instances_panel.selected() is None
    n_undo, n_predict = a.undo_stack.count(), fake_config.predict_calls
    qtbot.keyClick(w.canvas, Qt.Key.Key_B)
    assert w.canvas.brush_mode == "brush"
    w.statusBar().clearMessage()
    _stroke(qtbot, w, [(55, 40), (70, 40)])
    assert "select" in w.statusBar().currentMessage().lower()
    assert np.array_equal(_mask(w, iid), m0)
    assert a.undo_stack.count() == n_undo and fake_config.predict_calls == n_predict
    assert a.clicks == [] and not w.canvas.stroke_active()
    # B again leaves the mode: a click is a click again
    qtbot.keyClick(w.canvas, Qt.Key.Key_B)
    assert w.canvas.brush_mode is None
    click_pixel(qtbot, w, 120, 90)
    wait_idle(qtbot, w)
    assert len(a.clicks) == 1


def test_brush_refuses_the_object_being_edited_and_pan_still_works(make_window, images, tmp_path, qtbot):
    w = make_window(tmp_path / "p.pcproj", images[:1])
    a = w.ann
    iid = _finished_object(qtbot, w)
    m0 = _mask(w, iid)
    w.set_brush_mode("brush")
    # middle drag pans, it is not a stroke
    w.canvas.zoom_by(4.0)
    w.canvas.centerOn(80, 60)
    vp = w.canvas.viewport()
    h0 = w.canvas.horizontalScrollBar().value()
    qtbot.mousePress(vp, Qt.MouseButton.MiddleButton, NOMOD, w.canvas.image_to_widget(80, 60))
    qtbot.mouseMove(vp, w.canvas.image_to_widget(80, 60) + QPoint(40, 0))
    qtbot.mouseRelease(vp, Qt.MouseButton.MiddleButton, NOMOD, w.canvas.image_to_widget(80, 60))
    assert w.canvas.horizontalScrollBar().value() != h0
    assert np.array_equal(_mask(w, iid), m0) and not w.canvas.stroke_active()
    w.canvas.fit()
    # re-opened for refining: the brush leaves it alone
    w.set_brush_mode(None)
    assert a.reopen_instance(iid)
    wait_idle(qtbot, w)
    w.instances_panel.list.setCurrentRow(0)
    w.set_brush_mode("brush")
    _stroke(qtbot, w, [(55, 40), (70, 40)])
    assert "being edited" in w.statusBar().currentMessage()
    assert np.array_equal(_mask(w, iid), m0)


def test_radius_keys_and_cursor_outline(make_window, images, tmp_path, qtbot):
    w = make_window(tmp_path / "p.pcproj", images[:1])
    w.set_brush_mode("erase")
    w.set_brush_radius(5)
    qtbot.keyClick(w.canvas, Qt.Key.Key_BracketRight)
    r = w.canvas.brush_radius
    assert r == 6 and "Eraser r=6 px" in w.st_brush.text()
    qtbot.keyClick(w.canvas, Qt.Key.Key_BracketLeft)
    qtbot.keyClick(w.canvas, Qt.Key.Key_BracketLeft)
    assert w.canvas.brush_radius == 4 and "r=4 px" in w.st_brush.text()
    qtbot.mouseMove(w.canvas.viewport(), w.canvas.image_to_widget(30, 20))
    rect = w.canvas.brush_cursor_rect()
    assert rect is not None
    assert rect.center().x() == pytest.approx(30.5) and rect.center().y() == pytest.approx(20.5)
    assert rect.width() == pytest.approx(9.0)  # 2 * 4 + 1 pixels across


def test_stroke_patch_geometry():
    box, patch = stroke_patch((20, 30), [(5, 5)], 0)
    assert box == (5, 6, 5, 6) and patch.tolist() == [[True]]
    box, patch = stroke_patch((20, 30), [(5, 5)], 2)
    assert box == (3, 8, 3, 8) and patch.sum() == 13  # the pixels within distance 2 of the centre
    box, patch = stroke_patch((20, 30), [(2, 10), (12, 10)], 1)  # a horizontal line, 3 pixels thick
    assert box == (9, 12, 1, 14) and patch[:, 1:12].all() and patch.sum() == 3 * 11 + 2
    box, patch = stroke_patch((20, 30), [(-5, -5), (1, 1)], 1)  # clipped at the border
    assert box == (0, 3, 0, 3) and patch[0, 0] and patch[1, 1]
    assert stroke_patch((20, 30), [(-10, -10)], 2) == (None, None)
    assert bigger(0) == 1 and bigger(10) == 12 and smaller(12) == 10 and smaller(0) == 0


def test_brush_on_a_volume_slice_edits_that_slices_object(make_window, tmp_path, qtbot):
    from pseudoclick_gui.io.synthetic import save_phantom

    nifti = save_phantom(tmp_path / "phantom.nii.gz", shape=(40, 32, 6), spacing=(1.0, 1.0, 3.0), seed=1, noise=1.0)
    w = make_window(tmp_path / "p.pcproj")
    assert w.open_volume(nifti)
    wait_idle(qtbot, w)
    a = w.ann
    a.open_slice("axial", 2)
    wait_idle(qtbot, w)
    iid = _finished_object(qtbot, w, 15, 16)
    assert a.store.instance(iid).image_id == a.store.find_image(a.volume_path, axis="axial", slice_index=2)
    m0 = _mask(w, iid)
    assert m0.shape == (32, 40) and not m0[16, 30]
    w.set_brush_mode("brush")
    w.set_brush_radius(1)
    _stroke(qtbot, w, [(26, 16), (32, 16)])
    m1 = _mask(w, iid)
    assert m1[16, 30] and m1[16, 32] and np.array_equal(m1 & m0, m0)
    a.undo()
    assert np.array_equal(_mask(w, iid), m0)
