"""A full disk loses nothing: every change the project cannot take (DiskFullError) stays in memory, the user is
told plainly (a message once, a count in the status bar), and the same writes go in, in order, once there is
space. A project that opens read-only by itself is never written; what the store skipped while opening is
shown once."""

from __future__ import annotations

import os
import sqlite3
from contextlib import contextmanager

import numpy as np
import pytest
from conftest import click_pixel, finish_one, wait_idle
from PySide6.QtWidgets import QMessageBox

from pseudoclick_gui.errors import DiskFullError
from pseudoclick_gui.gui import annotator
from pseudoclick_gui.project.store import ProjectStore

FULL = ("cannot save to the project: the disk is full (0 B free in /data); free some space, then try again "
        "(this change is not saved yet)")  # fmt: skip


@pytest.fixture(autouse=True)
def quick_retry(monkeypatch):
    monkeypatch.setattr(annotator, "RETRY_SAVE_MS", 300)


class Disk:
    """Makes the store's every write transaction fail as on a full disk (nothing written, the store usable)
    while ``full`` is set; counts the refusals."""

    def __init__(self, store, monkeypatch):
        self.full, self.refused = False, 0
        real = store.transaction

        @contextmanager
        def transaction():
            if self.full:
                self.refused += 1
                raise DiskFullError(FULL)
            with real() as conn:
                yield conn

        monkeypatch.setattr(store, "transaction", transaction)


def _boxes(w) -> list[str]:
    return [b.text() for b in w.findChildren(QMessageBox)]


def _full_disk(make_window, images, tmp_path, monkeypatch):
    """A window on a new project whose disk is full from now on: (project path, window, annotator, disk)."""
    proj = tmp_path / "p.pcproj"
    w = make_window(proj, images[:1])
    disk = Disk(w.ann.store, monkeypatch)
    disk.full = True
    return proj, w, w.ann, disk


def test_clicks_and_a_finished_object_wait_in_memory_until_there_is_space(make_window, images, tmp_path, qtbot,
                                                                          monkeypatch):  # fmt: skip
    proj, w, a, disk = _full_disk(make_window, images, tmp_path, monkeypatch)

    click_pixel(qtbot, w, 40, 40)
    wait_idle(qtbot, w)
    assert a.unsaved >= 1 and disk.refused >= 1
    assert len(a.clicks) == 1 and a.prediction is not None  # the click is on screen and in the session
    assert "disk is full" in w.statusBar().currentMessage()
    assert w.st_unsaved.isVisibleTo(w) and "not saved yet: the disk is full" in w.st_unsaved.text()
    told = [t for t in _boxes(w) if t.startswith("Not saved yet: the disk is full")]
    assert len(told) == 1 and "kept in memory" in told[0]

    click_pixel(qtbot, w, 46, 44)
    wait_idle(qtbot, w)
    assert a.finish()
    wait_idle(qtbot, w)
    assert a.clicks == [] and a.unsaved >= 3  # clicks, draft masks (newest only) and the finished object
    assert len([t for t in _boxes(w) if t.startswith("Not saved yet")]) == 1  # told once, then the count
    qtbot.wait(700)  # retried while full: still waiting, nothing dropped
    assert a.unsaved >= 3 and a.store.instances(a.image_id) == []
    (shown,) = a.unsaved_objects(a.image_id)  # still drawn on the canvas
    assert shown[0][40, 40]

    disk.full = False
    qtbot.waitUntil(lambda: a.unsaved == 0, timeout=5000)
    assert not w.st_unsaved.isVisibleTo(w) and a.unsaved_objects(a.image_id) == []
    (inst,) = a.store.instances(a.image_id)
    assert inst.mask()[40, 40]
    assert [(c.x, c.y) for c in a.store.clicks(instance_id=inst.id)] == [(40, 40), (46, 44)]
    assert a.store.draft(a.image_id) is None or not a.store.draft(a.image_id).clicks
    w.close()
    with ProjectStore.open(proj) as store:  # and it is in the file
        (inst,) = store.instances()
        assert len(store.clicks(instance_id=inst.id)) == 2


