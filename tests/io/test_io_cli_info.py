import json

import nibabel as nib
import numpy as np
import pytest
import tifffile
from PIL import Image

from pseudoclick_gui.cli import main


def _run(capsys, *argv):
    code = main(["info", *map(str, argv)])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_info_image(tmp_path, capsys):
    arr = (np.arange(30 * 20).reshape(20, 30) * 50).astype(np.uint16)
    Image.fromarray(arr).save(tmp_path / "g.png")
    code, out, _ = _run(capsys, tmp_path / "g.png")
    assert code == 0
    info = json.loads(out)
    assert info["kind"] == "image"
    assert (info["width"], info["height"], info["bit_depth"], info["pages"]) == (30, 20, 16, 1)
    assert info["shape"] == [20, 30] and info["dtype"] == "uint16" and info["channels"] == 1
    for key in ("spacing", "orientation", "modality", "warnings", "mode"):
        assert key in info


def test_info_nifti_volume(tmp_path, capsys):
    aff = np.diag([-0.5, -0.5, 2.0, 1.0])
    nib.save(nib.Nifti1Image(np.zeros((8, 9, 4, 2), np.int16), aff), tmp_path / "v.nii.gz")
    code, out, _ = _run(capsys, tmp_path / "v.nii.gz")
    assert code == 0
    info = json.loads(out)
    assert info["kind"] == "volume" and info["shape"] == [8, 9, 4]
    assert info["spacing"] == [0.5, 0.5, 2.0] and info["orientation"] == "LPS"
    assert info["channels"] == ["t0", "t1"] and info["dtype"] == "int16" and info["modality"] == "MR"
    assert info["slices"] == {"axial": 4, "coronal": 9, "sagittal": 8}
    assert info["warnings"] == []


def test_info_multipage_tiff_is_a_volume(tmp_path, capsys):
    tifffile.imwrite(tmp_path / "s.tif", np.zeros((3, 5, 6), np.uint8), photometric="minisblack")
    code, out, _ = _run(capsys, tmp_path / "s.tif")
    info = json.loads(out)
    assert code == 0 and info["kind"] == "volume" and info["modality"] == "EM" and info["shape"] == [6, 5, 3]
    code, out, _ = _run(capsys, tmp_path / "s.tif", "--as", "image", "--page", "2")
    info = json.loads(out)
    assert code == 0 and info["kind"] == "image" and info["pages"] == 3 and info["page"] == 2


def test_info_dicom_series_choice(tmp_path, capsys, write_dicom_series):
    slices = [np.zeros((4, 4), np.int16)] * 2
    write_dicom_series(tmp_path, slices, [(0, 0, 0), (0, 0, 1)], series_uid="1.2.826.1", names=["a1", "a2"])
    write_dicom_series(tmp_path, slices[:1], [(0, 0, 0)], series_uid="1.2.826.2", names=["b1"])
    code, out, err = _run(capsys, tmp_path)
    assert code == 1 and out == ""
    assert "1.2.826.1" in err and "1.2.826.2" in err and "--series" in err
    assert len(err.strip().splitlines()) == 1
    code, out, _ = _run(capsys, tmp_path, "--series", "1.2.826.1")
    info = json.loads(out)
    assert code == 0 and info["shape"] == [4, 4, 2] and info["modality"] == "CT"
    assert info["series_uid"] == "1.2.826.1"


@pytest.mark.parametrize("content", [b"", b"\x00garbage" * 50])
def test_info_bad_file_is_one_line_error(tmp_path, capsys, content):
    (tmp_path / "bad.png").write_bytes(content)
    code, out, err = _run(capsys, tmp_path / "bad.png")
    assert code == 1 and out == "" and len(err.strip().splitlines()) == 1 and "error" in err


def test_info_missing_path(tmp_path, capsys):
    code, _, err = _run(capsys, tmp_path / "nothing.nii.gz")
    assert code == 1 and "not found" in err


def test_io_never_imports_torch_or_qt():
    import subprocess
    import sys

    code = (
        "import sys\n"
        "import pseudoclick_gui.io.images, pseudoclick_gui.io.volume, pseudoclick_gui.io.dicom\n"
        "import pseudoclick_gui.io.nifti, pseudoclick_gui.io.tiff_stack, pseudoclick_gui.io.synthetic\n"
        "import pseudoclick_gui.io.cli_info, pseudoclick_gui.io.windowing\n"
        "pseudoclick_gui.io.synthetic.make_phantom_volume(shape=(8, 8, 4)).network_slice('axial', 1)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'PySide6', 'shiboken6')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
