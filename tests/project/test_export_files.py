"""COCO export files: the image root (``--image-root``, recorded in ``info``), usual file modes, the slice
PNGs a volume export names; PNG export errors; COCO import validation."""

import json
import os
import stat

import nibabel as nib
import numpy as np
import pytest
from PIL import Image

from pseudoclick_gui.cli import main
from pseudoclick_gui.errors import ProjectError
from pseudoclick_gui.project import ProjectStore
from pseudoclick_gui.project.export_coco import export_coco
from pseudoclick_gui.project.export_png import export_png
from pseudoclick_gui.project.import_masks import import_coco, import_images


@pytest.fixture
def volume_project(tmp_path):
    data = (np.arange(20 * 16 * 6).reshape(20, 16, 6) % 97).astype(np.int16)
    vol_path = tmp_path / "vols" / "phantom.nii.gz"
    vol_path.parent.mkdir()
    nib.save(nib.Nifti1Image(data, np.diag([1.0, 1.0, 2.0, 1.0])), vol_path)
    path = tmp_path / "p.pcproj"
    with ProjectStore.open(path) as s:
        vid = s.add_volume(vol_path, kind="nifti", shape=data.shape, affine=np.diag([1.0, 1.0, 2.0, 1.0]))
        sid = s.slice_image(vid, "axial", 3)
        rec = s.image(sid)
        m = np.zeros((rec.height, rec.width), bool)
        m[2:7, 3:9] = True
        s.add_instance(sid, m, s.add_category("organ"))
    return path, rec


def test_volume_export_writes_the_slice_pngs_it_names(tmp_path, volume_project):
    path, rec = volume_project
    out = tmp_path / "out" / "coco.json"
    with ProjectStore.open(path, read_only=True) as s:
        summary = export_coco(s, out, progress=False)
    coco = json.loads(out.read_text())
    root = coco["info"]["image_root"]
    assert root == str(out.parent) and summary["slice_pngs"] == 1  # no image files: the JSON's folder
    entry = coco["images"][0]
    assert entry["file_name"] == "phantom/axial_0003.png"
    png = np.asarray(Image.open(os.path.join(root, entry["file_name"])))
    assert png.dtype == np.uint8 and png.shape == (entry["height"], entry["width"]) == (rec.height, rec.width)
    assert png.max() > png.min()  # a real slice, not a blank


def test_cli_no_slice_pngs_and_image_root(tmp_path, volume_project):
    path, _ = volume_project
    out = tmp_path / "o" / "c.json"
    assert main(["export", str(path), "--coco", str(out), "--no-slice-pngs", "--image-root", str(tmp_path / "r"),
                 "--no-progress"]) == 0  # fmt: skip
    coco = json.loads(out.read_text())
    assert coco["info"]["image_root"] == str(tmp_path / "r")
    assert not (tmp_path / "r").exists() and not (out.parent / "phantom").exists()
    assert main(["export", str(path), "--png", str(tmp_path / "p"), "--image-root", "x"]) == 1


def test_image_root_is_recorded_and_changes_file_names(tmp_path, image_dir):
    path = tmp_path / "p.pcproj"
    with ProjectStore.open(path) as s:
        import_images(s, image_dir)
        default = export_coco(s, tmp_path / "a.json", progress=False)
        other = export_coco(s, tmp_path / "b.json", progress=False, images_root=tmp_path)
    a = json.loads((tmp_path / "a.json").read_text())
    b = json.loads((tmp_path / "b.json").read_text())
    assert a["info"]["image_root"] == str(image_dir) == default["image_root"]
    assert sorted(e["file_name"] for e in a["images"]) == ["a.png", "b.png", "c_01.png"]
    assert b["info"]["image_root"] == str(tmp_path) == other["image_root"]
    assert sorted(e["file_name"] for e in b["images"]) == ["images/a.png", "images/b.png", "images/c_01.png"]
    for e in b["images"]:  # every name resolves against the recorded root
        assert os.path.isfile(os.path.join(b["info"]["image_root"], e["file_name"]))


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_exported_files_get_the_usual_mode(tmp_path, image_dir):
    old = os.umask(0o022)
    try:
        with ProjectStore.open(tmp_path / "p.pcproj") as s:
            ids = import_images(s, image_dir)
            s.add_instance(ids[0], np.ones((30, 40), bool), s.add_category("x"))
            export_coco(s, tmp_path / "c.json", progress=False)
            export_png(s, tmp_path / "png", progress=False)
    finally:
        os.umask(old)
    for p in (tmp_path / "c.json", tmp_path / "png" / "index.json"):
        assert stat.S_IMODE(p.stat().st_mode) == 0o644, p


