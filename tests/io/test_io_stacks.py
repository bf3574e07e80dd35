import numpy as np
import pytest
import tifffile
from PIL import Image

from pseudoclick_gui.errors import VolumeLoadError
from pseudoclick_gui.io.synthetic import SAMPLE_KWARGS, make_phantom_volume
from pseudoclick_gui.io.volume import open_volume
from pseudoclick_gui.io.windowing import WINDOW_PRESETS, apply_window, auto_window, normalize_percentile

SAMPLE = (
    __import__("pathlib").Path(__file__).resolve().parents[2] / "resources" / "samples" / "phantom_mr.nii.gz"
)


def _stack(n=5, h=12, w=16, dtype=np.uint16):
    rng = np.random.default_rng(2)
    top = np.iinfo(dtype).max // (n + 1)
    return np.stack([(rng.integers(0, top, (h, w)) + k * top).astype(dtype) for k in range(n)])


def test_multipage_tiff_stack_with_imagej_spacing(tmp_path):
    zyx = _stack()
    tifffile.imwrite(
        tmp_path / "em.tif",
        zyx,
        imagej=True,
        resolution=(1 / 0.004, 1 / 0.005),
        metadata={"spacing": 0.05, "unit": "micron", "axes": "ZYX"},
    )
    vol = open_volume(tmp_path / "em.tif")
    assert vol.modality == "EM" and vol.shape == (16, 12, 5) and vol.dtype == np.uint16
    np.testing.assert_array_equal(vol.data, zyx.T)
    assert vol.spacing == pytest.approx((0.004e-3, 0.005e-3, 0.05e-3))
    for k in range(5):  # the section plane is shown as stored
        np.testing.assert_array_equal(vol.slice("axial", k), zyx[k])
    assert vol.warnings == []


def test_multipage_tiff_without_resolution(tmp_path):
    zyx = _stack(3, dtype=np.uint8)
    tifffile.imwrite(tmp_path / "s.tiff", zyx, photometric="minisblack")
    vol = open_volume(tmp_path / "s.tiff")
    assert vol.spacing == (1.0, 1.0, 1.0) and vol.n_slices("axial") == 3
    assert any("spacing" in w for w in vol.warnings)
    # the resliced view puts section 0 at the top
    np.testing.assert_array_equal(vol.slice("coronal", 4)[:, :], zyx[:, 4, :])


def test_folder_of_sections_in_natural_order(tmp_path):
    zyx = _stack(11, dtype=np.uint8)
    for k in range(11):
        Image.fromarray(zyx[k]).save(tmp_path / f"section_{k}.png")  # section_10 sorts after section_9
    (tmp_path / "notes.txt").write_text("ignored")
    vol = open_volume(tmp_path)
    assert vol.shape == (16, 12, 11) and vol.modality == "EM"
    for k in range(11):
        np.testing.assert_array_equal(vol.slice("axial", k), zyx[k])


def test_folder_of_colour_sections_becomes_grey(tmp_path):
    for k in range(3):
        rgb = np.zeros((6, 7, 3), np.uint8)
        rgb[..., 0] = 50 * k
        rgb[..., 1] = 100
        Image.fromarray(rgb).save(tmp_path / f"{k}.png")
    vol = open_volume(tmp_path)
    assert vol.dtype == np.uint8 and vol.shape == (7, 6, 3)
    assert any("grey" in w for w in vol.warnings)
    assert vol.data[0, 0, 2] > vol.data[0, 0, 0]


def test_folder_with_mismatched_sections(tmp_path):
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(tmp_path / "a1.png")
    Image.fromarray(np.zeros((10, 12), np.uint8)).save(tmp_path / "a2.png")
    with pytest.raises(VolumeLoadError, match="a2.png"):
        open_volume(tmp_path)


def test_open_volume_rejects_unknown_things(tmp_path):
    (tmp_path / "x.txt").write_text("hello")
    with pytest.raises(VolumeLoadError, match="not a volume format"):
        open_volume(tmp_path / "x.txt")
    with pytest.raises(VolumeLoadError, match="not found"):
        open_volume(tmp_path / "missing.nii.gz")
    (tmp_path / "empty").mkdir()
    with pytest.raises(VolumeLoadError, match="no DICOM, NIfTI or image"):
        open_volume(tmp_path / "empty")


def test_windowing():
    raw = np.array([-1000, 0, 40, 80, 3000], np.int16)
    out = apply_window(raw, 40, 80)
    assert out.dtype == np.uint8 and list(out) == [0, 0, 128, 255, 255]
    assert WINDOW_PRESETS["CT brain"] == (40.0, 80.0) and WINDOW_PRESETS["CT lung"][0] < 0
    assert set(WINDOW_PRESETS) >= {"CT brain", "CT bone", "CT lung", "CT abdomen"}
    level, width = auto_window(np.arange(1001, dtype=np.float32))
    assert level == pytest.approx(500.0) and width == pytest.approx(990.0)
    assert normalize_percentile(np.full((4, 4), 7.0)).max() == 0
    with pytest.raises(ValueError):
        apply_window(raw, 0, 0)


def test_phantom_and_committed_sample():
    vol = make_phantom_volume(shape=(40, 36, 20), seed=3)
    assert vol.shape == (40, 36, 20) and vol.labels is not None and vol.labels.any()
    lesion = vol.data[vol.labels == 1].mean()
    brain = vol.data[(vol.labels == 0) & (vol.data > 100)].mean()
    assert lesion > brain + 150
    assert SAMPLE.is_file() and SAMPLE.stat().st_size < 300_000
    sample = open_volume(SAMPLE)
    expected = make_phantom_volume(**SAMPLE_KWARGS)
    assert sample.shape == expected.shape and sample.modality == "MR"
    assert np.abs(sample.data.astype(np.int32) - expected.data).max() <= 1
    np.testing.assert_allclose(sample.affine, expected.affine)


def test_shared_brats_case(shared_data):
    case = shared_data / "brats2015_deepmedic" / "volumes" / "brats_2013_pat0005_1"
    vol = open_volume(case)
    assert vol.shape == (240, 240, 155)
    assert set(vol.channel_names) == {"FLAIR", "T1c"}
    assert vol.labels is not None and set(np.unique(vol.labels)) <= {0, 1, 2, 3, 4} and vol.labels.max() > 0
    assert vol.network_slice("axial", 77).shape == (240, 240, 3)
