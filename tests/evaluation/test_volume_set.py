import nibabel as nib
import numpy as np

from pseudoclick_gui.evaluation.dataset import find_samples, spread_slices


def test_brats_protocol_takes_the_axial_slice_with_the_largest_tumour(tmp_path):
    case = tmp_path / "set" / "volumes" / "case1"
    case.mkdir(parents=True)
    rng = np.random.default_rng(0)
    flair = rng.normal(100, 10, (40, 48, 12)).astype(np.float32)
    seg = np.zeros((40, 48, 12), np.uint8)
    seg[10:20, 10:20, 3] = 2  # 100 voxels
    seg[5:30, 8:30, 7] = 1  # 550 voxels: the largest slice
    seg[12:14, 12:14, 9] = 4
    flair[seg > 0] += 80
    affine = np.diag([1.0, 1.0, 2.0, 1.0])
    nib.save(nib.Nifti1Image(flair, affine), case / "case1_flair.nii.gz")
    nib.save(nib.Nifti1Image(flair * 0.5, affine), case / "case1_t1c.nii.gz")
    nib.save(nib.Nifti1Image(seg, affine), case / "case1_seg.nii.gz")
    samples = find_samples(tmp_path / "set")
    assert [s.name for s in samples] == ["case1"]
    rgb, gt, ignore = samples[0].load()
    assert rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3
    assert (rgb[..., 0] == rgb[..., 1]).all()  # grey replicated
    assert gt.sum() == 550 and ignore is None
    assert rgb[..., 0][gt].mean() > rgb[..., 0][~gt].mean() + 50  # the tumour is the bright part of that slice


def test_spread_slices_cover_the_labelled_extent_and_keep_the_largest():
    areas = [0, 2, 30, 60, 90, 200, 400, 380, 250, 120, 40, 3, 0]
    picks = spread_slices(areas, 4)
    assert picks == sorted(picks) and len(picks) == 4
    assert 6 in picks  # the largest slice
    assert all(areas[k] >= 40 for k in picks)  # no sliver (< 10 % of the largest)
    assert picks[0] == 3 and picks[-1] == 10  # both ends of the extent that is kept
    assert spread_slices(areas, 50) == [k for k, a in enumerate(areas) if a >= 40]
    assert spread_slices([0, 0, 0], 3) == []


def test_volume_slices_give_one_sample_per_chosen_slice(tmp_path):
    case = tmp_path / "set" / "volumes" / "caseA"
    case.mkdir(parents=True)
    flair = np.full((32, 32, 10), 50, np.float32)
    seg = np.zeros((32, 32, 10), np.uint8)
    for z in range(2, 9):  # a tumour growing then shrinking along z
        r = 2 + min(z - 2, 8 - z) * 2
        seg[16 - r:16 + r, 16 - r:16 + r, z] = 1
    flair[seg > 0] = 150
    nib.save(nib.Nifti1Image(flair, np.eye(4)), case / "caseA_flair.nii.gz")
    nib.save(nib.Nifti1Image(seg, np.eye(4)), case / "caseA_seg.nii.gz")
    assert [s.name for s in find_samples(tmp_path / "set")] == ["caseA"]
    samples = find_samples(tmp_path / "set", volume_slices=3)
    # z = 2 and 8 hold 16 voxels, under 10 % of the largest slice (256): left out as slivers
    assert [s.name for s in samples] == ["caseA@003", "caseA@005", "caseA@007"]
    for s in samples:
        rgb, gt, _ = s.load()
        assert gt.sum() == int((seg[..., s.index] > 0).sum()) > 0
        assert rgb[..., 0][gt].mean() > rgb[..., 0][~gt].mean() + 50
