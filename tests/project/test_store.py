import sqlite3
import threading

import numpy as np
import pytest

from pseudoclick_gui.errors import ProjectError
from pseudoclick_gui.project import ProjectStore
from pseudoclick_gui.project.store import SCHEMA_VERSION


def _reopen(store):
    path = store.path
    store.close()
    return ProjectStore.open(path)


def test_schema_created_and_reopened(tmp_path):
    p = tmp_path / "p.pcproj"
    with ProjectStore.open(p) as s:
        assert s.schema_version == SCHEMA_VERSION
        assert s.integrity_check() == "ok"
    conn = sqlite3.connect(p)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    conn.close()
    assert {"images", "volumes", "categories", "instances", "clicks", "drafts", "settings", "meta"} <= tables
    with ProjectStore.open(p) as s:  # reopening migrates nothing and keeps the version
        assert s.schema_version == SCHEMA_VERSION
        assert "created" in s.meta()


def test_open_refuses_garbage_foreign_and_newer_files(tmp_path):
    junk = tmp_path / "junk.pcproj"
    junk.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(ProjectError):
        ProjectStore.open(junk)
    other = tmp_path / "other.db"
    c = sqlite3.connect(other)
    c.execute("CREATE TABLE t (x)")
    c.commit()
    c.close()
    with pytest.raises(ProjectError, match="not a PseudoClick project"):
        ProjectStore.open(other)
    newer = tmp_path / "newer.pcproj"
    ProjectStore.open(newer).close()
    c = sqlite3.connect(newer)
    c.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    c.commit()
    c.close()
    with pytest.raises(ProjectError, match="newer"):
        ProjectStore.open(newer)
    with pytest.raises(ProjectError):
        ProjectStore.open(tmp_path / "missing-folder" / "p.pcproj")


def test_images_are_idempotent_relative_and_persist(store, image_dir, tmp_path):
    a = store.add_image(image_dir / "a.png")
    assert store.add_image(image_dir / "a.png") == a
    b = store.add_image(image_dir / "b.png")
    store.set_image_status(b, "done")
    with pytest.raises(ProjectError):
        store.set_image_status(b, "bogus")
    raw = sqlite3.connect(store.path).execute("SELECT path FROM images WHERE id = ?", (a,)).fetchone()[0]
    assert raw == "images/a.png"  # relative to the project file's folder
    store = _reopen(store)
    recs = {r.id: r for r in store.images()}
    assert recs[a].path == str(image_dir / "a.png")
    assert (recs[a].width, recs[a].height) == (40, 30)
    assert recs[b].status == "done" and recs[a].status == "untouched"
    assert recs[a].checksum and recs[a].checksum != recs[b].checksum
    store.close()


def test_categories(store):
    c1 = store.add_category("cat")
    c2 = store.add_category("dog", "#00ff00", "animal")
    with pytest.raises(ProjectError):
        store.add_category("cat")
    store.rename_category(c1, "kitty")
    with pytest.raises(ProjectError):
        store.rename_category(c1, "dog")
    store.set_category_color(c1, "#123456")
    store = _reopen(store)
    cats = {c.id: c for c in store.categories()}
    assert cats[c1].name == "kitty" and cats[c1].color == "#123456"
    assert cats[c2].supercategory == "animal"
    store.close()


def test_delete_category_refuses_or_reassigns(store, image_dir):
    img = store.add_image(image_dir / "a.png")
    c1, c2 = store.add_category("x"), store.add_category("y")
    m = np.zeros((30, 40), bool)
    m[3:8, 4:9] = True
    inst = store.add_instance(img, m, c1)
    with pytest.raises(ProjectError, match="used by 1"):
        store.delete_category(c1)
    store.delete_category(c1, reassign_to=c2)
    assert store.instance(inst).category_id == c2
    assert [c.id for c in store.categories()] == [c2]
    unused = store.add_category("z")
    store.delete_category(unused)


