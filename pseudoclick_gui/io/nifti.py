"""NIfTI files and BraTS-style case folders (via nibabel).

* :func:`open_nifti`: a ``.nii``/``.nii.gz`` file. 3-D -> one channel ``"image"``; 4-D -> one channel per
  volume along the last axis, named ``"t0"``, ``"t1"``, ...; ``X x Y x Z x 1 x C`` (NIfTI vectors) is
  treated like 4-D; 2-D becomes ``X x Y x 1``. ``affine`` is ``img.affine`` unchanged and ``header`` the
  nibabel header, so :func:`to_nifti_image` writes a label volume on the same grid.
* :func:`open_nifti_folder`: a folder of NIfTI files, one per modality (BraTS). File names are split into
  lower-case alphanumeric tokens; ``flair`` -> ``FLAIR``, ``t1ce``/``t1c``/``t1gd`` -> ``T1c``, ``t1`` -> ``T1``,
  ``t2`` -> ``T2``, ``pd`` -> ``PD``; channels are ordered T1, T1c, T2, FLAIR, PD, then unrecognised files
  (named by their file stem). A file whose name has a token ``seg``/``segmentation``/``label(s)``/
  ``otmulticlass``/``ot``/``gt``/``truth`` is the segmentation, exposed as ``volume.labels`` (integers),
  never as a channel. Files with a ``mask``/``brainmask`` token are skipped (noted in ``warnings``).
  All files must share one shape.

The modality of a plain NIfTI file is a guess: ``"CT"`` when the values look like Hounsfield units
(min <= -500 and max >= 500), otherwise ``"MR"``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import VolumeLoadError
from .images import natural_key
from .volume import Volume

_MODALITY_TOKENS: dict[str, str] = {
    "t1": "T1",
    "t1w": "T1",
    "t1n": "T1",
    "t1ce": "T1c",
    "t1c": "T1c",
    "t1gd": "T1c",
    "t1post": "T1c",
    "t2": "T2",
    "t2w": "T2",
    "flair": "FLAIR",
    "t2f": "FLAIR",
    "pd": "PD",
}
_CHANNEL_ORDER = ["T1", "T1c", "T2", "FLAIR", "PD"]
_LABEL_TOKENS = {"seg", "segmentation", "label", "labels", "otmulticlass", "ot", "gt", "truth", "groundtruth"}
_SKIP_TOKENS = {"mask", "brainmask"}


def is_nifti_path(path: str | Path) -> bool:
    name = Path(path).name.lower()
    return name.endswith(".nii") or name.endswith(".nii.gz")


def nifti_stem(path: str | Path) -> str:
    name = Path(path).name
    for ext in (".nii.gz", ".nii"):
        if name.lower().endswith(ext):
            return name[: -len(ext)]
    return Path(name).stem


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


_F32_MAX = float(np.finfo(np.float32).max)


def _scaled(img: Any, path: Path, notes: list[str] | None) -> np.ndarray:
    """The data with the header's ``scl_slope`` / ``scl_inter`` applied in float64, so a slope that pushes
    values past float32's range is found (and clipped, with a note) instead of silently becoming inf."""
    dataobj = img.dataobj
    slope = getattr(dataobj, "slope", 1.0)
    inter = getattr(dataobj, "inter", 0.0)
    if not hasattr(dataobj, "get_unscaled") or (slope == 1.0 and inter == 0.0):
        return np.asanyarray(dataobj)
    raw = np.asarray(dataobj.get_unscaled())
    if not (np.isfinite(slope) and np.isfinite(inter)):
        if notes is not None:
            notes.append(f"{path.name}: the header's intensity scaling is not finite (slope {slope}, intercept "
                         f"{inter}); it is ignored")  # fmt: skip
        return raw
    out = raw.astype(np.float64) * float(slope) + float(inter)
    if out.size and float(np.nanmax(np.abs(out))) > _F32_MAX:
        n = int(np.count_nonzero(np.abs(out) > _F32_MAX))
        if notes is not None:
            notes.append(f"{path.name}: the header's scl_slope {slope:g} makes {n} value(s) overflow float32; "
                         "they were clipped to the float32 range")  # fmt: skip
        np.clip(out, -_F32_MAX, _F32_MAX, out=out)
    return out


