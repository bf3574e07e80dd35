import nibabel as nib
import numpy as np

from pseudoclick_gui.evaluation.dataset import find_samples


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
