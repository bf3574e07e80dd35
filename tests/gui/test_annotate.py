"""The user's path through the app, driven with pytest-qt on an offscreen display."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from conftest import click_pixel, finish_one, wait_idle
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox


def _clicks(store, image_id, kind=None):
    return [c for c in store.clicks(image_id) if kind is None or c.kind == kind]


def test_canvas_click_runs_real_network_in_worker_and_updates_overlay(make_window, images, tmp_path, qtbot):
    from pseudoclick_gui.gui.app import session_factory

    w = make_window(tmp_path / "p.pcproj", images[:1], factory=session_factory(random_model=True))
    assert w.banner.isVisible() and "meaningless" in w.banner.text()
    assert w.canvas.layer_pixmap("current").isNull()
    click_pixel(qtbot, w, 70, 50)
    qtbot.waitUntil(lambda: w.ann.prediction is not None, timeout=60000)
    wait_idle(qtbot, w, 60000)
    pm = w.canvas.layer_pixmap("current")
    assert not pm.isNull() and (pm.width(), pm.height()) == (160, 120)
    assert w.ann.prediction.probability.shape == (120, 160)
    store = w.ann.store
    (c,) = _clicks(store, w.ann.image_id)
    assert (c.x, c.y, c.positive, c.kind) == (70, 50, True, "human")
    d = store.draft(w.ann.image_id)
    assert d is not None and np.array_equal(d.mask, w.ann.prediction.mask)
    assert "CPU" in w.st_device.text() and "ms" in w.st_ms.text()


def test_left_right_and_shift_clicks_map_to_pixels_and_signs(make_window, images, tmp_path, qtbot):
    w = make_window(tmp_path / "p.pcproj", images[:1])
    w.canvas.zoom_by(2.0)  # not a trivial mapping
    w.canvas.centerOn(80, 60)
    click_pixel(qtbot, w, 80, 60)
    click_pixel(qtbot, w, 75, 55, Qt.MouseButton.RightButton)
    click_pixel(qtbot, w, 85, 65, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ShiftModifier)
    wait_idle(qtbot, w)
    got = [(c.x, c.y, c.positive) for c in _clicks(w.ann.store, w.ann.image_id)]
    assert got == [(80, 60, True), (75, 55, False), (85, 65, False)]


def test_accept_and_withdraw_pseudo_click(make_window, images, tmp_path, qtbot):
    w = make_window(tmp_path / "p.pcproj", images[:1])
    a = w.ann
    click_pixel(qtbot, w, 50, 50)
    wait_idle(qtbot, w)
    p = a.proposal
    assert p is not None and (p.x, p.y) == (72, 50)
    assert w.canvas._proposal is not None
    before = int(a.prediction.mask.sum())
    qtbot.keyClick(w.canvas, Qt.Key.Key_Return)  # accept
    wait_idle(qtbot, w)
    assert [e.kind for e in a.clicks] == ["human", "pseudo"]
    assert "0 objects · 1 click saved" in w.st_saved.text()  # singular and plural
    assert a.prediction.mask[50, 72] and a.prediction.mask.sum() > before  # the accepted click changed the mask
    assert [(c.x, c.y) for c in _clicks(a.store, a.image_id, "pseudo_accepted")] == [(72, 50)]
    p2 = a.proposal
    assert p2 is not None and (p2.x, p2.y) != (72, 50)
    qtbot.keyClick(w.canvas, Qt.Key.Key_Backspace)  # withdraw
    wait_idle(qtbot, w)
    assert [e.kind for e in a.clicks] == ["human", "pseudo", "withdrawn"]
    assert [(c.x, c.y) for c in _clicks(a.store, a.image_id, "pseudo_withdrawn")] == [(p2.x, p2.y)]
    assert a.proposal is not None and (a.proposal.x, a.proposal.y) != (p2.x, p2.y)
    # clicking on the proposal accepts it
    p3 = a.proposal
    click_pixel(qtbot, w, p3.x, p3.y)
    wait_idle(qtbot, w)
    assert [e.kind for e in a.clicks][-1] == "pseudo"
    assert "1 click + 2 suggested" in w.st_object.text()
    assert "2 clicks saved" in w.st_saved.text()


def test_proposals_toggle_and_auto_accept(make_window, images, tmp_path, qtbot, fake_config):
    w = make_window(tmp_path / "p.pcproj", images[:1])
    a = w.ann
    w.actions["toggle_proposals"].setChecked(False)
    click_pixel(qtbot, w, 50, 50)
    wait_idle(qtbot, w)
    assert a.proposal is None and w.canvas._proposal is None
    w.actions["toggle_proposals"].setChecked(True)
    wait_idle(qtbot, w)
    assert a.proposal is not None
    a.reset()
    w.auto_spin.setValue(0.75)
    w.auto_box.setChecked(True)  # fake confidence is 0.8
    click_pixel(qtbot, w, 40, 40)
    qtbot.waitUntil(lambda: any(e.kind == "pseudo" for e in a.clicks), timeout=10000)
    wait_idle(qtbot, w)
    assert a.auto_accepted >= 1
    w.auto_spin.setValue(0.85)
    n = len(a.clicks)
    click_pixel(qtbot, w, 120, 100)
    wait_idle(qtbot, w)
    assert len(a.clicks) == n + 1  # below the threshold: shown, not accepted


def test_undo_redo_over_clicks_and_finished_objects(make_window, images, tmp_path, qtbot):
    w = make_window(tmp_path / "p.pcproj", images[:1])
    a = w.ann
    store = a.store
    click_pixel(qtbot, w, 40, 40)
    wait_idle(qtbot, w)
    a.accept_proposal()
    wait_idle(qtbot, w)
    mask_before = a.prediction.mask.copy()
    qtbot.keyClick(w.canvas, Qt.Key.Key_Space)  # finish
    wait_idle(qtbot, w)
    (inst,) = store.instances(a.image_id)
    assert np.array_equal(inst.mask(), mask_before)
    assert a.clicks == [] and a.prediction is None
    assert w.instances_panel.list.count() == 1

    qtbot.keyClick(w, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # undo finish
    wait_idle(qtbot, w)
    assert store.instances(a.image_id) == []
    assert [e.kind for e in a.clicks] == ["human", "pseudo"]
    assert a.prediction is not None and np.array_equal(a.prediction.mask, mask_before)
    assert np.array_equal(store.draft(a.image_id).mask, mask_before)
    a.undo()  # undo the accepted pseudo click
    wait_idle(qtbot, w)
    assert [e.kind for e in a.clicks] == ["human"]
    assert _clicks(store, a.image_id, "pseudo_accepted") == []
    assert not a.prediction.mask[40, 62]

    a.redo()  # pseudo click back
    wait_idle(qtbot, w)
    assert [e.kind for e in a.clicks] == ["human", "pseudo"] and a.prediction.mask[40, 62]
    qtbot.keyClick(w, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    wait_idle(qtbot, w)
    (again,) = store.instances(a.image_id)
    assert again.id == inst.id and a.clicks == []
    assert store.draft(a.image_id) is None
    # delete the instance, undo the delete
    a.delete_instance(inst.id)
    assert store.instances(a.image_id) == []
    a.undo()
    assert [i.id for i in store.instances(a.image_id)] == [inst.id]


def test_escape_resets_and_undo_brings_the_object_back(make_window, images, tmp_path, qtbot):
    w = make_window(tmp_path / "p.pcproj", images[:1])
    a = w.ann
    click_pixel(qtbot, w, 40, 40)
    click_pixel(qtbot, w, 60, 40)
    wait_idle(qtbot, w)
    qtbot.keyClick(w.canvas, Qt.Key.Key_Escape)
    wait_idle(qtbot, w)
    assert a.clicks == [] and a.store.clicks(a.image_id) == [] and a.store.draft(a.image_id) is None
    a.undo()
    wait_idle(qtbot, w)
    assert len(a.clicks) == 2 and len(a.store.clicks(a.image_id)) == 2 and a.prediction.mask[40, 60]


def test_two_objects_two_categories_survive_close_and_reopen(make_window, images, tmp_path, qtbot):
    proj = tmp_path / "p.pcproj"
    w = make_window(proj, images)
    a = w.ann
    assert w.files_panel.list.count() == 3
    click_pixel(qtbot, w, 40, 40)
    wait_idle(qtbot, w)
    assert a.finish()
    wait_idle(qtbot, w)
    w.categories_panel.add("cup")
    cup = a.store.category_by_name("cup").id
    assert a.category_id == cup
    click_pixel(qtbot, w, 120, 90)
    wait_idle(qtbot, w)
    assert a.finish()
    wait_idle(qtbot, w)
    # an unfinished third object is kept as the draft
    click_pixel(qtbot, w, 100, 20)
    wait_idle(qtbot, w)
    draft_mask = a.prediction.mask.copy()
    image_id = a.image_id
    insts = [(i.category_id, i.rle["counts"]) for i in a.store.instances(image_id)]
    assert [c for c, _ in insts] == [a.store.category_by_name("object").id, cup]
    w.close()

    w2 = make_window(proj)
    b = w2.ann
    assert b.image_id == image_id
    assert [(i.category_id, i.rle["counts"]) for i in b.store.instances(image_id)] == insts
    assert w2.instances_panel.list.count() == 2
    assert not w2.canvas.layer_pixmap("instances").isNull()
    assert [(e.click.x, e.click.y, e.kind) for e in b.clicks] == [(100, 20, "human")]
    assert np.array_equal(b.prediction.mask, draft_mask)  # draft replayed through the session
    assert "○" in w2.files_panel.list.item(1).text()  # untouched images stay untouched
    # next / previous image keys
    qtbot.keyClick(w2.canvas, Qt.Key.Key_D)
    wait_idle(qtbot, w2)
    assert b.image_id != image_id and b.clicks == []
    qtbot.keyClick(w2.canvas, Qt.Key.Key_A)
    wait_idle(qtbot, w2)
    assert b.image_id == image_id and len(b.clicks) == 1


def test_reopen_instance_refines_and_updates_it(make_window, images, tmp_path, qtbot):
    w = make_window(tmp_path / "p.pcproj", images[:1])
    a = w.ann
    inst = finish_one(qtbot, w)
    assert a.reopen_instance(inst.id)
    wait_idle(qtbot, w)
    assert a.reopened == inst.id and np.array_equal(a.prediction.mask, inst.mask())
    click_pixel(qtbot, w, 120, 100)
    wait_idle(qtbot, w)
    assert a.finish()
    wait_idle(qtbot, w)
    (after,) = a.store.instances(a.image_id)
    assert after.id == inst.id and after.area > inst.area and after.mask()[100, 120]
    a.undo()
    wait_idle(qtbot, w)
    assert a.store.instance(inst.id).area == inst.area and a.reopened == inst.id


def test_export_coco_masks_decode_to_the_stored_masks(make_window, images, tmp_path, qtbot):
    from pycocotools import mask as mask_utils
    from pycocotools.coco import COCO

    w = make_window(tmp_path / "p.pcproj", images[:2])
    a = w.ann
    for x, y in ((40, 40), (120, 90)):
        click_pixel(qtbot, w, x, y)
        wait_idle(qtbot, w)
        a.finish()
        wait_idle(qtbot, w)
    out = tmp_path / "coco.json"
    summary = w.export("coco", out)
    assert out.is_file() and summary["path"] == str(out)
    coco = COCO(str(out))
    anns = coco.loadAnns(coco.getAnnIds())
    stored = {i.id: i.mask() for i in a.store.instances()}
    assert len(anns) == 2
    for ann in anns:
        assert np.array_equal(coco.annToMask(ann).astype(bool), stored[ann["id"]])
        assert mask_utils.area(ann["segmentation"]) == stored[ann["id"]].sum()
    png_dir = tmp_path / "png"
    w.export("png", png_dir)
    assert len(list((png_dir / "instances").glob("*.png"))) == 2


def test_screenshot_is_not_blank(make_window, images, tmp_path, qtbot):
    w = make_window(tmp_path / "p.pcproj", images[:1])
    click_pixel(qtbot, w, 60, 50)
    wait_idle(qtbot, w)
    img = w.grab().toImage()
    arr = np.array([[img.pixel(x, y) for x in range(0, img.width(), 7)] for y in range(0, img.height(), 7)])
    assert len(np.unique(arr)) > 50
    path = tmp_path / "shot.png"
    assert w.grab().save(str(path)) and path.stat().st_size > 5000


def test_worker_exception_becomes_a_message_and_the_app_keeps_working(make_window, images, tmp_path, qtbot, fake_config):
    w = make_window(tmp_path / "p.pcproj", images[:1])
    fake_config.fail_next = True
    click_pixel(qtbot, w, 40, 40)
    wait_idle(qtbot, w)
    boxes = [b for b in w.findChildren(QMessageBox) if b.isVisible()]
    assert boxes and "injected failure" in boxes[0].text()
    assert "injected failure" in w.statusBar().currentMessage()
    click_pixel(qtbot, w, 60, 40)
    wait_idle(qtbot, w)
    assert w.ann.prediction is not None and w.ann.prediction.mask[40, 60]


def test_stale_results_are_dropped_and_clicks_coalesced(make_window, images, tmp_path, qtbot, fake_config):
    w = make_window(tmp_path / "p.pcproj", images[:1])
    a = w.ann
    fake_config.gate = threading.Event()
    fake_config.entered = threading.Event()
    calls0 = fake_config.predict_calls
    click_pixel(qtbot, w, 30, 30)
    assert fake_config.entered.wait(5)  # the worker is inside predict() for click 1
    click_pixel(qtbot, w, 60, 30)
    click_pixel(qtbot, w, 90, 30)
    assert a.prediction is None
    fake_config.gate.set()
    wait_idle(qtbot, w)
    assert a.client.dropped == 1  # click 1's result arrived after click 3 was sent
    m = a.prediction.mask
    assert m[30, 30] and m[30, 60] and m[30, 90]  # the shown result includes every click
    # click 1: predict only (its proposal would be stale: clicks 2 and 3 were waiting, so the pass is skipped);
    # clicks 2 and 3 coalesced into one predict + propose
    assert fake_config.predict_calls - calls0 == 3


def test_bad_image_file_and_bad_project_give_messages(make_window, images, tmp_path, qtbot):
    w = make_window(tmp_path / "p.pcproj", images[:1])
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8 not really a jpeg")
    w.open_paths([bad])
    boxes = [b for b in w.findChildren(QMessageBox) if b.isVisible()]
    assert boxes, "no message for a broken image"
    notproj = tmp_path / "notaproject.pcproj"
    notproj.write_bytes(b"hello, I am not SQLite" * 100)
    assert not w.open_project(notproj)
    assert any("project" in b.text().lower() for b in w.findChildren(QMessageBox) if b.isVisible())
    assert w.ann.store is not None  # the open project stays open


def test_help_lists_every_shortcut_and_settings_persist(make_window, images, tmp_path, qtbot):
    from pseudoclick_gui.gui.settings import AppSettings
    from pseudoclick_gui.gui.shortcuts import SHORTCUTS, help_html

    w = make_window(tmp_path / "p.pcproj", images[:1])
    html = help_html()
    for name, action in w.actions.items():
        for seq in action.shortcuts():
            key = seq.toString()
            assert key in html or key.replace("PgDown", "PgDown") in html, (name, key)
    assert all(s.text in html for s in SHORTCUTS)
    w.opacity.setValue(70)
    w.auto_spin.setValue(0.6)
    w.actions["toggle_proposals"].setChecked(False)
    w.close()
    s = AppSettings.load()
    assert s.overlay_opacity == pytest.approx(0.7) and s.auto_accept_threshold == pytest.approx(0.6)
    assert s.suggestions == "off" and str(tmp_path / "p.pcproj") in s.recent_projects[0]


def test_finish_while_predicting_waits_for_the_latest_click(make_window, images, tmp_path, qtbot, fake_config):
    w = make_window(tmp_path / "p.pcproj", images[:1])
    a = w.ann
    click_pixel(qtbot, w, 40, 40)
    wait_idle(qtbot, w)
    fake_config.gate = threading.Event()
    click_pixel(qtbot, w, 100, 80)
    qtbot.keyClick(w.canvas, Qt.Key.Key_Space)  # the shown mask does not have the 2nd click yet
    assert a.store.instances(a.image_id) == []
    fake_config.gate.set()
    qtbot.waitUntil(lambda: len(a.store.instances(a.image_id)) == 1, timeout=10000)
    m = a.store.instances(a.image_id)[0].mask()
    assert m[40, 40] and m[80, 100]


def test_failing_store_call_in_a_command_becomes_a_message(make_window, images, tmp_path, qtbot):
    w = make_window(tmp_path / "p.pcproj", images[:1])
    a = w.ann
    inst = finish_one(qtbot, w)
    a.store.purge_deleted()
    a.delete_instance(inst.id)
    a.store.purge_deleted()  # the row is gone: undoing the delete cannot restore it
    a.undo()
    assert any("failed" in b.text() for b in w.findChildren(QMessageBox) if b.isVisible())
    click_pixel(qtbot, w, 60, 60)
    wait_idle(qtbot, w)
    assert a.prediction.mask[60, 60]


def test_undoing_every_click_leaves_no_stale_draft(make_window, images, tmp_path, qtbot):
    proj = tmp_path / "p.pcproj"
    w = make_window(proj, images)
    a = w.ann
    click_pixel(qtbot, w, 40, 40)
    wait_idle(qtbot, w)
    click_pixel(qtbot, w, 60, 50)
    wait_idle(qtbot, w)
    image_id = a.image_id
    assert a.store.draft(image_id) is not None
    a.undo()
    wait_idle(qtbot, w)
    a.undo()
    wait_idle(qtbot, w)
    assert a.clicks == []
    assert a.store.draft(image_id) is None  # nothing is being drawn any more
    w.close()
    w2 = make_window(proj)
    assert w2.ann.image_id == image_id and w2.ann.clicks == []
    assert w2.ann.prediction is None or not w2.ann.prediction.mask.any()


def test_new_project_in_a_missing_folder_creates_the_folder(make_window, images, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    w = make_window(tmp_path / "p.pcproj", images[:1])
    target = tmp_path / "new" / "deeper" / "fresh"  # no suffix typed: .pcproj is added
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (str(target), "")))
    w.new_project_dialog()
    assert (tmp_path / "new" / "deeper" / "fresh.pcproj").is_file()
    assert Path(w.ann.store.path) == tmp_path / "new" / "deeper" / "fresh.pcproj"
    blocker = tmp_path / "afile"
    blocker.write_text("x")  # a file where a folder should be: a message, the open project stays
    assert not w.new_project(blocker / "sub" / "p.pcproj")
    assert any("folder" in b.text().lower() for b in w.findChildren(QMessageBox) if b.isVisible())
    assert Path(w.ann.store.path) == tmp_path / "new" / "deeper" / "fresh.pcproj"


def test_preferences_suggestions_off_on_and_the_papers_rule_reach_every_session_and_persist(
        make_window, images, tmp_path, qtbot, fake_config):  # fmt: skip
    from pseudoclick_gui.gui.main_window import PreferencesDialog
    from pseudoclick_gui.gui.settings import AppSettings

    w = make_window(tmp_path / "p.pcproj", images[:1])
    labels = [a.text() for m in w.menuBar().actions() for a in m.menu().actions()]
    assert not any("Proposal rule" in t or "grey images" in t for t in labels)  # no rule menu for annotators
    assert any(t.startswith("Preferences") for t in labels)
    state = w.ann.client._worker.state
    click_pixel(qtbot, w, 50, 50)
    wait_idle(qtbot, w)
    assert w.ann.proposal is not None
    w.set_suggestions("paper")
    wait_idle(qtbot, w)
    assert state.template.proposal_rule == state.session.proposal_rule == "paper"
    assert w.ann.proposal is not None and w.actions["toggle_proposals"].isChecked()
    w.set_suggestions("off")  # the GUI asks for no proposals and shows none
    wait_idle(qtbot, w)
    assert w.ann.proposal is None and w.canvas._proposal is None and not w.actions["toggle_proposals"].isChecked()
    click_pixel(qtbot, w, 60, 60)
    wait_idle(qtbot, w)
    assert w.ann.proposal is None
    qtbot.keyClick(w.canvas, Qt.Key.Key_P)  # P turns them back on with the rule chosen before
    wait_idle(qtbot, w)
    assert w.settings.suggestions == "paper" and w.ann.proposal is not None
    assert PreferencesDialog("paper").choice() == "paper"
    w.close()
    assert AppSettings.load().suggestions == "paper"
    w2 = make_window(tmp_path / "p.pcproj", images[:1])
    qtbot.waitUntil(lambda: w2.ann.client._worker.state.template.proposal_rule == "paper", timeout=20000)
    w2.set_suggestions("on")
    wait_idle(qtbot, w2)
    assert w2.ann.client._worker.state.template.proposal_rule is None


def test_old_settings_become_the_suggestions_setting(tmp_path):
    import json

    from pseudoclick_gui.gui.settings import AppSettings

    AppSettings.path().parent.mkdir(parents=True, exist_ok=True)
    AppSettings.path().write_text(json.dumps({"proposal_rule": "errors", "grey_network": False}))
    assert AppSettings.load().suggestions == "paper"
    AppSettings.path().write_text(json.dumps({"proposals_enabled": False, "proposal_rule": "scored"}))
    s = AppSettings.load()
    assert s.suggestions == "off" and s.suggestions_on == "on"


def test_pseudo_clicks_a_later_human_click_supersedes_are_drawn_spent(make_window, images, tmp_path, qtbot,
                                                                        fake_config):
    fake_config.pseudo_lifetime = "step"  # the session says: accepted pseudo clicks expire at the next human click
    w = make_window(tmp_path / "p.pcproj", images[:1])
    a = w.ann
    click_pixel(qtbot, w, 50, 50)
    wait_idle(qtbot, w)
    qtbot.keyClick(w.canvas, Qt.Key.Key_Return)  # accept
    wait_idle(qtbot, w)
    assert [m[3] for m in a.click_markers()] == ["human", "pseudo"]
    click_pixel(qtbot, w, 40, 80)
    wait_idle(qtbot, w)
    assert [m[3] for m in a.click_markers()] == ["human", "pseudo-spent", "human"]
    assert [m.kind for m in w.canvas._markers] == ["human", "pseudo-spent", "human"]
    assert a.object_counts() == (2, 1)  # it still counts as a saved click
    w.canvas.grab()  # drawn (faded) without error
    qtbot.keyClick(w.canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    wait_idle(qtbot, w)
    assert [m.kind for m in w.canvas._markers] == ["human", "pseudo"]  # an input again
    fake_config.pseudo_lifetime = "object"
    click_pixel(qtbot, w, 40, 80)
    wait_idle(qtbot, w)
    assert [m.kind for m in w.canvas._markers] == ["human", "pseudo", "human"]


def test_pseudo_clicks_a_human_click_contradicts_are_drawn_spent(make_window, images, tmp_path, qtbot, fake_config):
    fake_config.pseudo_lifetime = "contradicted"
    w = make_window(tmp_path / "p.pcproj", images[:1])
    a = w.ann
    click_pixel(qtbot, w, 50, 50)
    wait_idle(qtbot, w)
    qtbot.keyClick(w.canvas, Qt.Key.Key_Return)  # accept
    wait_idle(qtbot, w)
    (px, py, _, kind) = a.click_markers()[1]
    assert kind == "pseudo"
    click_pixel(qtbot, w, 40, 80)
    wait_idle(qtbot, w)
    assert [m.kind for m in w.canvas._markers] == ["human", "pseudo", "human"]  # not contradicted: still an input
    fake_config.spent = [(px, py)]  # the session now says a human click undid it
    click_pixel(qtbot, w, 60, 30)
    wait_idle(qtbot, w)
    assert [m.kind for m in w.canvas._markers] == ["human", "pseudo-spent", "human", "human"]
    assert a.object_counts() == (3, 1)
