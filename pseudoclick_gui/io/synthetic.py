"""A synthetic MR-like phantom, so the app can open a volume on a fresh machine (and for tests).

:func:`make_phantom_volume` builds a smooth "brain" (an ellipsoid with soft edges, a darker
ventricle-like core and low-frequency texture) holding a brighter ellipsoid "lesion". The lesion mask is
``volume.labels`` (1 = lesion). Values are int16, roughly 0 outside, ~400 in the brain, ~800 in the lesion.

The committed sample ``resources/samples/phantom_mr.nii.gz`` is ``make_phantom_volume(**SAMPLE_KWARGS)``
saved with :func:`save_phantom` (run ``python -m pseudoclick_gui.io.synthetic OUT.nii.gz`` to regenerate it).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from .volume import Volume

DEFAULT_SHAPE = (128, 128, 64)
DEFAULT_SPACING = (1.0, 1.0, 2.0)
#: parameters of the committed sample ``resources/samples/phantom_mr.nii.gz`` (kept small: < 300 KB)
SAMPLE_KWARGS: dict = {"shape": (96, 96, 48), "seed": 0, "noise": 2.0}


def _soft_inside(r: np.ndarray, edge: float) -> np.ndarray:
    """~1 inside the unit radius, ~0 outside, a logistic edge of width *edge*."""
    return 1.0 / (1.0 + np.exp(np.clip((r - 1.0) / edge, -50, 50)))


def make_phantom_volume(
    shape: tuple[int, int, int] = DEFAULT_SHAPE,
    seed: int = 0,
    spacing: tuple[float, float, float] = DEFAULT_SPACING,
    noise: float = 3.0,
) -> Volume:
    """A phantom shaped (X, Y, Z) (the :class:`Volume` convention); deterministic for a given seed."""
    rng = np.random.default_rng(seed)
    nx, ny, nz = (int(s) for s in shape)
    x = (np.arange(nx, dtype=np.float32) - (nx - 1) / 2) / (nx / 2)
    y = (np.arange(ny, dtype=np.float32) - (ny - 1) / 2) / (ny / 2)
    z = (np.arange(nz, dtype=np.float32) - (nz - 1) / 2) / (nz / 2)
    X, Y, Z = np.meshgrid(x, y, z, indexing="ij")
    brain_r = np.sqrt((X / 0.78) ** 2 + (Y / 0.9) ** 2 + (Z / 0.85) ** 2)
    brain = _soft_inside(brain_r, 0.03)
    core = _soft_inside(np.sqrt((X / 0.18) ** 2 + (Y / 0.32) ** 2 + (Z / 0.3) ** 2), 0.15)
    texture = np.zeros_like(X)
    for _ in range(6):  # a few random low-frequency waves
        k = rng.normal(0.0, 2.5, size=3).astype(np.float32)
        phase = np.float32(rng.uniform(0, 2 * np.pi))
        texture += np.cos(k[0] * 3 * X + k[1] * 3 * Y + k[2] * 3 * Z + phase)
    texture /= 6.0
    centre = rng.uniform(-0.3, 0.3, size=3).astype(np.float32) + np.float32([0.2, -0.15, 0.1])
    radii = rng.uniform(0.12, 0.2, size=3).astype(np.float32)
    lesion_r = np.sqrt(
        ((X - centre[0]) / radii[0]) ** 2
        + ((Y - centre[1]) / radii[1]) ** 2
        + ((Z - centre[2]) / radii[2]) ** 2
    )
    lesion = _soft_inside(lesion_r, 0.08)
    values = brain * (400.0 + 60.0 * texture - 180.0 * core) + lesion * brain * 380.0
    values += brain * rng.normal(0.0, noise, size=values.shape).astype(np.float32)
    data = np.clip(np.rint(values), -32768, 32767).astype(np.int16, order="F")
    labels = np.asfortranarray((lesion_r <= 1.0) & (brain_r < 1.0)).astype(np.uint8, order="F")
    affine = np.diag([spacing[0], spacing[1], spacing[2], 1.0])
    affine[:3, 3] = -np.array(spacing) * (np.array([nx, ny, nz]) - 1) / 2.0
    return Volume(
        channels={"MR": data},
        spacing=tuple(float(s) for s in spacing),  # type: ignore[arg-type]
        affine=affine,
        modality="MR",
        labels=labels,
        header={"synthetic": True, "seed": seed},
        source_format="synthetic",
    )


def save_phantom(path: str | Path, **kwargs) -> Path:
    """Write ``make_phantom_volume(**kwargs)`` (image only) as NIfTI."""
    from .nifti import to_nifti_image

    vol = make_phantom_volume(**kwargs)
    import nibabel as nib

    p = Path(path)
    img = to_nifti_image(vol, vol.data)
    img.header["descrip"] = b"PseudoClick synthetic MR phantom"
    nib.save(img, str(p))
    return p


if __name__ == "__main__":  # pragma: no cover - maintenance helper
    out = save_phantom(sys.argv[1] if len(sys.argv) > 1 else "phantom_mr.nii.gz", **SAMPLE_KWARGS)
    print(f"wrote {out} ({out.stat().st_size} bytes)")