def test_png_export_onto_a_file_and_size0_image_are_clear_errors(tmp_path, image_dir):
    with ProjectStore.open(tmp_path / "p.pcproj") as s:
        ids = import_images(s, image_dir)
        s.add_instance(ids[0], np.ones((30, 40), bool), s.add_category("x"))
        (tmp_path / "file").write_text("x")
        with pytest.raises(ProjectError, match="is a file"):
            export_png(s, tmp_path / "file", progress=False)
        s._conn.execute("UPDATE images SET width = 0, height = 0 WHERE id = ?", (ids[0],))
        with pytest.raises(ProjectError, match="no size"):
            export_png(s, tmp_path / "png", progress=False)
        with pytest.raises(ProjectError, match="no size"):
            export_coco(s, tmp_path / "c.json", progress=False)


def test_malformed_coco_imports_nothing(tmp_path, image_dir):
    good_ann = {"id": 1, "image_id": 1, "category_id": 1, "segmentation": [[1, 1, 20, 1, 20, 20]]}
    bad_files = {
        "nan": {"images": [{"id": 1, "file_name": "a.png"}], "categories": [{"id": 1, "name": "a"}],
                "annotations": [dict(good_ann, segmentation=[[float("nan"), 1, 20, 1, 20, 20]])]},
        "second_category_without_id": {"images": [{"id": 1, "file_name": "a.png"}],
                                       "categories": [{"id": 1, "name": "a"}, {"name": "b"}], "annotations": []},
        "images_null": {"images": None},
        "annotations_dict": {"images": [], "annotations": {}},
    }  # fmt: skip
    with ProjectStore.open(tmp_path / "p.pcproj") as s:
        for name, data in bad_files.items():
            p = tmp_path / f"{name}.json"
            p.write_text(json.dumps(data))
            with pytest.raises(ProjectError) as ei:
                import_coco(s, p, image_dir)
            assert "\n" not in str(ei.value)
            assert s.categories() == [] and s.images() == [], name  # validated first: nothing half-imported
        deep = tmp_path / "deep.json"
        deep.write_text('{"images": ' + "[" * 50000 + "]" * 50000 + "}")
        with pytest.raises(ProjectError, match="nested too deeply"):
            import_coco(s, deep, image_dir)


def test_import_images_reports_every_skipped_file(tmp_path, image_dir):
    (image_dir / "anim.gif").write_bytes(b"GIF89a")
    (image_dir / "notes.txt").write_text("ignored quietly")
    os.symlink(image_dir / "gone.png", image_dir / "dangling.png")
    data = (image_dir / "a.png").read_bytes()
    (image_dir / "trunc.png").write_bytes(data[: len(data) // 2])
    Image.new("RGB", (1, 1)).save(image_dir / "dot.png")
    if hasattr(os, "mkfifo"):
        os.mkfifo(image_dir / "pipe.png")
    with ProjectStore.open(tmp_path / "p.pcproj") as s:
        from pseudoclick_gui.project.import_masks import ImportReport

        rep = ImportReport()
        ids = import_images(s, image_dir, report=rep)
    assert len(ids) == 3
    skipped = {os.path.basename(w) for w, _ in rep.errors}
    expected = {"anim.gif", "dangling.png", "trunc.png", "dot.png"} | ({"pipe.png"} if hasattr(os, "mkfifo") else set())
    assert skipped == expected
