import json

import cv2
import numpy as np
import pytest
from pycocotools.coco import COCO

from pseudoclick_gui.project.export_coco import export_coco
from pseudoclick_gui.project.export_png import export_png


@pytest.fixture
def filled(store, image_dir, rng, blob):
    """A project with holes, multi-part objects, two categories, a deleted object and an empty image."""
    cats = [store.add_category("thing", supercategory="stuff"), store.add_category("other")]
    truth = {}
    for name, holes, parts in [("a.png", True, 2), ("b.png", False, 3)]:
        img = store.add_image(image_dir / name)
        rec = store.image(img)
        for k in range(3):
            m = blob(rec.height, rec.width, rng, holes=holes and k != 1, parts=parts)
            iid = store.add_instance(img, m, cats[k % 2])
            truth[iid] = m
    gone = store.add_instance(img, blob(rec.height, rec.width, rng), cats[0])
    store.delete_instance(gone)
    store.add_image(image_dir / "c_01.png")  # no objects
    return store, truth, cats


def test_coco_rle_export_loads_in_pycocotools_pixel_exact(filled, tmp_path):
    store, truth, cats = filled
    out = tmp_path / "out" / "coco.json"
    summary = export_coco(store, out, progress=False)
    assert summary["annotations"] == len(truth) and summary["images"] == 3
    coco = COCO(str(out))
    assert sorted(coco.getAnnIds()) == sorted(truth)
    for ann in coco.loadAnns(coco.getAnnIds()):
        m = coco.annToMask(ann).astype(bool)
        assert np.array_equal(m, truth[ann["id"]])
        assert ann["area"] == int(truth[ann["id"]].sum())
        assert ann["iscrowd"] == 0
        ys, xs = np.nonzero(m)
        assert ann["bbox"] == [xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1]
    names = {c["id"]: (c["name"], c["supercategory"]) for c in coco.loadCats(coco.getCatIds())}
    assert names[cats[0]] == ("thing", "stuff")
    files = {im["file_name"] for im in coco.loadImgs(coco.getImgIds())}
    assert files == {"a.png", "b.png", "c_01.png"}
    assert export_coco(store, out, progress=False, include_empty=False)["images"] == 2


def test_coco_polygon_export_loads_and_warns_about_holes(filled, tmp_path):
    store, truth, _ = filled
    out = tmp_path / "poly.json"
    summary = export_coco(store, out, polygons=True, progress=False)
    holed = [iid for iid, m in truth.items() if _has_hole(m)]
    assert summary["objects_with_holes_filled"] == len(holed) > 0
    assert summary["warnings"]
    coco = COCO(str(out))
    for ann in coco.loadAnns(coco.getAnnIds()):
        assert isinstance(ann["segmentation"], list)
        m = coco.annToMask(ann).astype(bool)
        t = truth[ann["id"]]
        if ann["id"] in holed:
            filled_t = _fill_holes(t)
            assert np.array_equal(m, filled_t) or _iou(m, filled_t) > 0.97
        else:
            assert _iou(m, t) > 0.97  # pixel-exact except thin diagonal corners


def _has_hole(m):
    return not np.array_equal(_fill_holes(m), m)


def _fill_holes(m):
    u8 = m.astype(np.uint8)
    contours, hier = cv2.findContours(u8, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_NONE)
    out = np.zeros_like(u8)
    outer = [c for i, c in enumerate(contours) if hier[0][i][3] == -1]
    cv2.drawContours(out, outer, -1, 1, thickness=cv2.FILLED)
    return out.astype(bool)


def _iou(a, b):
    return (a & b).sum() / max(1, (a | b).sum())


def test_png_export(filled, tmp_path):
    store, truth, _ = filled
    out = tmp_path / "png"
    summary = export_png(store, out, progress=False)
    assert summary["instance_pngs"] == len(truth) and summary["images"] == 2
    index = json.loads((out / "index.json").read_text())
    assert set(index) == {"a", "b"}
    for key, entry in index.items():
        ids = cv2.imread(str(out / "ids" / f"{key}.png"), cv2.IMREAD_UNCHANGED)
        assert ids.dtype == np.uint8 and ids.shape == (entry["height"], entry["width"])
        expected = np.zeros_like(ids)
        for inst in entry["instances"]:
            png = cv2.imread(str(out / "instances" / f"{key}_{inst['k']}.png"), cv2.IMREAD_UNCHANGED)
            assert set(np.unique(png)) <= {0, 255}
            assert np.array_equal(png == 255, truth[inst["instance_id"]])
            expected[truth[inst["instance_id"]]] = inst["k"]
        assert np.array_equal(ids, expected)


def test_png_id_map_is_16_bit_above_255_objects(store, image_dir):
    img = store.add_image(image_dir / "c_01.png")  # 33 x 33
    cat = store.add_category("px")
    pixels = [(r, c) for r in range(33) for c in range(0, 33, 3)][:300]
    for r, c in pixels:
        m = np.zeros((33, 33), bool)
        m[r, c] = True
        store.add_instance(img, m, cat)
    out = store.path.parent / "png16"
    export_png(store, out, progress=False)
    ids = cv2.imread(str(out / "ids" / "c_01.png"), cv2.IMREAD_UNCHANGED)
    assert ids.dtype == np.uint16 and ids.max() == 300
    r, c = pixels[299]
    assert ids[r, c] == 300
