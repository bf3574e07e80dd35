import gzip
import os

import nibabel as nib
import numpy as np
import pytest
from nibabel.testing import data_path

from pseudoclick_gui.errors import VolumeLoadError
from pseudoclick_gui.io.nifti import classify_nifti, save_nifti
from pseudoclick_gui.io.volume import Volume, open_volume
from pseudoclick_gui.io.windowing import normalize_percentile


def _oblique_affine():
    t = np.radians(20)
    rot = np.array([[np.cos(t), -np.sin(t), 0], [np.sin(t), np.cos(t), 0], [0, 0, 1]])
    aff = np.eye(4)
    aff[:3, :3] = rot @ np.diag([0.9, 1.1, 2.5])
    aff[:3, 3] = [-50.5, 20.25, -7.0]
    return aff


def test_3d_nifti_keeps_affine_and_data(tmp_path):
    data = np.random.default_rng(0).normal(size=(11, 13, 7)).astype(np.float32)
    aff = _oblique_affine()
    nib.save(nib.Nifti1Image(data, aff), tmp_path / "v.nii.gz")
    vol = open_volume(tmp_path / "v.nii.gz")
    assert vol.shape == (11, 13, 7) and vol.channel_names == ["image"]
    np.testing.assert_array_equal(vol.affine, nib.load(tmp_path / "v.nii.gz").affine)
    np.testing.assert_array_equal(vol.data, data)
    assert vol.spacing == pytest.approx((0.9, 1.1, 2.5))
    assert isinstance(vol.header, nib.Nifti1Header)


def test_4d_nibabel_example_becomes_channels():
    path = os.path.join(data_path, "example4d.nii.gz")
    img = nib.load(path)
    vol = open_volume(path)
    assert vol.channel_names == ["t0", "t1"]
    assert vol.shape == img.shape[:3]
    np.testing.assert_array_equal(vol.affine, img.affine)
    np.testing.assert_array_equal(vol.channel("t1"), np.asanyarray(img.dataobj)[..., 1])
    assert vol.orientation == "".join(nib.aff2axcodes(img.affine))


def test_big_endian_nifti_becomes_native():
    path = os.path.join(data_path, "anatomical.nii")
    vol = open_volume(path)
    assert vol.dtype.byteorder in ("=", "|") and vol.shape == (33, 41, 25)
    np.testing.assert_array_equal(vol.data, np.asanyarray(nib.load(path).dataobj))


def test_label_export_roundtrip_keeps_grid(tmp_path):
    path = os.path.join(data_path, "example4d.nii.gz")
    vol = open_volume(path)
    labels = vol.empty_labels()
    labels[10:20, 5:9, 3] = 2
    out = save_nifti(vol, labels, tmp_path / "labels.nii.gz")
    back = nib.load(out)
    np.testing.assert_array_equal(back.affine, vol.affine)
    assert back.shape == vol.shape and back.get_data_dtype() == np.uint8
    np.testing.assert_array_equal(np.asanyarray(back.dataobj), labels)
    assert back.header.get_zooms()[:3] == pytest.approx(vol.spacing)


def test_corrupt_nifti(tmp_path):
    data = np.zeros((20, 20, 20), np.float32)
    nib.save(nib.Nifti1Image(data, np.eye(4)), tmp_path / "ok.nii.gz")
    raw = (tmp_path / "ok.nii.gz").read_bytes()
    (tmp_path / "cut.nii.gz").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(VolumeLoadError):
        open_volume(tmp_path / "cut.nii.gz")
    (tmp_path / "junk.nii").write_bytes(b"junk" * 100)
    with pytest.raises(VolumeLoadError):
        open_volume(tmp_path / "junk.nii")
    (tmp_path / "gz.nii.gz").write_bytes(gzip.compress(b"x" * 1000))
    with pytest.raises(VolumeLoadError):
        open_volume(tmp_path / "gz.nii.gz")


@pytest.mark.parametrize(
    "name,role,channel",
    [
        ("Flair_subtrMeanDivStd.nii.gz", "channel", "FLAIR"),
        ("T1c_subtrMeanDivStd.nii.gz", "channel", "T1c"),
        ("BraTS20_Training_001_t1ce.nii.gz", "channel", "T1c"),
        ("BraTS20_Training_001_t1.nii.gz", "channel", "T1"),
        ("BraTS2021_00000_t2.nii.gz", "channel", "T2"),
        ("BraTS20_Training_001_seg.nii.gz", "labels", "labels"),
        ("OTMultiClass.nii.gz", "labels", "labels"),
        ("brainmask.nii.gz", "skip", "brainmask"),
        ("dwi_b1000.nii", "channel", "dwi_b1000"),
    ],
)
def test_classify_case_files(name, role, channel):
    assert classify_nifti(name) == (role, channel)