def _read(path: Path, notes: list[str] | None = None) -> tuple[Any, np.ndarray]:
    """(nibabel image, data array in native byte order; float64 reduced to float32, out-of-range values
    clipped with a note in ``notes``)."""
    import nibabel as nib

    try:
        img = nib.load(str(path))
    except FileNotFoundError:
        raise VolumeLoadError(f"{path}: not found") from None
    except Exception as exc:
        raise VolumeLoadError(f"{path}: not a readable NIfTI file ({_first_line(exc)})") from None
    if not hasattr(img, "affine") or img.affine is None:
        raise VolumeLoadError(f"{path}: NIfTI file has no affine")
    try:
        arr = _scaled(img, path, notes)
    except MemoryError:
        raise VolumeLoadError(f"{path}: not enough memory to read the volume") from None
    except Exception as exc:  # truncated gzip, short file...
        raise VolumeLoadError(f"{path}: corrupt or truncated NIfTI data ({_first_line(exc)})") from None
    arr = np.asarray(arr)
    if arr.dtype.byteorder not in ("=", "|"):
        arr = arr.astype(arr.dtype.newbyteorder("="), order="K")
    if arr.dtype.kind not in "biuf":
        raise VolumeLoadError(f"{path}: unsupported NIfTI data type {arr.dtype}")
    if arr.dtype == np.float64:
        if arr.size and float(np.nanmax(np.abs(arr))) > _F32_MAX:
            if notes is not None:
                notes.append(f"{path.name}: values beyond float32's range were clipped")
            arr = np.clip(arr, -_F32_MAX, _F32_MAX)
        arr = arr.astype(np.float32, order="K")
    if notes is not None and arr.dtype.kind == "f" and arr.size:
        bad = int(np.count_nonzero(~np.isfinite(arr)))
        if bad:
            notes.append(f"{path.name}: {bad} voxel(s) are NaN or infinite")
    return img, arr


def _spacing(img: Any) -> tuple[float, float, float]:
    zooms = [float(z) for z in img.header.get_zooms()[:3]]
    zooms += [1.0] * (3 - len(zooms))
    return tuple(z if z > 0 and np.isfinite(z) else 1.0 for z in zooms)  # type: ignore[return-value]


