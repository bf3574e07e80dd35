"""Annotating volumes slice by slice: per-slice objects and slider markers, propagation to the neighbouring
slice, persistence across close/reopen, NIfTI export on the source grid."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
from conftest import click_pixel, wait_idle
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from pseudoclick_gui.engine.propagate import derive_clicks
from pseudoclick_gui.io.synthetic import save_phantom
from pseudoclick_gui.io.volume import open_volume

SHAPE = (40, 32, 12)


@pytest.fixture
def nifti(tmp_path):
    return save_phantom(tmp_path / "phantom.nii.gz", shape=SHAPE, spacing=(1.0, 1.0, 3.0), seed=1, noise=1.0)


@pytest.fixture
def vwin(make_window, nifti, tmp_path, qtbot):
    w = make_window(tmp_path / "p.pcproj")
    assert w.open_volume(nifti)
    wait_idle(qtbot, w)
    return w


def _session(w):
    return w.ann.client._worker.state.session


def _annotate(qtbot, w, index, x, y):
    w.ann.open_slice("axial", index)
    wait_idle(qtbot, w)
    click_pixel(qtbot, w, x, y)
    wait_idle(qtbot, w)
    assert w.ann.finish()
    wait_idle(qtbot, w)


def test_objects_on_two_slices_show_as_slider_markers(vwin, qtbot):
    w, a = vwin, vwin.ann
    assert w.volume_bar.slider.markers() == {}
    _annotate(qtbot, w, 3, 20, 16)
    _annotate(qtbot, w, 8, 12, 10)
    a.open_slice("axial", 5)
    click_pixel(qtbot, w, 22, 14)  # started, not finished
    wait_idle(qtbot, w)
    assert a.slice_markers() == {3: "objects", 8: "objects", 5: "draft"}
    markers = w.volume_bar.slider.markers()
    assert sorted(markers) == [3, 5, 8] and markers[3] != markers[5]
    slices = {(r.axis, r.slice_index): r for r in a.store.volume_slices(a.volume_id)}
    assert sorted(slices) == [("axial", 3), ("axial", 5), ("axial", 8)]  # only slices drawn on got rows
    assert slices[("axial", 3)].n_instances == 1 and slices[("axial", 8)].n_instances == 1
    m3 = a.store.instances(slices[("axial", 3)].id)[0].mask()
    assert m3[16, 20] and m3.shape == (32, 40)
    # the objects belong to their slice: slice 8 shows its own object only
    a.open_slice("axial", 8)
    wait_idle(qtbot, w)
    assert w.instances_panel.list.count() == 1 and not w.canvas.layer_pixmap("instances").isNull()
    a.open_slice("axial", 4)
    wait_idle(qtbot, w)
    assert w.instances_panel.list.count() == 0 and w.canvas.layer_pixmap("instances").isNull()
    assert "2 slices annotated" in w.files_panel.list.item(0).text()
    # undo works within a slice like on an image
    a.open_slice("axial", 8)
    wait_idle(qtbot, w)
    click_pixel(qtbot, w, 30, 25)
    wait_idle(qtbot, w)
    a.finish()
    wait_idle(qtbot, w)
    assert len(a.store.instances(a.image_id)) == 2
    qtbot.keyClick(w, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    wait_idle(qtbot, w)
    assert len(a.store.instances(a.image_id)) == 1 and [(e.click.x, e.click.y) for e in a.clicks] == [(30, 25)]


def test_propagate_seeds_the_next_slice_with_the_mask_and_derived_clicks(vwin, qtbot):
    w, a = vwin, vwin.ann
    a.open_slice("axial", 4)
    wait_idle(qtbot, w)
    click_pixel(qtbot, w, 20, 16)
    click_pixel(qtbot, w, 28, 16)
    wait_idle(qtbot, w)
    mask = a.prediction.mask.copy()
    source = a.image_id
    qtbot.keyClick(w.canvas, Qt.Key.Key_PageDown, Qt.KeyboardModifier.ControlModifier)
    wait_idle(qtbot, w)
    # the object was finished on slice 4 ...
    (inst,) = a.store.instances(source)
    assert np.array_equal(inst.mask(), mask)
    # ... and slice 5 started from it
    assert a.slice_index == 5 and a.image_id != source
    s = _session(w)
    assert s._seed is not None and np.array_equal(s._seed, mask)
    expected = [(c.x, c.y, c.positive) for c in derive_clicks(mask)]
    assert [(c.x, c.y, c.positive) for c in s.human_clicks] == expected
    assert expected[0][2] and mask[int(expected[0][1]), int(expected[0][0])]  # positive inside
    assert not expected[-1][2] and not mask[int(expected[-1][1]), int(expected[-1][0])]  # negative outside
    assert [(e.click.x, e.click.y, e.click.positive) for e in a.clicks] == expected
    assert [(c.x, c.y, c.positive) for c in a.store.draft(a.image_id).clicks] == expected
    assert a.prediction is not None and a.prediction.mask.any() and a.proposal is not None
    # correct it and carry on: Ctrl+PgDown again finishes slice 5 and seeds slice 6
    click_pixel(qtbot, w, 10, 8)
    wait_idle(qtbot, w)
    mask5 = a.prediction.mask.copy()
    assert mask5[8, 10]
    w.propagate(1)
    wait_idle(qtbot, w)
    assert a.slice_index == 6 and np.array_equal(_session(w)._seed, mask5)
    assert a.slice_markers() == {4: "objects", 5: "objects", 6: "draft"}
    # undo takes the propagated object back
    a.undo()
    wait_idle(qtbot, w)
    assert a.clicks == [] and a.store.draft(a.image_id) is None
    assert a.store.clicks(a.image_id) == []
    # from a selected object, backwards
    a.open_slice("axial", 4)
    wait_idle(qtbot, w)
    w.instances_panel.list.setCurrentRow(0)
    qtbot.keyClick(w.canvas, Qt.Key.Key_PageUp, Qt.KeyboardModifier.ControlModifier)
    wait_idle(qtbot, w)
    assert a.slice_index == 3 and np.array_equal(_session(w)._seed, mask)


def test_propagation_stops_when_the_object_vanishes(vwin, qtbot, fake_config):
    w, a = vwin, vwin.ann
    a.open_slice("axial", 10)
    wait_idle(qtbot, w)
    click_pixel(qtbot, w, 20, 16)
    wait_idle(qtbot, w)
    fake_config.blank = True  # the next slice has nothing left of the object
    assert w.propagate(1)
    wait_idle(qtbot, w)
    assert a.slice_index == 11
    assert "vanished" in w.statusBar().currentMessage()
    assert a.clicks == [] and a.store.draft(a.image_id) is None  # the empty object was taken back
    assert a.slice_markers()[10] == "objects"
    fake_config.blank = False
    # nothing to propagate, and no slice beyond the last one
    assert not w.propagate(1)
    assert not w.propagate(-1)  # nothing drawn on slice 11


def test_close_and_reopen_restores_the_volume_view_and_slice_annotations(make_window, nifti, tmp_path, qtbot):
    proj = tmp_path / "p.pcproj"
    w = make_window(proj)
    w.open_volume(nifti)
    wait_idle(qtbot, w)
    a = w.ann
    _annotate(qtbot, w, 2, 20, 16)
    inst_counts = a.store.instances()[0].rle["counts"]
    a.set_axis("coronal")
    a.open_slice("coronal", 20)
    wait_idle(qtbot, w)
    click_pixel(qtbot, w, 15, 6)  # an unfinished object on a coronal slice
    wait_idle(qtbot, w)
    draft_mask = a.prediction.mask.copy()
    w.close()

    w2 = make_window(proj)
    b = w2.ann
    assert b.volume is not None and (b.axis, b.slice_index) == ("coronal", 20)
    assert w2.volume_bar.isVisible() and w2.canvas.image_size == (12, 40) and w2.canvas.aspect == pytest.approx(3)
    assert [(e.click.x, e.click.y) for e in b.clicks] == [(15, 6)]
    assert np.array_equal(b.prediction.mask, draft_mask)
    assert b.slice_markers() == {20: "draft"}
    b.set_axis("axial")
    wait_idle(qtbot, w2)
    assert b.slice_index == 2  # each plane remembers its slice
    assert [i.rle["counts"] for i in b.store.instances(b.image_id)] == [inst_counts]
    assert b.slice_markers() == {2: "objects"}
    assert "1 slice annotated" in w2.files_panel.list.item(0).text()


def test_missing_volume_file_gives_a_message(make_window, nifti, tmp_path, qtbot):
    proj = tmp_path / "p.pcproj"
    w = make_window(proj)
    w.open_volume(nifti)
    wait_idle(qtbot, w)
    w.close()
    nifti.rename(tmp_path / "moved.nii.gz")
    w2 = make_window(proj)
    assert w2.ann.volume is None
    assert any("volume" in b.text().lower() for b in w2.findChildren(QMessageBox) if b.isVisible())


def test_export_nifti_puts_the_slice_objects_on_the_source_grid(vwin, nifti, tmp_path, qtbot):
    from pseudoclick_gui.project.export_nifti import export_nifti

    w, a = vwin, vwin.ann
    _annotate(qtbot, w, 3, 20, 16)
    a.set_axis("coronal")
    a.open_slice("coronal", 9)
    wait_idle(qtbot, w)
    click_pixel(qtbot, w, 30, 5)
    wait_idle(qtbot, w)
    a.finish()
    wait_idle(qtbot, w)
    insts = {a.store.image(i.image_id).axis: i for i in a.store.instances()}
    summary = export_nifti(a.store, tmp_path / "labels", progress=False)
    (path,) = summary["files"]
    out = nib.load(path)
    src = nib.load(str(nifti))
    assert np.allclose(out.affine, src.affine) and out.shape == SHAPE
    lab = np.asarray(out.dataobj)
    vol = open_volume(nifti)
    cat = a.category_id
    for axis, index, (x, y) in (("axial", 3, (20, 16)), ("coronal", 9, (30, 5))):
        assert lab[vol.slice_to_voxel(axis, index, y, x)] == cat  # the voxel under the click
    expected = np.zeros(SHAPE, bool)
    for axis, index in (("axial", 3), ("coronal", 9)):
        vol.slice_of(expected, axis, index)[insts[axis].mask()] = True
    assert np.array_equal(lab == cat, expected)
