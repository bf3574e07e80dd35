"""A propagated object's draft: its derived clicks are stored as 'propagated' (not human clicks) and its seed
mask with the draft, so a crash before finishing restores the same session (seed first, then the clicks as
ordinary clicks); undoing a finish or a reset keeps the seed in the project."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest
from conftest import click_pixel, wait_idle

from pseudoclick_gui.engine.propagate import derive_clicks
from pseudoclick_gui.io.synthetic import save_phantom


@pytest.fixture
def nifti(tmp_path):
    return save_phantom(tmp_path / "phantom.nii.gz", shape=(40, 32, 12), spacing=(1.0, 1.0, 3.0), seed=1, noise=1.0)


def _session(w):
    return w.ann.client._worker.state.session


def _propagated_object(make_window, nifti, proj, qtbot):
    """Draw on axial slice 4 (two clicks), propagate to slice 5, correct with one human click there.
    Returns (window, seed mask, derived clicks as (x, y, positive))."""
    w = make_window(proj)
    assert w.open_volume(nifti)
    wait_idle(qtbot, w)
    a = w.ann
    a.open_slice("axial", 4)
    wait_idle(qtbot, w)
    click_pixel(qtbot, w, 20, 16)
    click_pixel(qtbot, w, 28, 16)
    wait_idle(qtbot, w)
    seed = a.prediction.mask.copy()
    assert w.propagate(1)
    wait_idle(qtbot, w)
    assert a.slice_index == 5
    derived = [(c.x, c.y, c.positive) for c in derive_clicks(seed)]
    assert len(derived) >= 2
    a.click(3, 28, True)  # a human correction far from the seed (not on the proposal marker)
    wait_idle(qtbot, w)
    return w, seed, derived


def _kinds(store, image_id):
    return [c.kind for c in store.draft(image_id).clicks]


def test_propagated_draft_survives_a_crash_with_its_seed(make_window, nifti, tmp_path, qtbot):
    proj = tmp_path / "p.pcproj"
    w, seed, derived = _propagated_object(make_window, nifti, proj, qtbot)
    a = w.ann
    n = len(derived)
    assert [e.kind for e in a.clicks] == ["propagated"] * n + ["human"]
    assert _kinds(a.store, a.image_id) == ["propagated"] * n + ["human"]
    d = a.store.draft(a.image_id)
    assert np.array_equal(d.seed, seed) and not np.array_equal(d.mask, seed)  # the mask moved on, the seed stayed
    assert f"1 click + 0 suggested + {n} propagated" in w.st_object.text()
    st = a.store.stats()
    assert st["human_clicks"] == 3 and st["propagated_clicks"] == n  # 2 on slice 4 + the correction
    mask = a.prediction.mask.copy()
    assert mask[28, 3]
    w.close()  # "crash": the object on slice 5 was never finished

    w2 = make_window(proj)
    b = w2.ann
    assert (b.axis, b.slice_index) == ("axial", 5)
    assert [(e.click.x, e.click.y, e.click.positive, e.kind) for e in b.clicks] == (
        [(*c, "propagated") for c in derived] + [(3.0, 28.0, True, "human")]
    )
    s = _session(w2)
    # the replay: the seed first, the derived clicks as ordinary clicks with one prediction after them (as
    # when they were propagated), then the human click
    assert s.calls[0][0] == "seed" and np.array_equal(s.calls[0][1], seed)
    assert s.calls[1 : n + 3] == [("click", *c) for c in derived] + [("predict",), ("click", 3.0, 28.0, True)]
    assert [(c.x, c.y, c.positive) for c in s.human_clicks] == [*derived, (3.0, 28.0, True)]
    assert np.array_equal(b.prediction.mask, mask)  # the same object as before the crash
    assert np.array_equal(b.seed, seed)
    st = b.store.stats()
    assert st["human_clicks"] == 3 and st["propagated_clicks"] == n
    # finishing there keeps the kinds with the instance and drops the draft, seed included
    assert b.finish()
    wait_idle(qtbot, w2)
    (inst,) = b.store.instances(b.image_id)
    assert [c.kind for c in b.store.clicks(instance_id=inst.id)] == ["propagated"] * n + ["human"]
    assert b.store.draft(b.image_id) is None and b.seed is None
    assert b.store.stats()["human_clicks"] == 3


def test_undo_of_finish_and_reset_gives_the_seed_back_to_the_draft(make_window, nifti, tmp_path, qtbot):
    proj = tmp_path / "p.pcproj"
    w, seed, derived = _propagated_object(make_window, nifti, proj, qtbot)
    a = w.ann
    image = a.image_id
    mask = a.prediction.mask.copy()
    assert a.finish()
    wait_idle(qtbot, w)
    assert a.store.draft(image) is None
    a.undo()  # the object is being drawn again: its draft comes back with its seed
    wait_idle(qtbot, w)
    assert np.array_equal(a.store.draft(image).seed, seed) and np.array_equal(a.seed, seed)
    a.redo()
    wait_idle(qtbot, w)
    assert a.store.draft(image) is None and len(a.store.instances(image)) == 1
    a.undo()
    wait_idle(qtbot, w)
    a.reset()  # Esc
    wait_idle(qtbot, w)
    assert a.store.draft(image) is None and a.seed is None
    a.undo()
    wait_idle(qtbot, w)
    d = a.store.draft(image)
    assert np.array_equal(d.seed, seed) and _kinds(a.store, image) == ["propagated"] * len(derived) + ["human"]
    w.close()

    w2 = make_window(proj)
    b = w2.ann
    assert b.image_id == image and np.array_equal(_session(w2).calls[0][1], seed)
    assert np.array_equal(b.prediction.mask, mask)
    assert b.store.instances(image) == []


def test_undo_of_a_propagation_forgets_the_draft_and_its_seed(make_window, nifti, tmp_path, qtbot):
    proj = tmp_path / "p.pcproj"
    w, _seed, _derived = _propagated_object(make_window, nifti, proj, qtbot)
    a = w.ann
    image = a.image_id
    a.undo()  # the correction
    a.undo()  # the propagation
    wait_idle(qtbot, w)
    assert a.clicks == [] and a.store.draft(image) is None and a.seed is None
    assert a.store.stats()["propagated_clicks"] == 0


def test_reopened_object_draft_keeps_the_instance_mask_as_seed(make_window, nifti, tmp_path, qtbot):
    proj = tmp_path / "p.pcproj"
    w = make_window(proj)
    assert w.open_volume(nifti)
    wait_idle(qtbot, w)
    a = w.ann
    a.open_slice("axial", 6)
    wait_idle(qtbot, w)
    click_pixel(qtbot, w, 20, 16)
    wait_idle(qtbot, w)
    assert a.finish()
    wait_idle(qtbot, w)
    (inst,) = a.store.instances(a.image_id)
    assert a.reopen_instance(inst.id)
    wait_idle(qtbot, w)
    click_pixel(qtbot, w, 30, 16)
    wait_idle(qtbot, w)
    assert np.array_equal(a.store.draft(a.image_id).seed, inst.mask())
    mask = a.prediction.mask.copy()
    w.close()

    w2 = make_window(proj)
    b = w2.ann
    assert b.reopened == inst.id
    calls = _session(w2).calls
    assert calls[0][0] == "seed" and np.array_equal(calls[0][1], inst.mask())
    assert calls[1] == ("click", 30.0, 16.0, True)
    assert np.array_equal(b.prediction.mask, mask)

    # a re-opened draft saved before drafts kept their seed (schema 1: seed_rle NULL): the instance's mask
    # seeds the session, and the draft keeps it from then on
    w2.close()
    conn = sqlite3.connect(proj)
    conn.execute("UPDATE drafts SET seed_rle = NULL")
    conn.commit()
    conn.close()
    w3 = make_window(proj)
    c = w3.ann
    assert np.array_equal(_session(w3).calls[0][1], inst.mask()) and np.array_equal(c.prediction.mask, mask)
    assert np.array_equal(c.store.draft(c.image_id).seed, inst.mask())
