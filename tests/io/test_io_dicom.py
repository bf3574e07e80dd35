import shutil

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file

from pseudoclick_gui.errors import VolumeLoadError
from pseudoclick_gui.io.dicom import list_dicom_series, open_dicom
from pseudoclick_gui.io.volume import open_volume


def _slices(n, shape=(6, 5), dtype=np.int16, scale=10):
    return [np.full(shape, k * scale, dtype=dtype) for k in range(n)]


@pytest.mark.parametrize(
    "orientation",
    [
        (1.0, 0.0, 0.0, 0.0, 1.0, 0.0),  # axial
        (0.0, 1.0, 0.0, 0.0, 0.0, -1.0),  # sagittal
        (1.0, 0.0, 0.0, 0.0, 0.0, -1.0),  # coronal
    ],
)
def test_slices_sorted_by_position_not_name_or_instance(tmp_path, write_dicom_series, orientation):
    n = 7
    normal = np.cross(orientation[:3], orientation[3:])
    origin = np.array([-20.0, 15.0, 40.0])
    positions = [tuple(origin + k * 2.5 * normal) for k in range(n)]
    rng = np.random.default_rng(5)
    perm = rng.permutation(n)
    names = [f"IMG{perm[k]:04d}.dcm" for k in range(n)]  # file-name order unrelated to position
    instances = [int(v) for v in rng.permutation(n) + 1]  # and so are instance numbers
    write_dicom_series(
        tmp_path, _slices(n), positions, orientation=orientation, names=names, instance_numbers=instances
    )
    vol = open_volume(tmp_path)
    assert vol.shape == (5, 6, n)  # (X=columns, Y=rows, Z=slices)
    values = [int(vol.data[0, 0, k]) for k in range(n)]
    assert values == [k * 10 for k in range(n)]
    assert vol.spacing == pytest.approx((0.8, 0.5, 2.5))
    ras_normal = np.array([-1, -1, 1]) * normal
    np.testing.assert_allclose(vol.affine[:3, 2], ras_normal * 2.5, atol=1e-6)
    np.testing.assert_allclose(vol.affine[:3, 3], np.array([-1, -1, 1]) * origin, atol=1e-6)
    assert vol.warnings == []
    assert vol.header["slice_positions"] == sorted(vol.header["slice_positions"])


def test_axial_slice_is_displayed_as_stored(tmp_path, write_dicom_series):
    arr = np.arange(30, dtype=np.int16).reshape(6, 5)
    write_dicom_series(tmp_path, [arr, arr + 100], [(0, 0, 0), (0, 0, 3)])
    vol = open_volume(tmp_path)
    assert vol.orientation == "LPS"
    np.testing.assert_array_equal(vol.slice("axial", 1), arr + 100)
    assert vol.slice_to_voxel("axial", 1, 2, 3) == (3, 2, 1)


def test_rescale_slope_intercept(tmp_path, write_dicom_series):
    stored = [np.array([[0, 100], [200, 4000]], np.uint16)] * 2
    write_dicom_series(tmp_path / "f", stored, [(0, 0, 0), (0, 0, 1)], slope=0.5, intercept=-100.0)
    vol = open_volume(tmp_path / "f")
    assert vol.dtype == np.float32
    np.testing.assert_allclose(vol.slice("axial", 0), [[-100, -50], [0, 1900]])
    write_dicom_series(tmp_path / "i", stored, [(0, 0, 0), (0, 0, 1)], slope=1.0, intercept=-1024.0)
    vol = open_volume(tmp_path / "i")
    assert vol.dtype == np.int16
    np.testing.assert_array_equal(vol.slice("axial", 0), [[-1024, -924], [-824, 2976]])


def test_pydicom_ct_small_file(tmp_path):
    src = get_testdata_file("CT_small.dcm")
    shutil.copy(src, tmp_path / "ct.dcm")
    ds = pydicom.dcmread(src)
    vol = open_volume(tmp_path / "ct.dcm")
    assert vol.modality == "CT" and vol.shape == (ds.Columns, ds.Rows, 1)
    expected = ds.pixel_array.astype(np.float64) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    np.testing.assert_allclose(vol.slice("axial", 0), expected)
    assert vol.spacing[:2] == pytest.approx((float(ds.PixelSpacing[1]), float(ds.PixelSpacing[0])))
    assert vol.data.min() < -500  # Hounsfield units, not stored values


def test_pydicom_mr_small_folder(tmp_path):
    shutil.copy(get_testdata_file("MR_small.dcm"), tmp_path / "IM0001")  # no suffix, found by the DICM magic
    (tmp_path / "readme.txt").write_text("not dicom")
    vol = open_volume(tmp_path)
    assert vol.modality == "MR" and vol.n_slices("axial") == 1


@pytest.mark.parametrize("name", ["rtstruct.dcm", "rtplan.dcm"])
def test_file_without_pixel_data(tmp_path, name):
    shutil.copy(get_testdata_file(name), tmp_path / name)
    with pytest.raises(VolumeLoadError, match="no pixel data"):
        open_volume(tmp_path / name)
    with pytest.raises(VolumeLoadError, match="no pixel data"):
        open_volume(tmp_path)


