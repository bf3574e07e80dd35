"""Opening volumes in the app: NIfTI from the menu path and the command line, slice / plane navigation with the
pixel aspect, window/level (display only), DICOM series choice and reader warnings, the shared BraTS case."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import click_pixel, wait_idle
from dicom_series import write_dicom_series
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication

from pseudoclick_gui.io.synthetic import save_phantom
from pseudoclick_gui.io.volume import open_volume

SHAPE = (40, 32, 12)  # X, Y, Z; axial slices are 32 x 40, coronal 12 x 40 with 3 mm / 1 mm pixels


@pytest.fixture
def nifti(tmp_path):
    return save_phantom(tmp_path / "phantom.nii.gz", shape=SHAPE, spacing=(1.0, 1.0, 3.0), seed=1, noise=1.0)


def _state(w):
    return w.ann.client._worker.state  # worker-thread state; read only while the worker is idle


def _pixels(pixmap) -> np.ndarray:
    img = pixmap.toImage()
    return np.array([[img.pixel(x, y) & 0xFF for x in range(img.width())] for y in range(img.height())])


def _wheel(w, steps: int, ctrl: bool = True):
    vp = w.canvas.viewport()
    pos = QPointF(vp.width() / 2, vp.height() / 2)
    mods = Qt.KeyboardModifier.ControlModifier if ctrl else Qt.KeyboardModifier.NoModifier
    ev = QWheelEvent(pos, vp.mapToGlobal(pos), QPoint(0, 0), QPoint(0, 120 * steps), Qt.MouseButton.NoButton, mods,
                     Qt.ScrollPhase.NoScrollPhase, False)  # fmt: skip
    QApplication.sendEvent(vp, ev)


def test_open_nifti_shows_the_middle_axial_slice_and_registers_the_volume(make_window, nifti, tmp_path, qtbot):
    w = make_window(tmp_path / "p.pcproj")
    assert w.open_volume(nifti)
    wait_idle(qtbot, w)
    a = w.ann
    vol = open_volume(nifti)
    (rec,) = a.store.volumes()
    assert rec.shape == SHAPE and np.allclose(rec.affine, vol.affine) and rec.kind == "nifti"
    assert (a.axis, a.slice_index) == ("axial", 6)
    assert w.canvas.image_size == (32, 40) and w.volume_bar.isVisible()
    assert w.volume_bar.slider.maximum() == 11 and w.volume_bar.spin.value() == 6
    assert "▣" in w.files_panel.list.item(0).text() and "phantom" in w.files_panel.list.item(0).text()
    # the network gets the raw-intensity percentile slice, never the display image
    assert np.array_equal(_state(w).template.image, vol.network_slice("axial", 6))
    assert a.store.images() == []  # browsing adds no image rows
    assert not w.volume_banner.isVisible()  # no reader warnings for this file


def test_command_line_paths_open_volumes_and_images(tmp_path, images, nifti, qtbot, monkeypatch, make_window):
    from pseudoclick_gui.gui import app
    from pseudoclick_gui.gui.volume_view import looks_like_volume

    assert looks_like_volume(nifti) and not looks_like_volume(images[0]) and not looks_like_volume(images[0].parent)
    a = app.build_parser().parse_args(["--volume", "stack_dir", "--volume", "b.nii.gz", "x.nii.gz"])
    assert a.volume == ["stack_dir", "b.nii.gz"] and a.paths == ["x.nii.gz"]
    w = make_window(tmp_path / "p.pcproj")
    w.open_paths([images[0], nifti])  # what `pseudoclick-gui IMAGE VOLUME` does
    wait_idle(qtbot, w)
    assert len(w.ann.images()) == 1 and len(w.ann.store.volumes()) == 1
    assert w.ann.volume is not None and w.files_panel.list.count() == 2
    # D / A walk the file list, volumes included
    qtbot.keyClick(w.canvas, Qt.Key.Key_A)
    wait_idle(qtbot, w)
    assert w.ann.volume is None and w.canvas.image_size == (120, 160) and not w.volume_bar.isVisible()
    qtbot.keyClick(w.canvas, Qt.Key.Key_D)
    wait_idle(qtbot, w)
    assert w.ann.volume is not None and w.ann.slice_index == 6


def test_slice_keys_wheel_plane_and_pixel_aspect(make_window, nifti, tmp_path, qtbot):
    w = make_window(tmp_path / "p.pcproj")
    w.open_volume(nifti)
    wait_idle(qtbot, w)
    a = w.ann
    vol = open_volume(nifti)
    qtbot.keyClick(w.canvas, Qt.Key.Key_PageDown)
    qtbot.keyClick(w.canvas, Qt.Key.Key_PageDown)
    assert a.slice_index == 8 and w.volume_bar.slider.value() == 8
    qtbot.keyClick(w.canvas, Qt.Key.Key_PageUp)
    assert a.slice_index == 7
    _wheel(w, -2)  # Ctrl + wheel down two notches: two slices on
    assert a.slice_index == 9
    z = w.canvas.zoom_factor()
    _wheel(w, 1, ctrl=False)  # the plain wheel still zooms
    assert a.slice_index == 9 and w.canvas.zoom_factor() > z
    w.volume_bar.spin.setValue(3)
    assert a.slice_index == 3
    for _ in range(20):
        qtbot.keyClick(w.canvas, Qt.Key.Key_PageDown)
    assert a.slice_index == 11  # clamped at the last slice
    wait_idle(qtbot, w)
    # the neighbours are rendered ahead
    qtbot.waitUntil(lambda: w.renderer.cached("axial", 10, a.channel, *w._window))
    # coronal: 12 x 40 pixels of 1 mm x 3 mm, drawn three times taller than wide
    qtbot.keyClick(w.canvas, Qt.Key.Key_V)
    wait_idle(qtbot, w)
    assert a.axis == "coronal" and w.volume_bar.axis.currentData() == "coronal"
    assert w.canvas.image_size == (12, 40) and w.canvas.aspect == pytest.approx(3.0)
    t = w.canvas.transform()
    assert t.m22() / t.m11() == pytest.approx(3.0)
    assert a.slice_index == 16 and w.volume_bar.slider.maximum() == 31
    assert np.array_equal(_state(w).template.image, vol.network_slice("coronal", 16))
    # clicks land in slice pixels whatever the display scaling
    click_pixel(qtbot, w, 25, 7)
    click_pixel(qtbot, w, 5, 2, Qt.MouseButton.RightButton)
    wait_idle(qtbot, w)
    assert [(c.x, c.y, c.positive) for c in a.store.clicks(a.image_id)] == [(25, 7, True), (5, 2, False)]
    rec = a.store.image(a.image_id)
    assert (rec.axis, rec.slice_index, rec.height, rec.width) == ("coronal", 16, 12, 40)
    w.canvas.actual_size()
    assert w.canvas.transform().m22() == pytest.approx(3.0)


def test_window_preset_and_drag_change_the_display_not_the_network_input(make_window, nifti, tmp_path, qtbot,
                                                                        fake_config):  # fmt: skip
    w = make_window(tmp_path / "p.pcproj")
    w.open_volume(nifti)
    wait_idle(qtbot, w)
    a = w.ann
    n_images = len(fake_config.images)
    net = _state(w).template.image.copy()
    before = _pixels(w.canvas.image_pixmap())
    label = w.volume_bar.wl.text()
    w.set_window_choice("CT bone")
    wait_idle(qtbot, w)
    after = _pixels(w.canvas.image_pixmap())
    assert not np.array_equal(before, after)
    assert w.volume_bar.window.currentText() == "CT bone" and w.volume_bar.wl.text() == "L 400  W 1800"
    assert len(fake_config.images) == n_images and np.array_equal(_state(w).template.image, net)
    # W cycles the presets
    qtbot.keyClick(w.canvas, Qt.Key.Key_W)
    assert w.volume_bar.window.currentText() != "CT bone"
    w.set_window_choice("Default")
    assert w.volume_bar.wl.text() == label and np.array_equal(_pixels(w.canvas.image_pixmap()), before)
    # Ctrl + right drag adjusts the window and is not a click
    vp = w.canvas.viewport()
    start = w.canvas.image_to_widget(20, 16)
    ctrl = Qt.KeyboardModifier.ControlModifier
    qtbot.mousePress(vp, Qt.MouseButton.RightButton, ctrl, start)
    for k in range(1, 6):
        qtbot.mouseMove(vp, start + QPoint(12 * k, 6 * k))
    qtbot.mouseRelease(vp, Qt.MouseButton.RightButton, ctrl, start + QPoint(60, 30))
    wait_idle(qtbot, w)
    assert w.volume_bar.window.currentText() == "Custom" and w.volume_bar.wl.text() != label
    assert a.image_id is None and a.clicks == []
    assert len(fake_config.images) == n_images and np.array_equal(_state(w).template.image, net)
    # a Ctrl + right click without dragging is still a negative click
    click_pixel(qtbot, w, 20, 16, Qt.MouseButton.RightButton, ctrl)
    wait_idle(qtbot, w)
    assert [(c.x, c.y, c.positive) for c in a.store.clicks(a.image_id)] == [(20, 16, False)]
    # the window survives slice changes
    qtbot.keyClick(w.canvas, Qt.Key.Key_PageDown)
    assert w.volume_bar.window.currentText() == "Custom"


def _write_dicom(folder, series_uid, n, value, description):
    arr = np.full((16, 20), value, np.uint16)
    arr[4:12, 5:15] = value + 400
    positions = [(0.0, 0.0, 2.0 * k + (0.7 if k == n - 1 else 0.0)) for k in range(n)]  # an irregular last gap
    write_dicom_series(folder, [arr] * n, positions, pixel_spacing=(0.5, 0.5), intercept=-1024.0,
                       series_uid=series_uid, study_uid="1.2.3", description=description,
                       names=[f"{description}_{k:02d}.dcm" for k in range(n)])  # fmt: skip


def test_dicom_folder_with_two_series_asks_which_and_warnings_are_shown(make_window, tmp_path, qtbot, monkeypatch):
    folder = tmp_path / "dicom"
    _write_dicom(folder, "1.2.3.1", 4, 1000, "first")
    _write_dicom(folder, "1.2.3.2", 5, 1100, "second")
    w = make_window(tmp_path / "p.pcproj")
    asked = []

    def choose(infos):
        asked.append(sorted(i.n_files for i in infos))
        return next(i for i in infos if i.uid == "1.2.3.2")

    monkeypatch.setattr(w, "choose_series", choose)
    assert w.open_volume(folder)
    wait_idle(qtbot, w)
    assert asked == [[4, 5]]
    (rec,) = w.ann.store.volumes()
    assert rec.series_uid == "1.2.3.2" and rec.shape == (20, 16, 5)
    assert w.ann.volume.n_slices("axial") == 5
    assert w.volume_banner.isVisible() and "spacing" in w.volume_warning.text().lower()
    # cancelling the choice opens nothing
    monkeypatch.setattr(w, "choose_series", lambda infos: None)
    assert not w.open_volume(folder)
    assert len(w.ann.store.volumes()) == 1


def test_shared_brats_case_channels_switch_display_and_network(make_window, shared_data, tmp_path, qtbot, fake_config):
    case = shared_data / "brats2015_deepmedic" / "volumes" / "brats_2013_pat0005_1"
    if not case.is_dir():
        pytest.skip("BraTS case not present")
    w = make_window(tmp_path / "p.pcproj")
    assert w.open_volume(case)
    wait_idle(qtbot, w)
    a = w.ann
    names = a.volume.channel_names
    assert len(names) >= 2 and w.volume_bar.channel.isVisible()
    assert w.volume_bar.channel.count() == len(names)
    first = _state(w).template.image.copy()
    shown = _pixels(w.canvas.image_pixmap())
    qtbot.keyClick(w.canvas, Qt.Key.Key_T)
    wait_idle(qtbot, w)
    assert a.channel == names[1] and w.volume_bar.channel.currentText() == names[1]
    assert np.array_equal(_state(w).template.image, a.volume.network_slice("axial", a.slice_index, names[1]))
    assert not np.array_equal(_state(w).template.image, first)
    assert not np.array_equal(_pixels(w.canvas.image_pixmap()), shown)
    assert w.volume_banner.isVisible()  # the reader's note about the skipped brain mask
