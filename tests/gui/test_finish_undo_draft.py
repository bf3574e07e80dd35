"""Undoing a finish gives the object's clicks back to the draft in the project file (not only on screen), so a
crash right after the undo replays the same click list; redo attaches them to the same instance again."""

from __future__ import annotations

import numpy as np
from conftest import click_pixel, finish_one, wait_idle

from pseudoclick_gui.project.store import ProjectStore


def test_undo_finish_keeps_the_draft_clicks_in_the_project(make_window, images, tmp_path, qtbot):
    proj = tmp_path / "p.pcproj"
    w = make_window(proj, images[:1])
    a = w.ann
    click_pixel(qtbot, w, 40, 40)
    wait_idle(qtbot, w)
    click_pixel(qtbot, w, 90, 70)
    wait_idle(qtbot, w)
    mask = a.prediction.mask.copy()
    assert a.finish()
    wait_idle(qtbot, w)
    (inst,) = a.store.instances(a.image_id)
    a.undo()
    wait_idle(qtbot, w)
    # what a crash now would leave: read the file with a second connection
    with ProjectStore.open(proj) as other:
        d = other.draft(a.image_id)
        assert d is not None and [(c.x, c.y) for c in d.clicks] == [(40, 40), (90, 70)]
        assert np.array_equal(d.mask, mask)
        assert other.clicks(instance_id=inst.id, include_undone=True) == []
    a.redo()
    wait_idle(qtbot, w)
    assert [i.id for i in a.store.instances(a.image_id)] == [inst.id]
    assert a.store.draft(a.image_id) is None
    assert [(c.x, c.y) for c in a.store.clicks(instance_id=inst.id)] == [(40, 40), (90, 70)]
    a.undo()
    wait_idle(qtbot, w)
    image_id = a.image_id
    w.close()
    w2 = make_window(proj)
    assert w2.ann.image_id == image_id
    assert [(e.click.x, e.click.y) for e in w2.ann.clicks] == [(40, 40), (90, 70)]
    assert np.array_equal(w2.ann.prediction.mask, mask)


def test_undo_finish_of_a_reopened_object_gives_back_only_this_edit(make_window, images, tmp_path, qtbot):
    proj = tmp_path / "p.pcproj"
    w = make_window(proj, images[:1])
    a = w.ann
    inst = finish_one(qtbot, w)
    assert a.reopen_instance(inst.id)
    wait_idle(qtbot, w)
    click_pixel(qtbot, w, 120, 100)
    wait_idle(qtbot, w)
    a.finish()
    wait_idle(qtbot, w)
    assert len(a.store.clicks(instance_id=inst.id)) == 2
    a.undo()
    wait_idle(qtbot, w)
    with ProjectStore.open(proj) as other:
        d = other.draft(a.image_id)
        assert d.instance_id == inst.id and [(c.x, c.y) for c in d.clicks] == [(120, 100)]
        assert [(c.x, c.y) for c in other.clicks(instance_id=inst.id)] == [(40, 40)]
