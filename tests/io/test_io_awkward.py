"""Awkward inputs of the readers: a DICOM file beside a backup copy in a sub-folder, NIfTI scaling that
overflows float32, FIFOs, and full decoding of images on import."""

import os
import shutil

import nibabel as nib
import numpy as np
import pytest
from PIL import Image

from pseudoclick_gui.errors import ImageLoadError, VolumeLoadError
from pseudoclick_gui.io.dicom import open_dicom
from pseudoclick_gui.io.images import scan_folder, verify_image
from pseudoclick_gui.io.nifti import open_nifti


def test_a_dicom_file_means_its_own_folder_only(tmp_path, write_dicom_series):
    slices = [np.full((8, 8), k, np.int16) for k in range(3)]
    paths = write_dicom_series(tmp_path / "s", slices, [(0, 0, k) for k in range(3)])
    (tmp_path / "s" / "backup").mkdir()
    shutil.copy(paths[1], tmp_path / "s" / "backup" / paths[1].name)
    vol = open_dicom(paths[0])
    assert vol.shape[2] == 3
    with pytest.raises(VolumeLoadError, match="share a position"):  # asked for: sub-folders too
        open_dicom(paths[0], recursive=True)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_in_a_dicom_folder_is_never_opened(tmp_path, write_dicom_series):
    write_dicom_series(tmp_path / "s", [np.zeros((8, 8), np.int16)] * 2, [(0, 0, 0), (0, 0, 1)])
    os.mkfifo(tmp_path / "s" / "pipe")
    assert open_dicom(tmp_path / "s").shape[2] == 2  # would block forever if the FIFO were read


def test_nifti_slope_overflowing_float32_is_clipped_with_a_warning(tmp_path):
    img = nib.Nifti1Image(np.array([[[30000, -30000], [1, 0]]], dtype=np.int16), np.eye(4))
    img.header.set_slope_inter(1e36, 0)
    nib.save(img, tmp_path / "v.nii.gz")
    vol = open_nifti(tmp_path / "v.nii.gz")
    assert np.all(np.isfinite(vol.data))
    assert vol.data.max() == np.finfo(np.float32).max and vol.data.min() == -np.finfo(np.float32).max
    assert any("overflow" in w and "clipped" in w for w in vol.warnings)
    assert any("overflow" in w for w in vol.summary()["warnings"])  # what `pseudoclick info` prints


def test_nifti_ordinary_slope_is_still_applied(tmp_path):
    img = nib.Nifti1Image(np.arange(8, dtype=np.int16).reshape(2, 2, 2), np.eye(4))
    img.header.set_slope_inter(2.0, -1.0)
    nib.save(img, tmp_path / "v.nii.gz")
    vol = open_nifti(tmp_path / "v.nii.gz")
    assert np.allclose(np.sort(vol.data.ravel()), np.arange(8) * 2.0 - 1.0) and not vol.warnings


def test_verify_image_decodes_fully(tmp_path):
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 50, 3), dtype=np.uint8)).save(tmp_path / "a.jpg")
    assert verify_image(tmp_path / "a.jpg") == (50, 40)
    data = (tmp_path / "a.jpg").read_bytes()
    (tmp_path / "t.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageLoadError, match="truncated"):
        verify_image(tmp_path / "t.jpg")
    Image.new("L", (1, 1)).save(tmp_path / "dot.png")
    with pytest.raises(ImageLoadError, match="too small"):
        verify_image(tmp_path / "dot.png")
    frames = [Image.new("L", (8, 8), v) for v in (0, 100)]
    frames[0].save(tmp_path / "stack.tif", save_all=True, append_images=frames[1:])
    with pytest.raises(ImageLoadError, match="pages"):
        verify_image(tmp_path / "stack.tif")


def test_scan_folder_names_what_it_skips(tmp_path):
    Image.new("L", (8, 8)).save(tmp_path / "ok.png")
    (tmp_path / "x.gif").write_bytes(b"GIF89a")
    (tmp_path / "readme.txt").write_text("x")
    (tmp_path / ".hidden.png").write_bytes(b"")
    os.symlink(tmp_path / "nothing", tmp_path / "link.png")
    images, problems = scan_folder(tmp_path)
    assert [p.name for p in images] == ["ok.png"]
    assert sorted(p.name for p, _ in problems) == ["link.png", "x.gif"]
