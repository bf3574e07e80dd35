import nibabel as nib
import numpy as np
import pytest

from pseudoclick_gui.io.volume import open_volume
from pseudoclick_gui.project import ProjectStore
from pseudoclick_gui.project.export_nifti import export_nifti
from pseudoclick_gui.project.import_masks import import_volume


def _affine():
    # an oblique-free but flipped (LPS-like) grid with anisotropic voxels and an offset
    a = np.diag([-0.8, -0.9, 2.5, 1.0])
    a[:3, 3] = [40.0, 35.0, -12.0]
    return a


@pytest.fixture
def synthetic_volume(tmp_path):
    shape = (24, 20, 9)
    rng = np.random.default_rng(7)
    img = rng.integers(0, 1000, size=shape).astype(np.int16)
    src = nib.Nifti1Image(img, _affine())
    src.header.set_xyzt_units("mm", "sec")
    src.header["descrip"] = b"synthetic source"
    p = tmp_path / "ct_01.nii.gz"
    nib.save(src, str(p))
    labels = np.zeros(shape, np.uint8)
    labels[4:12, 3:9, 2] = 1
    labels[14:20, 10:16, 2] = 3  # two label values on one slice
    labels[5:9, 5:9, 6] = 3
    labels[15:18, 2:4, 6] = 3  # a second component of label 3
    lp = tmp_path / "ct_01_seg.nii.gz"
    nib.save(nib.Nifti1Image(labels, _affine()), str(lp))
    return p, lp, labels


def test_label_import_then_nifti_export_round_trip(tmp_path, synthetic_volume):
    src, lab_path, labels = synthetic_volume
    with ProjectStore.open(tmp_path / "p.pcproj") as store:
        rep = import_volume(store, src, labels=lab_path)
        assert not rep.errors
        assert len(rep.images) == 2  # only the labelled axial slices
        assert len(rep.instances) == 3  # one per label value per slice
        names = {c.id: c.name for c in store.categories()}
        summary = export_nifti(store, tmp_path / "nifti", progress=False)
    assert summary["volumes"] == 1 and summary["dtype"] == "uint8"
    out = nib.load(summary["files"][0])
    src_img = nib.load(str(src))
    assert np.allclose(out.affine, src_img.affine)
    assert out.shape == labels.shape
    assert out.header.get_zooms() == src_img.header.get_zooms()
    assert out.header["descrip"] == src_img.header["descrip"]  # the source header was carried over
    got = np.asarray(out.dataobj)
    by_name = {v: k for k, v in names.items()}
    expected = np.zeros_like(labels)
    for value in (1, 3):
        expected[labels == value] = by_name[f"label_{value}"]
    assert np.array_equal(got, expected)


def test_components_and_slice_masks_follow_the_io_volume_view(tmp_path, synthetic_volume):
    src, lab_path, labels = synthetic_volume
    vol = open_volume(src)
    with ProjectStore.open(tmp_path / "p.pcproj") as store:
        rep = import_volume(store, src, labels=lab_path, components=True, category="organ")
        assert len(rep.instances) == 4  # label 3 on slice 6 has two components
        cat = store.category_by_name("organ").id
        for rec in store.images():
            assert (rec.height, rec.width) == vol.slice_shape("axial")
            union = np.zeros((rec.height, rec.width), bool)
            for inst in store.instances(rec.id):
                union |= inst.mask()
            # what the GUI shows for this slice (io's display-oriented view) is what was imported
            assert np.array_equal(union, vol.slice_of(labels, "axial", rec.slice_index) > 0)
        # an object drawn on a coronal slice lands in the right voxels
        vid = store.volumes()[0].id
        cor = store.slice_image(vid, "coronal", 5)
        rec = store.image(cor)
        m = np.zeros((rec.height, rec.width), bool)
        m[1:4, 2:7] = True
        store.add_instance(cor, m, cat)
        export_nifti(store, tmp_path / "out", progress=False)
    got = np.asarray(nib.load(str(tmp_path / "out" / "ct_01_labels.nii.gz")).dataobj)
    assert np.array_equal(vol.slice_of(got, "coronal", 5) == cat, (vol.slice_of(labels, "coronal", 5) > 0) | m)
    assert np.count_nonzero(got) == np.count_nonzero(labels | _coronal(vol, labels.shape, m))


def _coronal(vol, shape, m):
    out = np.zeros(shape, bool)
    vol.slice_of(out, "coronal", 5)[m] = True
    return out


def test_overlaps_warn_and_later_wins(tmp_path, synthetic_volume):
    src, _, _ = synthetic_volume
    with ProjectStore.open(tmp_path / "p.pcproj") as store:
        import_volume(store, src)
        vid = store.volumes()[0].id
        a, b = store.add_category("a"), store.add_category("b")
        iid = store.slice_image(vid, "axial", 4)
        rec = store.image(iid)
        m1 = np.zeros((rec.height, rec.width), bool)
        m1[2:10, 2:10] = True
        m2 = np.zeros_like(m1)
        m2[5:12, 5:12] = True
        store.add_instance(iid, m1, a)
        store.add_instance(iid, m2, b)
        s = export_nifti(store, tmp_path / "o", progress=False)
    assert s["warnings"] and "later" in s["warnings"][0]
    got = np.asarray(nib.load(s["files"][0]).dataobj)
    view = open_volume(src).slice_of(got, "axial", 4)
    assert (view[m2] == b).all() and (view[m1 & ~m2] == a).all()