def test_instances_masks_hidden_soft_delete_restore(store, image_dir, rng, blob):
    img = store.add_image(image_dir / "a.png")
    cat = store.add_category("obj")
    m1 = blob(30, 40, rng, holes=True, parts=2)
    m2 = blob(30, 40, rng)
    i1 = store.add_instance(img, m1, cat)
    i2 = store.add_instance(img, m2, cat, source="import")
    with pytest.raises(ProjectError):
        store.add_instance(img, np.zeros((10, 10), bool), cat)  # wrong size
    with pytest.raises(ProjectError):
        store.add_instance(img, m1, 999)  # no such category
    with pytest.raises(ProjectError, match="no category"):
        store.set_instance_category(i1, 999)
    other = store.add_category("other")
    store.set_instance_category(i2, other)
    m1b = blob(30, 40, rng)
    store.update_instance_mask(i1, m1b)
    store.set_instance_hidden(i2, True)
    store.delete_instance(i2)
    store = _reopen(store)
    live = store.instances(img)
    assert [r.id for r in live] == [i1]
    assert np.array_equal(store.instance_mask(i1), m1b)
    assert live[0].area == int(m1b.sum())
    ys, xs = np.nonzero(m1b)
    assert live[0].bbox == (xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1)
    assert store.image(img).n_instances == 1
    assert store.image(img).status == "in_progress"
    all_ = store.instances(img, include_deleted=True)
    assert [r.id for r in all_] == [i1, i2] and all_[1].deleted and all_[1].hidden
    store.restore_instance(i2)
    store = _reopen(store)
    assert [r.id for r in store.instances(img)] == [i1, i2]
    assert np.array_equal(store.instances(img)[1].mask(), m2)
    assert store.instances(img)[1].source == "import"
    assert store.instances(img)[1].category_id == other
    store.close()


def test_add_instance_attaches_draft_clicks_and_clears_draft(store, image_dir, rng, blob):
    img = store.add_image(image_dir / "a.png")
    other = store.add_image(image_dir / "b.png")
    cat = store.add_category("obj")
    c1 = store.record_click(img, 10.5, 12, True)
    c2 = store.record_click(img, 3, 4, False)
    c3 = store.record_click(img, 20, 5, True, kind="pseudo_accepted", confidence=0.7)
    store.delete_click(c2)  # undone
    c_other = store.record_click(other, 1, 1, True)
    mask = blob(30, 40, rng)
    store.save_draft(img, mask)
    store = _reopen(store)
    d = store.draft(img)
    assert d is not None and np.array_equal(d.mask, mask) and d.instance_id is None
    assert [c.id for c in d.clicks] == [c1, c3]
    assert d.clicks[1].kind == "pseudo_accepted" and d.clicks[1].confidence == pytest.approx(0.7)
    inst = store.add_instance(img, mask, cat)
    store = _reopen(store)
    assert store.draft(img) is None
    assert [c.id for c in store.clicks(instance_id=inst)] == [c1, c3]
    assert [c.id for c in store.clicks(instance_id=inst, include_undone=True)] == [c1, c2, c3]
    assert store.clicks(image_id=img, draft_only=True) == []
    assert [c.id for c in store.clicks(other, draft_only=True)] == [c_other]  # other image untouched
    store.close()


def test_draft_survives_reopen_edit_mode_and_clear(store, image_dir, rng, blob):
    img = store.add_image(image_dir / "a.png")
    cat = store.add_category("obj")
    inst = store.add_instance(img, blob(30, 40, rng), cat)
    # re-open the instance for editing
    c = store.record_click(img, 5, 5, True)
    edited = blob(30, 40, rng)
    store.save_draft(img, edited, instance_id=inst)
    store = _reopen(store)
    d = store.draft(img)
    assert d.instance_id == inst and np.array_equal(d.mask, edited)
    store.update_instance_mask(inst, edited)
    assert store.draft(img) is None
    assert [k.id for k in store.clicks(instance_id=inst)] == [c]
    # abandon a new object: its clicks are marked undone
    c2 = store.record_click(img, 6, 6, True)
    store.save_draft(img, None)
    assert store.draft(img).mask is None
    store.clear_draft(img)
    store = _reopen(store)
    assert store.draft(img) is None
    assert store.clicks(img, include_undone=True)[-1].id == c2
    assert store.clicks(img, include_undone=True)[-1].undone
    store.restore_click(c2)
    assert store.draft(img).clicks[0].id == c2
    store.close()


def test_stats_and_settings_persist(store, image_dir):
    img = store.add_image(image_dir / "a.png")
    for kind in ["human", "human", "pseudo_accepted", "pseudo_withdrawn", "human"]:
        store.record_click(img, 1, 1, True, kind=kind)
    undone = store.record_click(img, 2, 2, False)
    store.delete_click(undone)
    store.set_setting("threshold", 0.45)
    store.set_setting("ui", {"zoom": True, "list": [1, 2]})
    with pytest.raises(ProjectError):
        store.set_setting("bad", object())
    with pytest.raises(ProjectError):
        store.record_click(img, 1, 1, True, kind="robot")
    store = _reopen(store)
    st = store.stats()
    assert st["images"] == 1 and st["instances"] == 0
    assert st["human_clicks"] == 3 and st["pseudo_accepted"] == 1 and st["pseudo_withdrawn"] == 1
    assert st["human_clicks_saved"] == 1
    assert store.get_setting("threshold") == 0.45
    assert store.get_setting("ui") == {"zoom": True, "list": [1, 2]}
    assert store.get_setting("missing", "dflt") == "dflt"
    store.close()


