"""Export the objects drawn on volume slices as NIfTI label volumes, one per annotated volume.

* Output: ``<out_dir>/<volume-stem>_labels.nii.gz`` plus ``<out_dir>/labels.json`` (``{value: category
  name}``, shared by all volumes).
* Grid: the source volume's voxel grid (same shape), saved with the **source affine**, and, when the source
  is a NIfTI file that can still be read, a copy of its **header** (dtype switched to the label dtype and
  intensity scaling removed), so viewers overlay it exactly on the image.
* Voxel value = the object's **category id** (0 = background); uint8 when every id is <= 255, else uint16.
* Objects on any axis go into the same volume (see :mod:`.volume_axes` for how a slice maps onto the
  array); where objects overlap, the later one (higher id) wins and the number of overwritten voxels is
  reported as a warning.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

import numpy as np

from ..errors import ProjectError
from . import volume_axes
from .store import ProjectStore, volume_stem

log = logging.getLogger(__name__)


def _source_header(path: str):
    """(affine, header) of a readable NIfTI source, else (None, None)."""
    import nibabel as nib

    if not os.path.isfile(path):
        return None, None
    try:
        img = nib.load(path)
    except Exception:  # not NIfTI / unreadable: fall back to the stored affine
        return None, None
    if not isinstance(img, (nib.Nifti1Image, nib.Nifti2Image)):
        return img.affine, None
    return img.affine, img.header


def export_nifti(store: ProjectStore, out_dir, *, progress: bool = True) -> dict:
    import nibabel as nib

    t0 = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cats = {c.id: c.name for c in store.categories()}
    max_id = max(cats, default=0)
    if max_id > 65535:
        raise ProjectError("category ids above 65535 do not fit a uint16 label volume")
    dtype = np.uint8 if max_id <= 255 else np.uint16
    files, warnings = [], []
    volumes = store.volumes()
    iterator = volumes
    if progress:
        from tqdm import tqdm

        iterator = tqdm(volumes, desc="nifti", unit="volume", leave=False)
    for vol in iterator:
        slices = store.volume_slices(vol.id)
        work = [(s, store.instances(s.id)) for s in slices]
        work = [(s, insts) for s, insts in work if insts]
        if not work:
            continue
        if len(vol.shape) < 3:
            raise ProjectError(f"{vol.path}: stored shape {vol.shape} is not 3-D")
        label = np.zeros(tuple(vol.shape[:3]), dtype=dtype)
        # later wins: apply all objects of this volume in creation order, whatever their slice
        items = sorted(((inst, s) for s, insts in work for inst in insts), key=lambda t: t[0].id)
        clashes = 0
        for inst, s in items:
            clashes += volume_axes.insert(label, s.axis, s.slice_index, inst.mask(), inst.category_id, vol.affine)
        if clashes:
            msg = f"{Path(vol.path).name}: {clashes} voxel(s) claimed by several objects; the later object wins"
            warnings.append(msg)
            log.warning(msg)
        affine, header = _source_header(vol.path)
        if affine is None:
            if vol.affine is None:
                warnings.append(f"{Path(vol.path).name}: no affine known; identity used")
            affine = np.eye(4) if vol.affine is None else vol.affine
        if header is not None:
            header = header.copy()
            header.set_data_dtype(dtype)
            header.set_slope_inter(None, None)
            img = type_for(header)(label, affine, header=header)
        else:
            img = nib.Nifti1Image(label, affine)
            img.set_sform(affine, code=1)
            img.set_qform(affine, code=1)
        img.header["cal_min"] = 0
        img.header["cal_max"] = int(label.max())
        target = out / f"{volume_stem(vol.path)}_labels.nii.gz"
        if any(f == os.fspath(target) for f in files):
            target = out / f"{volume_stem(vol.path)}_{vol.id}_labels.nii.gz"
        try:
            nib.save(img, os.fspath(target))
        except OSError as exc:
            raise ProjectError(f"{target}: cannot write ({exc.strerror or exc})") from None
        files.append(os.fspath(target))
    with open(out / "labels.json", "w", encoding="utf-8") as f:
        json.dump({str(k): v for k, v in sorted(cats.items())}, f, indent=1)
    return {"volumes": len(files), "files": files, "dtype": np.dtype(dtype).name, "warnings": warnings,
            "seconds": time.perf_counter() - t0}  # fmt: skip


def type_for(header):
    import nibabel as nib

    return nib.Nifti2Image if isinstance(header, nib.Nifti2Header) else nib.Nifti1Image