def _write_case(folder, shape=(12, 10, 8), seg_shape=None):
    folder.mkdir()
    aff = np.diag([-1.0, -1.0, 1.0, 1.0])
    for k, name in enumerate(["case_flair", "case_t1", "case_t1ce", "case_t2"]):
        nib.save(nib.Nifti1Image(np.full(shape, 100.0 * (k + 1), np.float32), aff), folder / f"{name}.nii.gz")
    seg = np.zeros(seg_shape or shape, np.float32)
    seg[2:5, 3:6, 1:4] = 4
    seg[6, 6, 6] = 1
    nib.save(nib.Nifti1Image(seg, aff), folder / "case_seg.nii.gz")
    nib.save(nib.Nifti1Image(np.ones(shape, np.int32), aff), folder / "brainmask.nii.gz")
    return seg


def test_brats_folder_opens_as_one_multichannel_volume(tmp_path):
    seg = _write_case(tmp_path / "case")
    vol = open_volume(tmp_path / "case")
    assert vol.channel_names == ["T1", "T1c", "T2", "FLAIR"]
    assert float(vol.channel("FLAIR")[0, 0, 0]) == 100.0 and float(vol.channel("T2")[0, 0, 0]) == 400.0
    assert vol.labels is not None and vol.labels.dtype.kind in "iu"
    np.testing.assert_array_equal(vol.labels, seg.astype(int))
    assert "labels" not in vol.channel_names and "brainmask" not in vol.channel_names
    assert any("brainmask" in w for w in vol.warnings)
    assert vol.label_slice("axial", 2) is not None


def test_brats_folder_with_mismatched_shapes(tmp_path):
    _write_case(tmp_path / "case", seg_shape=(12, 10, 9))
    with pytest.raises(VolumeLoadError, match="different shapes"):
        open_volume(tmp_path / "case")


def _ramp_volume(affine, shape=(4, 5, 6), spacing=(1.0, 1.0, 1.0)):
    i, j, k = np.meshgrid(*(np.arange(n) for n in shape), indexing="ij")
    data = (i + 10 * j + 100 * k).astype(np.int32)
    return Volume(channels={"v": data}, spacing=spacing, affine=affine)


def test_display_orientation_ras_and_lps():
    ras = _ramp_volume(np.eye(4))
    ax = ras.slice("axial", 2)
    assert ax.shape == (5, 4)  # rows = j, cols = i
    # rows run toward Posterior (j decreasing in RAS), columns toward Left (i decreasing)
    assert ax[0, 0] == 3 + 10 * 4 + 200 and ax[-1, -1] == 200
    lps = _ramp_volume(np.diag([-1.0, -1.0, 1.0, 1.0]))
    assert lps.slice("axial", 2)[0, 0] == 200 and lps.slice("axial", 2)[0, 1] == 201
    cor = lps.slice("coronal", 1)
    assert cor.shape == (6, 4) and cor[0, 0] == 500 + 10  # superior (k max) at the top
    sag = lps.slice("sagittal", 3)
    assert sag.shape == (6, 5) and sag[0, 0] == 3 + 500  # superior at top, anterior (j = 0 in LPS) at left
    for plane in ("axial", "coronal", "sagittal"):
        for row, col in [(0, 0), (2, 1), (3, 3)]:
            vox = lps.slice_to_voxel(plane, 1, row, col)
            assert lps.voxel_to_slice(plane, vox) == (1, row, col)
            assert lps.slice(plane, 1)[row, col] == lps.data[vox]


def test_plane_follows_the_affine_not_the_array_axis():
    # a sagittally stored volume: i runs toward A, j toward S, k toward L
    aff = np.array([[0, 0, -1, 0], [1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1]], dtype=float)
    vol = _ramp_volume(aff)
    assert vol.orientation == "ASL"
    assert vol.plane_axis("sagittal") == 2 and vol.plane_axis("axial") == 1 and vol.plane_axis("coronal") == 0
    assert vol.n_slices("sagittal") == 6


def test_slices_are_views_and_labels_writable():
    vol = _ramp_volume(np.eye(4), shape=(8, 9, 10), spacing=(1.0, 1.0, 3.0))
    s = vol.slice("axial", 4)
    assert np.shares_memory(s, vol.data)
    labels = vol.empty_labels()
    view = vol.slice_of(labels, "coronal", 3)
    view[0, 0] = 7
    assert labels[vol.slice_to_voxel("coronal", 3, 0, 0)] == 7 and labels.sum() == 7
    assert vol.pixel_aspect("coronal") == pytest.approx(3.0) and vol.pixel_aspect("axial") == 1.0
    with pytest.raises(IndexError):
        vol.slice("axial", 10)


def test_network_slice_is_percentile_normalised_rgb():
    vol = _ramp_volume(np.eye(4), shape=(30, 20, 5))
    out = vol.network_slice("axial", 3)
    assert out.shape == (20, 30, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out[..., 0], normalize_percentile(vol.slice("axial", 3)))
    assert np.array_equal(out[..., 0], out[..., 2]) and out.max() == 255 and out.min() == 0
