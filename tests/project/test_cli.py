import json

import nibabel as nib
import numpy as np
from PIL import Image
from pycocotools.coco import COCO

from pseudoclick_gui.cli import main
from pseudoclick_gui.project import ProjectStore


def test_cli_import_then_export(tmp_path, image_dir, rng, blob, capsys):
    masks = tmp_path / "masks"
    masks.mkdir()
    truth = {"a": blob(30, 40, rng, holes=True, parts=2), "b": blob(50, 25, rng)}  # image b is 25 wide, 50 high
    for stem, m in truth.items():
        Image.fromarray(m.astype(np.uint8) * 255).save(masks / f"{stem}_1.png")
    proj = tmp_path / "p.pcproj"
    rc = main(["import", str(proj), "--images", str(image_dir), "--masks", str(masks), "--category", "cell",
               "--no-progress"])  # fmt: skip
    assert rc == 0, capsys.readouterr().err
    assert "3 image(s), 2 object(s)" in capsys.readouterr().err
    out = tmp_path / "coco.json"
    rc = main(["export", str(proj), "--coco", str(out), "--png", str(tmp_path / "png"), "--no-progress"])
    assert rc == 0
    coco = COCO(str(out))
    for ann in coco.loadAnns(coco.getAnnIds()):
        stem = coco.loadImgs(ann["image_id"])[0]["file_name"][:-4]
        assert np.array_equal(coco.annToMask(ann).astype(bool), truth[stem])
    assert json.loads((tmp_path / "png" / "index.json").read_text()).keys() == {"a", "b"}
    rc = main(["export", str(proj), "--coco", str(tmp_path / "poly.json"), "--polygons", "--no-progress"])
    assert rc == 0 and "holes" in capsys.readouterr().err
    assert len(COCO(str(tmp_path / "poly.json")).getAnnIds()) == 2


def test_cli_volume_import_and_nifti_export(tmp_path):
    shape = (12, 10, 5)
    aff = np.diag([1.5, 1.5, 3.0, 1.0])
    nib.save(nib.Nifti1Image(np.arange(np.prod(shape), dtype=np.int16).reshape(shape), aff), str(tmp_path / "v.nii.gz"))
    lab = np.zeros(shape, np.uint8)
    lab[2:6, 3:7, 1] = 2
    nib.save(nib.Nifti1Image(lab, aff), str(tmp_path / "l.nii.gz"))
    proj = tmp_path / "p.pcproj"
    assert main(["import", str(proj), "--volume", str(tmp_path / "v.nii.gz"), "--labels", str(tmp_path / "l.nii.gz"),
                 "--category", "tumour", "--no-progress"]) == 0  # fmt: skip
    with ProjectStore.open(proj) as s:
        assert s.stats()["instances"] == 1
        cat = s.category_by_name("tumour").id
    assert main(["export", str(proj), "--nifti", str(tmp_path / "n"), "--no-progress"]) == 0
    got = nib.load(str(tmp_path / "n" / "v_labels.nii.gz"))
    assert np.allclose(got.affine, aff)
    assert np.array_equal(np.asarray(got.dataobj), (lab > 0).astype(np.uint8) * cat)


def test_cli_errors_are_one_line(tmp_path, capsys):
    assert main(["export", str(tmp_path / "nope.pcproj"), "--coco", str(tmp_path / "x.json")]) == 1
    assert "no such project" in capsys.readouterr().err
    assert main(["import", str(tmp_path / "p.pcproj")]) == 1
    assert "nothing to import" in capsys.readouterr().err
    (tmp_path / "junk.pcproj").write_bytes(b"x" * 4096)
    assert main(["export", str(tmp_path / "junk.pcproj"), "--coco", str(tmp_path / "x.json")]) == 1
    assert "not a valid project" in capsys.readouterr().err