def test_dicomdir_is_not_an_image(tmp_path):
    shutil.copy(get_testdata_file("DICOMDIR"), tmp_path / "DICOMDIR")
    with pytest.raises(VolumeLoadError, match="no pixel data"):
        open_dicom(tmp_path / "DICOMDIR")


def test_several_series_need_a_choice(tmp_path, write_dicom_series):
    write_dicom_series(
        tmp_path / "a", _slices(3), [(0, 0, z) for z in (0, 1, 2)], series_uid="1.2.3.1", description="first"
    )
    write_dicom_series(
        tmp_path / "b", _slices(2), [(0, 0, z) for z in (0, 1)], series_uid="1.2.3.2", description="second"
    )
    series = list_dicom_series(tmp_path)
    assert [(s.uid, s.n_files, s.description) for s in series] == [
        ("1.2.3.1", 3, "first"),
        ("1.2.3.2", 2, "second"),
    ]
    with pytest.raises(VolumeLoadError) as err:
        open_volume(tmp_path)
    message = str(err.value)
    assert "1.2.3.1" in message and "1.2.3.2" in message and "\n" not in message
    assert open_volume(tmp_path, series_uid="1.2.3.2").n_slices("axial") == 2
    with pytest.raises(VolumeLoadError, match="no series 9.9"):
        open_volume(tmp_path, series_uid="9.9")
    # a file picks its own series even when its folder holds others
    mixed = tmp_path / "mixed"
    write_dicom_series(
        mixed, _slices(3), [(0, 0, z) for z in (0, 1, 2)], series_uid="1.2.3.3", names=["a1", "a2", "a3"]
    )
    write_dicom_series(
        mixed, _slices(2), [(0, 0, z) for z in (0, 1)], series_uid="1.2.3.4", names=["b1", "b2"]
    )
    assert open_volume(mixed / "b2").n_slices("axial") == 2
    assert open_volume(mixed / "a1").header["series_uid"] == "1.2.3.3"


def test_irregular_spacing_is_reported(tmp_path, write_dicom_series):
    zs = [0.0, 2.0, 4.0, 7.0, 9.0]
    write_dicom_series(tmp_path, _slices(5), [(0, 0, z) for z in zs])
    vol = open_volume(tmp_path)
    assert any("irregular slice spacing" in w for w in vol.warnings)
    assert vol.header["slice_positions"] == pytest.approx(zs)
    regular = tmp_path / "regular"
    write_dicom_series(regular, _slices(5), [(0, 0, 2.0 * k) for k in range(5)])
    assert open_volume(regular).warnings == []


def test_gantry_tilt_is_reported(tmp_path, write_dicom_series):
    # tilted acquisition: the slice plane is rotated 15 degrees about x but slices stack along z
    t = np.radians(15.0)
    orientation = (1.0, 0.0, 0.0, 0.0, np.cos(t), -np.sin(t))
    write_dicom_series(
        tmp_path / "geo", _slices(4), [(0, 0, 3.0 * k) for k in range(4)], orientation=orientation
    )
    vol = open_volume(tmp_path / "geo")
    tilt = [w for w in vol.warnings if "tilt" in w]
    assert tilt and "15.0" in tilt[0]
    assert vol.spacing[2] == pytest.approx(3.0 * np.cos(t))  # distance along the slice normal
    write_dicom_series(tmp_path / "tag", _slices(3), [(0, 0, 3.0 * k) for k in range(3)], gantry_tilt=12.0)
    assert any("tilt +12.0" in w for w in open_volume(tmp_path / "tag").warnings)


def test_duplicate_positions_are_refused(tmp_path, write_dicom_series):
    write_dicom_series(tmp_path, _slices(4), [(0, 0, 0), (0, 0, 1), (0, 0, 1), (0, 0, 2)])
    with pytest.raises(VolumeLoadError, match="share a position"):
        open_volume(tmp_path)


def test_missing_decoder_names_the_package(tmp_path):
    src = get_testdata_file("MR_small_jpeg_ls_lossless.dcm")
    try:
        pydicom.dcmread(src).pixel_array  # noqa: B018
    except Exception:
        pass
    else:
        pytest.skip("a JPEG-LS decoder is installed here")
    shutil.copy(src, tmp_path / "jls.dcm")
    with pytest.raises(VolumeLoadError) as err:
        open_volume(tmp_path / "jls.dcm")
    message = str(err.value)
    assert "install" in message and ("pylibjpeg" in message or "gdcm" in message) and "\n" not in message


def test_real_tilted_ct(shared_data):
    folder = shared_data / "ct_head_dicom_ge" / "volumes" / "GE_HiSpeedDual_head"
    vol = open_volume(folder)
    assert vol.shape == (512, 512, 28) and vol.modality == "CT"
    assert any("tilt +18.5" in w for w in vol.warnings)
    assert any("irregular" in w for w in vol.warnings)
    positions = vol.header["slice_positions"]
    assert positions == sorted(positions) and len(positions) == 28
    assert vol.spacing[0] == pytest.approx(0.4882812)