def test_a_write_goes_in_at_the_next_change_and_undo_keeps_the_order(make_window, images, tmp_path, qtbot,
                                                                    monkeypatch):  # fmt: skip
    monkeypatch.setattr(annotator, "RETRY_SAVE_MS", 60_000)  # only the next change retries here
    _, w, a, disk = _full_disk(make_window, images, tmp_path, monkeypatch)
    click_pixel(qtbot, w, 40, 40)
    wait_idle(qtbot, w)
    click_pixel(qtbot, w, 60, 50)
    wait_idle(qtbot, w)
    a.undo()  # undoes a click that is not in the project yet
    wait_idle(qtbot, w)
    assert a.unsaved >= 3 and a.store.clicks(a.image_id) == []
    disk.full = False
    click_pixel(qtbot, w, 44, 42)  # the next change writes everything before it first
    wait_idle(qtbot, w)
    assert a.unsaved == 0
    assert [(c.x, c.y) for c in a.store.clicks(a.image_id, draft_only=True)] == [(40, 40), (44, 42)]
    assert [(c.x, c.y) for c in a.store.clicks(a.image_id, include_undone=True)][1] == (60, 50)
    draft = a.store.draft(a.image_id)
    assert draft is not None and draft.mask is not None and draft.mask[42, 44]


def test_brush_category_and_visibility_changes_wait_for_space(make_window, images, tmp_path, qtbot, monkeypatch):
    w = make_window(tmp_path / "p.pcproj", images[:1])
    a = w.ann
    inst = finish_one(qtbot, w)
    other = a.store.add_category("road")
    disk = Disk(a.store, monkeypatch)
    disk.full = True

    assert a.brush_stroke(inst.id, [(40, 60), (44, 60)], 3)
    assert a.brush_stroke(inst.id, [(40, 20), (40, 24)], 2, erase=False)
    a.set_instance_category(inst.id, other)
    a.set_instance_hidden(inst.id, True)
    w.categories_panel.add("tree")  # the new category becomes the current one once it is saved
    assert a.unsaved == 5
    assert not a.store.instance_mask(inst.id)[60, 42] and a.store.category_by_name("tree") is None

    disk.full = False
    qtbot.waitUntil(lambda: a.unsaved == 0, timeout=5000)
    got = a.store.instance(inst.id)
    m = got.mask()
    assert m[60, 42] and m[22, 40] and m[40, 40]
    assert got.category_id == other and got.hidden
    tree = a.store.category_by_name("tree")
    assert tree is not None and a.category_id == tree.id
    assert "tree" in [w.categories_panel.list.item(i).text() for i in range(w.categories_panel.list.count())]
    a.undo()  # the undo history is whole, and an undo now goes straight in
    assert a.unsaved == 0 and a.store.instance(inst.id).category_id == inst.category_id


def test_closing_with_unsaved_changes_asks_and_can_wait_for_space(make_window, images, tmp_path, qtbot, monkeypatch):
    proj, w, a, disk = _full_disk(make_window, images, tmp_path, monkeypatch)
    click_pixel(qtbot, w, 40, 40)
    wait_idle(qtbot, w)
    asked, answers = [], ["retry", "cancel", "cancel"]
    monkeypatch.setattr(w, "ask_unsaved", lambda n: asked.append(n) or (answers.pop(0) if answers else "discard"))
    w.close()
    assert len(asked) == 2 and asked[0] == a.unsaved >= 1 and w.isVisible() and a.store is not None and a.unsaved  # Cancel: still open
    assert not w.open_project(tmp_path / "other.pcproj")  # nor does another project replace it unsaved
    assert len(asked) == 3 and os.fspath(a.store.path) == os.fspath(proj) and a.unsaved

    disk.full = False  # space again: closing saves without asking
    w.close()
    assert not w.isVisible() and len(asked) == 3
    with ProjectStore.open(proj) as store:
        assert [(c.x, c.y) for c in store.clicks()] == [(40, 40)]


def test_discarding_unsaved_changes_is_the_users_choice(make_window, images, tmp_path, qtbot, monkeypatch):
    w = make_window(tmp_path / "p.pcproj", images[:1])
    a = w.ann
    Disk(a.store, monkeypatch).full = True
    click_pixel(qtbot, w, 40, 40)
    wait_idle(qtbot, w)
    monkeypatch.setattr(w, "ask_unsaved", lambda n: "discard")
    w.close()
    assert not w.isVisible() and a.unsaved == 0


def _project_without_categories(proj, image) -> int:
    with ProjectStore.open(proj) as store:
        iid = store.add_image(image)
        assert store.categories() == []
    return iid


def test_a_project_that_opens_read_only_by_itself_is_never_written(make_window, images, tmp_path, qtbot,
                                                                   monkeypatch):  # fmt: skip
    proj = tmp_path / "ro.pcproj"
    _project_without_categories(proj, images[0])
    before = proj.read_bytes()
    real_access = os.access

    def access(path, mode, *args, **kw):  # this user cannot write the file (root can, so pretend)
        if mode == os.W_OK and os.fspath(path) == os.fspath(proj):
            return False
        return real_access(path, mode, *args, **kw)

    monkeypatch.setattr(os, "access", access)
    w = make_window(proj)
    a = w.ann
    wait_idle(qtbot, w)
    assert a.store is not None and a.store.read_only and a.read_only and a.rgb is not None
    assert not any("could not be read" in t or "ProjectReadOnly" in t for t in _boxes(w))
    assert any("open read-only (the file is read-only)" in t for t in _boxes(w))
    assert "[read-only]" in w.windowTitle()
    click_pixel(qtbot, w, 40, 40)
    wait_idle(qtbot, w)
    assert a.clicks == [] and "read-only (the file is read-only)" in w.statusBar().currentMessage()
    w.close()
    assert proj.read_bytes() == before
    with sqlite3.connect(proj) as con:
        assert con.execute("SELECT COUNT(*) FROM categories").fetchone()[0] == 0