def test_volumes_and_slices(store, tmp_path):
    vol_path = tmp_path / "ct.nii.gz"
    vol_path.write_bytes(b"")  # the store does not read it
    v = store.add_volume(vol_path, kind="nifti", shape=(20, 16, 8), affine=np.diag([1.0, 1.0, 2.5, 1.0]))
    assert store.add_volume(vol_path, kind="nifti", shape=(20, 16, 8)) == v
    s3 = store.slice_image(v, "axial", 3)
    assert store.slice_image(v, "axial", 3) == s3
    s_cor = store.add_image(None, volume_id=v, axis="coronal", slice_index=0)
    with pytest.raises(ProjectError):
        store.slice_image(v, "axial", 8)  # out of range
    with pytest.raises(ProjectError):
        store.slice_image(v, "oblique", 0)
    store = _reopen(store)
    vols = store.volumes()
    assert len(vols) == 1 and vols[0].shape == (20, 16, 8)
    assert np.allclose(vols[0].affine, np.diag([1.0, 1.0, 2.5, 1.0]))
    slices = store.volume_slices(v)
    assert {s.id for s in slices} == {s3, s_cor}
    ax = store.image(s3)
    assert ax.is_slice and ax.axis == "axial" and ax.slice_index == 3 and ax.name == "ct/axial_0003"
    assert ax.width * ax.height == 20 * 16
    cor = store.image(s_cor)
    assert cor.width * cor.height == 20 * 8
    store.close()


def test_two_threads_write_concurrently(store, image_dir):
    img = store.add_image(image_dir / "a.png")
    errors = []

    def worker(n):
        try:
            for i in range(50):
                store.record_click(img, i, n, True)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(store.clicks(img)) == 150


def test_closed_store_raises(tmp_path):
    s = ProjectStore.open(tmp_path / "p.pcproj")
    s.close()
    with pytest.raises(ProjectError):
        s.images()


def test_project_package_never_imports_torch_or_qt():
    import subprocess
    import sys

    code = (
        "import sys, pseudoclick_gui.project as p\n"
        "from pseudoclick_gui.project import store, rle, import_masks, export_coco, export_png, export_nifti, "
        "cli_import, cli_export, volume_axes, polygons\n"
        "volume_axes.slice_shape((4, 5, 6), 'axial')\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('torch', 'PySide6', 'PyQt5', 'PyQt6')]\n"
        "print(bad)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_detach_clicks_to_draft_gives_the_click_list_back_to_the_draft(store, image_dir, rng, blob):
    img = store.add_image(image_dir / "a.png")
    other = store.add_image(image_dir / "b.png")
    cat = store.add_category("obj")
    c1 = store.record_click(img, 10, 12, True)
    c2 = store.record_click(img, 3, 4, False)
    c3 = store.record_click(img, 20, 5, True, kind="pseudo_accepted", confidence=0.7)
    store.delete_click(c2)  # undone: travels too, still undone
    mask = blob(30, 40, rng)
    inst = store.add_instance(img, mask, cat)
    c_other = store.record_click(other, 1, 1, True)
    inst_other = store.add_instance(other, blob(50, 25, rng), cat)
    assert store.draft(img) is None
    # undo of the finish: the instance goes, its clicks become the draft again
    store.delete_instance(inst)
    assert store.detach_clicks_to_draft(inst) == 3
    store.save_draft(img, mask)
    store = _reopen(store)
    d = store.draft(img)
    assert [c.id for c in d.clicks] == [c1, c3] and np.array_equal(d.mask, mask)
    assert [c.id for c in store.clicks(img, draft_only=True, include_undone=True)] == [c1, c2, c3]
    assert store.clicks(instance_id=inst, include_undone=True) == []
    assert [c.id for c in store.clicks(instance_id=inst_other)] == [c_other]  # other instance untouched
    # a subset (the clicks of one editing session of a re-opened instance)
    store.restore_instance(inst)
    store.save_draft(img, mask, instance_id=inst)
    store.update_instance_mask(inst, mask)  # attaches c1, c2, c3 again
    assert store.detach_clicks_to_draft(inst, [c3, c_other]) == 1  # c_other belongs to another instance
    assert [c.id for c in store.clicks(img, draft_only=True)] == [c3]
    assert [c.id for c in store.clicks(instance_id=inst, include_undone=True)] == [c1, c2]
    with pytest.raises(ProjectError):
        store.detach_clicks_to_draft(10_000)
    store.close()