def _flat_sample(arr: np.ndarray, n: int = 200_000) -> np.ndarray:
    flat = np.ravel(arr, order="K")
    return flat[:: max(1, flat.size // n)]


def guess_modality(arr: np.ndarray) -> str:
    sample = _flat_sample(arr)
    if sample.size and sample.dtype.kind in "iuf":
        finite = sample[np.isfinite(sample)] if sample.dtype.kind == "f" else sample
        if finite.size and finite.min() <= -500 and finite.max() >= 500:
            return "CT"
    return "MR"


def _split_channels(arr: np.ndarray, path: Path) -> dict[str, np.ndarray]:
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim == 5 and arr.shape[3] == 1:
        arr = arr[:, :, :, 0, :]
    if arr.ndim == 3:
        return {"image": arr}
    if arr.ndim == 4:
        if arr.shape[3] == 1:
            return {"image": arr[..., 0]}
        return {f"t{c}": arr[..., c] for c in range(arr.shape[3])}
    raise VolumeLoadError(f"{path}: {arr.ndim}-D NIfTI {arr.shape} is not supported (3-D or 4-D only)")


def open_nifti(path: str | Path) -> Volume:
    """Open one NIfTI file (3-D or 4-D) as a :class:`Volume`."""
    p = Path(path)
    notes: list[str] = []
    img, arr = _read(p, notes)
    channels = _split_channels(arr, p)
    vol = Volume(
        channels=channels,
        spacing=_spacing(img),
        affine=np.array(img.affine, dtype=np.float64),
        modality=guess_modality(next(iter(channels.values()))),
        source_path=p,
        header=img.header,
        source_format="nifti",
        warnings=notes,
    )
    return vol


def _tokens(path: Path) -> list[str]:
    return [t for t in re.split(r"[^a-z0-9]+", nifti_stem(path).lower()) if t]


def classify_nifti(path: str | Path) -> tuple[str, str]:
    """(role, name) of a file in a case folder: role is "channel", "labels" or "skip"."""
    tokens = _tokens(Path(path))
    if any(t in _LABEL_TOKENS for t in tokens):
        return "labels", "labels"
    if any(t in _SKIP_TOKENS or t.endswith("mask") for t in tokens):
        return "skip", nifti_stem(path)
    for t in tokens:
        if t in _MODALITY_TOKENS:
            return "channel", _MODALITY_TOKENS[t]
    return "channel", nifti_stem(path)


def _as_labels(arr: np.ndarray, path: Path, notes: list[str]) -> np.ndarray:
    if arr.dtype.kind == "f":
        finite = np.nan_to_num(arr, nan=0.0)
        rounded = np.rint(finite)
        if not np.array_equal(rounded, finite):
            notes.append(f"{path.name}: non-integer label values were rounded")
        arr = rounded
    lo, hi = (float(arr.min()), float(arr.max())) if arr.size else (0.0, 0.0)
    dtype = np.uint8 if lo >= 0 and hi <= 255 else np.int32
    return arr.astype(dtype, order="F")


def open_nifti_folder(folder: str | Path) -> Volume:
    """Open a folder of per-modality NIfTI files (e.g. a BraTS case) as one multi-channel volume."""
    d = Path(folder)
    files = sorted(
        (f for f in d.iterdir() if f.is_file() and is_nifti_path(f) and not f.name.startswith(".")),
        key=natural_key,
    )
    if not files:
        raise VolumeLoadError(f"{d}: no .nii/.nii.gz files in this folder")
    notes: list[str] = []
    channel_files: list[tuple[str, Path]] = []
    label_files: list[Path] = []
    for f in files:
        role, name = classify_nifti(f)
        if role == "labels":
            label_files.append(f)
        elif role == "skip":
            notes.append(f"{f.name}: skipped (a mask, not an image channel)")
        else:
            channel_files.append((name, f))
    if not channel_files:
        raise VolumeLoadError(f"{d}: only segmentation/mask files found, no image channel")
    if len(channel_files) == 1 and not label_files:
        return open_nifti(channel_files[0][1])

    def order(item: tuple[str, Path]) -> tuple[int, list]:
        name, f = item
        return (_CHANNEL_ORDER.index(name) if name in _CHANNEL_ORDER else len(_CHANNEL_ORDER), natural_key(f))

    channel_files.sort(key=order)
    channels: dict[str, np.ndarray] = {}
    first_img = None
    shapes: dict[str, tuple[int, ...]] = {}
    for name, f in channel_files:
        img, arr = _read(f, notes)
        if arr.ndim == 4 and arr.shape[3] == 1:
            arr = arr[..., 0]
        if arr.ndim != 3:
            raise VolumeLoadError(f"{f}: expected a 3-D volume in a case folder, got shape {arr.shape}")
        key = name
        k = 2
        while key in channels:
            key = f"{name}_{k}"
            k += 1
        if key != name:
            notes.append(f"two files map to channel {name}; {f.name} is channel {key}")
        shapes[f.name] = arr.shape
        if first_img is None:
            first_img = img
        elif not np.allclose(img.affine, first_img.affine, atol=1e-3):
            notes.append(
                f"{f.name}: affine differs from {channel_files[0][1].name}; the first file's affine is used"
            )
        channels[key] = arr
    labels = None
    if label_files:
        if len(label_files) > 1:
            notes.append(f"several segmentation files; using {label_files[0].name}")
        img, arr = _read(label_files[0], notes)
        if arr.ndim == 4 and arr.shape[3] == 1:
            arr = arr[..., 0]
        shapes[label_files[0].name] = arr.shape
        labels = _as_labels(arr, label_files[0], notes)
    if len(set(shapes.values())) > 1:
        listing = ", ".join(f"{name} {'x'.join(map(str, s))}" for name, s in shapes.items())
        raise VolumeLoadError(f"{d}: files have different shapes ({listing})")
    assert first_img is not None
    return Volume(
        channels=channels,
        spacing=_spacing(first_img),
        affine=np.array(first_img.affine, dtype=np.float64),
        modality="MR",
        source_path=d,
        header=first_img.header,
        labels=labels,
        warnings=notes,
        source_format="nifti-folder",
    )


def to_nifti_image(volume: Volume, array: np.ndarray, *, dtype: Any = None) -> Any:
    """A ``nibabel.Nifti1Image`` of *array* (shaped like the volume, (X, Y, Z)) on the volume's grid.

    For NIfTI sources the original header is copied (data type, scaling and intensity calibration reset);
    otherwise a fresh header with the volume's spacing is built. The affine is ``volume.affine`` exactly.
    """
    import nibabel as nib

    arr = np.asarray(array)
    if arr.shape[:3] != volume.shape:
        raise ValueError(f"array shape {arr.shape} does not match the volume shape {volume.shape}")
    if dtype is not None:
        arr = arr.astype(dtype)
    elif arr.dtype == np.bool_:
        arr = arr.astype(np.uint8)
    if isinstance(volume.header, nib.Nifti1Header):
        header = volume.header.copy()
        header.set_data_dtype(arr.dtype)
        header.set_slope_inter(None, None)
        header["cal_min"] = 0
        header["cal_max"] = 0
        img = nib.Nifti1Image(arr, volume.affine, header)
    else:
        img = nib.Nifti1Image(arr, volume.affine)
        img.header.set_zooms(tuple(volume.spacing) + tuple(img.header.get_zooms()[3:]))
    img.set_qform(volume.affine, code=int(img.header["qform_code"]) or 1)
    img.set_sform(volume.affine, code=int(img.header["sform_code"]) or 1)
    return img


def save_nifti(volume: Volume, array: np.ndarray, path: str | Path, *, dtype: Any = None) -> Path:
    """Write *array* (e.g. a label volume) as NIfTI on the volume's grid (see :func:`to_nifti_image`)."""
    import nibabel as nib

    p = Path(path)
    nib.save(to_nifti_image(volume, array, dtype=dtype), str(p))
    return p