def test_what_the_store_skipped_while_opening_is_shown_once(make_window, images, tmp_path, qtbot):
    proj = tmp_path / "bad.pcproj"
    with ProjectStore.open(proj) as store:
        iid = store.add_image(images[0])
        store.add_image(images[1])
        store.record_click(iid, 10, 10, True, "human")
        store.set_setting("gui.window", {"x": 1})
    con = sqlite3.connect(proj)
    con.execute("UPDATE settings SET value = 'not json {' WHERE key = 'gui.window'")
    con.execute("PRAGMA ignore_check_constraints = ON")
    con.execute("UPDATE clicks SET kind = 'alien'")
    con.commit()
    con.close()

    w = make_window()
    assert w.open_project(proj)
    wait_idle(qtbot, w)
    warnings = list(w.ann.store.warnings)
    assert len(warnings) == 2
    assert "unknown kind" in w.statusBar().currentMessage() or "not readable" in w.statusBar().currentMessage()
    shown = [t for t in _boxes(w) if all(x in t for x in warnings)]
    assert len(shown) == 1
    w.ann.step_image(1)  # browsing does not say it again
    wait_idle(qtbot, w)
    assert len([t for t in _boxes(w) if all(x in t for x in warnings)]) == 1


def test_a_project_without_warnings_opens_quietly(make_window, images, tmp_path, qtbot):
    w = make_window(tmp_path / "ok.pcproj", images[:1])
    assert w.ann.store.warnings == [] and _boxes(w) == []
    assert np.asarray(w.ann.rgb).size


def test_undoing_a_finish_that_waits_for_space_gives_the_object_back(make_window, images, tmp_path, qtbot,
                                                                     monkeypatch):  # fmt: skip
    _, w, a, disk = _full_disk(make_window, images, tmp_path, monkeypatch)
    click_pixel(qtbot, w, 40, 40)
    wait_idle(qtbot, w)
    assert a.finish()
    wait_idle(qtbot, w)
    assert len(a.unsaved_objects(a.image_id)) == 1
    a.undo()
    wait_idle(qtbot, w)
    assert a.unsaved_objects(a.image_id) == [] and len(a.clicks) == 1  # the current object again
    a.redo()
    wait_idle(qtbot, w)
    assert len(a.unsaved_objects(a.image_id)) == 1 and a.clicks == []
    disk.full = False
    qtbot.waitUntil(lambda: a.unsaved == 0, timeout=5000)
    (inst,) = a.store.instances(a.image_id)
    assert [(c.x, c.y) for c in a.store.clicks(instance_id=inst.id)] == [(40, 40)]
    assert a.unsaved_objects(a.image_id) == []


def test_overlapping_strokes_on_a_full_disk_undo_exactly_and_are_shown_as_made(make_window, images, tmp_path,
                                                                               qtbot, monkeypatch):  # fmt: skip
    w = make_window(tmp_path / "p.pcproj", images[:1])
    a = w.ann
    inst = finish_one(qtbot, w)
    m0 = a.store.instance_mask(inst.id)
    disk = Disk(a.store, monkeypatch)
    disk.full = True
    assert a.brush_stroke(inst.id, [(40, 60), (50, 60)], 3)
    m1 = a.instance_mask(inst.id)
    assert m1[60, 45] and not a.store.instance_mask(inst.id)[60, 45]  # shown as made, not in the project yet
    assert a.brush_stroke(inst.id, [(45, 60), (45, 64)], 3, erase=True)  # erases part of the first stroke
    m2 = a.instance_mask(inst.id)
    assert not m2[60, 45] and m2[60, 40]
    a.undo()  # back to exactly after the first stroke, though the project has neither yet
    assert np.array_equal(a.instance_mask(inst.id), m1)
    disk.full = False
    qtbot.waitUntil(lambda: a.unsaved == 0, timeout=5000)
    assert np.array_equal(a.store.instance_mask(inst.id), m1) and a.unsaved_mask(inst.id) is None
    a.undo()
    assert np.array_equal(a.store.instance_mask(inst.id), m0)
