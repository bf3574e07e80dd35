import json

import numpy as np
import pycocotools.mask as pm
import pytest
from PIL import Image

from pseudoclick_gui.errors import ProjectError
from pseudoclick_gui.project import ProjectStore
from pseudoclick_gui.project.export_coco import export_coco
from pseudoclick_gui.project.import_masks import import_coco, import_images, import_masks


def test_import_images_folder_idempotent_and_skips_broken(store, image_dir):
    (image_dir / "broken.png").write_bytes(b"\x89PNG garbage")
    (image_dir / "notes.txt").write_text("not an image")
    from pseudoclick_gui.project.import_masks import ImportReport

    rep = ImportReport()
    ids = import_images(store, image_dir, report=rep)
    assert len(ids) == 3 and len(rep.errors) == 1 and "broken.png" in rep.errors[0][0]
    assert import_images(store, image_dir) == ids
    assert import_images(store, [image_dir / "b.png"]) == [store.find_image(image_dir / "b.png")]
    assert len(store.images()) == 3


def test_import_masks_by_stem_and_suffix_with_size_errors(store, image_dir, tmp_path, rng, blob):
    ids = import_images(store, image_dir)
    masks = tmp_path / "masks"
    masks.mkdir()
    ma = blob(30, 40, rng, holes=True, parts=2)
    ma2 = blob(30, 40, rng)
    mc = blob(33, 33, rng)
    Image.fromarray(ma.astype(np.uint8) * 255).save(masks / "a.png")
    Image.fromarray(ma2.astype(np.uint8) * 7).save(masks / "a_2.png")  # any non-zero value is object
    Image.fromarray(mc.astype(np.uint8)).save(masks / "c_01.png")  # exact stem wins over c + _01
    Image.fromarray(np.ones((10, 10), np.uint8) * 255).save(masks / "b.png")  # wrong size
    Image.fromarray(np.ones((10, 10), np.uint8)).save(masks / "zzz.png")  # no such image
    rep = import_masks(store, ids, masks, category="cell")
    assert len(rep.instances) == 3
    assert {w for w, _ in rep.errors} == {str(masks / "b.png"), str(masks / "zzz.png")}
    assert any("10x10" in m and "25x50" in m for _, m in rep.errors)
    a_id = store.find_image(image_dir / "a.png")
    got = [i.mask() for i in store.instances(a_id)]
    assert len(got) == 2 and np.array_equal(got[0], ma) and np.array_equal(got[1], ma2)
    c_id = store.find_image(image_dir / "c_01.png")
    assert np.array_equal(store.instances(c_id)[0].mask(), mc)
    assert {store.category(i.category_id).name for i in store.instances()} == {"cell"}
    assert store.draft(a_id) is None


def test_import_coco_rle_uncompressed_and_polygons(tmp_path, image_dir, rng, blob):
    m_rle = blob(30, 40, rng, holes=True, parts=2)
    m_unc = blob(50, 25, rng)
    poly = [[5.0, 5.0, 25.0, 5.0, 25.0, 20.0, 5.0, 20.0]]  # a 20 x 15 rectangle in corner coordinates
    enc = pm.encode(np.asfortranarray(m_rle.astype(np.uint8)))
    from pseudoclick_gui.project import rle

    coco = {
        "images": [
            {"id": 10, "file_name": "a.png", "width": 40, "height": 30},
            {"id": 11, "file_name": "b.png", "width": 25, "height": 50},
            {"id": 12, "file_name": "c_01.png", "width": 33, "height": 33},
            {"id": 13, "file_name": "missing.png", "width": 5, "height": 5},
            {"id": 14, "file_name": "a.png", "width": 41, "height": 30},  # size disagrees with the file
        ],
        "categories": [{"id": 7, "name": "dog", "supercategory": "animal"}, {"id": 9, "name": "box"}],
        "annotations": [
            {"id": 1, "image_id": 10, "category_id": 7, "segmentation": {"size": [30, 40], "counts": enc["counts"].decode()}},
            {"id": 2, "image_id": 11, "category_id": 7,
             "segmentation": {"size": [50, 25], "counts": rle.mask_counts(m_unc).tolist()}, "iscrowd": 1},
            {"id": 3, "image_id": 12, "category_id": 9, "segmentation": poly},
            {"id": 4, "image_id": 13, "category_id": 9, "segmentation": poly},
            {"id": 5, "image_id": 12, "category_id": 99, "segmentation": poly},
        ],
    }  # fmt: skip
    path = tmp_path / "in.json"
    path.write_text(json.dumps(coco))
    with ProjectStore.open(tmp_path / "p.pcproj") as store:
        rep = import_coco(store, path, image_dir)
        assert len(rep.instances) == 3 and len(rep.images) == 3
        assert len(rep.errors) == 4  # missing file, its annotation, wrong size, unknown category
        assert any("41x30" in m for _, m in rep.errors)
        cats = {c.name: c for c in store.categories()}
        assert cats["dog"].supercategory == "animal"
        by_img = {store.image(i.image_id).name: i for i in store.instances()}
        assert np.array_equal(by_img["a.png"].mask(), m_rle)
        assert np.array_equal(by_img["b.png"].mask(), m_unc)
        ref = pm.decode(pm.merge(pm.frPyObjects(poly, 33, 33))).astype(bool)
        got = by_img["c_01.png"].mask()
        assert got.sum() == 20 * 15 and np.array_equal(got, ref)
        # and the export of what was imported gives the same masks back
        export_coco(store, tmp_path / "out.json", progress=False)
    out = json.loads((tmp_path / "out.json").read_text())
    assert len(out["annotations"]) == 3


def test_import_coco_rejects_non_coco(tmp_path, store, image_dir):
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    with pytest.raises(ProjectError):
        import_coco(store, bad, image_dir)
    bad.write_text("{not json")
    with pytest.raises(ProjectError):
        import_coco(store, bad, image_dir)
