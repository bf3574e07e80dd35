"""EM-style image stacks -> grey :class:`~pseudoclick_gui.io.volume.Volume` (modality ``"EM"``).

Sources: a multi-page TIFF (read with tifffile; ``Z x Y x X`` pages, or one page) or a folder of one image
per section (PNG/TIFF/BMP/JPEG, natural order of the file names: ``s2`` before ``s10``). The array is
(X, Y, Z) like every volume, i.e. the ``Z x Y x X`` stack transposed (a view, no copy).

Colour sections are converted to grey (ITU-R 601 luma) with a warning; the dtype of the files is kept.

Spacing (mm) comes from the TIFF resolution tags of the (first) file: XResolution/YResolution with
ResolutionUnit inch or centimetre, or ImageJ's ``unit`` (micron, nm, mm...) with ResolutionUnit none; the
section spacing from ImageJ's ``spacing``. 72 and 96 dpi are treated as "not set" (software defaults).
Unknown in-plane spacing -> 1 (with a warning); unknown section spacing when the in-plane spacing is known
-> equal to the x spacing (with a warning).

The affine is ``diag(-sx, -sy, -sz)`` (orientation "LPI"), chosen so that the "axial" plane is the section
plane shown as stored (row 0 at the top, column 0 on the left) and re-sliced views put section 0 at the top.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ImageLoadError, VolumeLoadError
from .images import load_image, natural_key
from .volume import Volume

SECTION_SUFFIXES = (".png", ".tif", ".tiff", ".bmp", ".jpg", ".jpeg")
_UNIT_MM = {
    "mm": 1.0,
    "millimeter": 1.0,
    "millimetre": 1.0,
    "cm": 10.0,
    "m": 1000.0,
    "inch": 25.4,
    "um": 1e-3,
    "micron": 1e-3,
    "microns": 1e-3,
    "micrometer": 1e-3,
    "\u00b5m": 1e-3,
    "\\u00b5m": 1e-3,
    "nm": 1e-6,
    "nanometer": 1e-6,
}
_DEFAULT_DPI = (72.0, 96.0)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _rational(tag: Any) -> float | None:
    if tag is None:
        return None
    value = tag.value
    try:
        if isinstance(value, tuple) and len(value) == 2:
            return float(value[0]) / float(value[1]) if value[1] else None
        return float(value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None


def tiff_spacing(tf: Any) -> tuple[tuple[float, float, float], list[str]]:
    """((sx, sy, sz) in mm, notes) from an open ``tifffile.TiffFile``."""
    notes: list[str] = []
    page = tf.pages[0]
    xres, yres = _rational(page.tags.get(282)), _rational(page.tags.get(283))
    unit_tag = page.tags.get(296)
    unit = int(unit_tag.value) if unit_tag is not None else 2
    ij = tf.imagej_metadata or {}
    ij_unit = str(ij.get("unit", "")).strip().lower()
    per_unit: float | None = None
    if unit == 2:
        per_unit = 25.4
        if xres in _DEFAULT_DPI and (yres is None or yres == xres):
            xres = yres = None
    elif unit == 3:
        per_unit = 10.0
    elif ij_unit in _UNIT_MM:
        per_unit = _UNIT_MM[ij_unit]
    sx = per_unit / xres if per_unit and xres and xres > 0 else None
    sy = per_unit / yres if per_unit and yres and yres > 0 else sx
    sz = None
    if "spacing" in ij and ij_unit in _UNIT_MM:
        try:
            sz = float(ij["spacing"]) * _UNIT_MM[ij_unit]
        except (TypeError, ValueError):
            sz = None
    if sx is None:
        notes.append("no resolution tags: spacing set to 1 per voxel")
        return (1.0, 1.0, 1.0), notes
    if sz is None or sz <= 0:
        notes.append("section spacing unknown: assumed equal to the pixel size")
        sz = sx
    return (float(sx), float(sy or sx), float(sz)), notes


def _luma(arr: np.ndarray, notes: list[str], where: str) -> np.ndarray:
    """Grey from the last axis (1-4 samples); identical R, G, B are taken as is."""
    if arr.shape[-1] <= 2:
        return np.ascontiguousarray(arr[..., 0])
    rgb = arr[..., :3]
    if np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 0], rgb[..., 2]):
        return np.ascontiguousarray(rgb[..., 0])
    if not any("grey" in n for n in notes):
        notes.append(f"colour sections converted to grey (first: {where})")
    grey = rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return (grey + 0.5).astype(arr.dtype) if arr.dtype.kind in "ui" else grey


def _to_grey(arr: np.ndarray, notes: list[str], where: str) -> np.ndarray:
    if arr.ndim == 2:
        return arr
    if arr.ndim == 3 and arr.shape[-1] in (1, 2, 3, 4):
        return _luma(arr, notes, where)
    raise VolumeLoadError(f"{where}: expected grey or colour 2-D sections, got shape {arr.shape}")


def _lpi(spacing: tuple[float, float, float]) -> np.ndarray:
    return np.diag([-spacing[0], -spacing[1], -spacing[2], 1.0])


def _open_multipage(p: Path) -> Volume:
    import tifffile

    notes: list[str] = []
    try:
        with tifffile.TiffFile(p) as tf:
            series = tf.series[0]
            axes = series.axes
            arr = series.asarray()
            spacing, more = tiff_spacing(tf)
    except MemoryError:
        raise VolumeLoadError(f"{p}: not enough memory to read the stack") from None
    except Exception as exc:
        raise VolumeLoadError(f"{p}: cannot read TIFF ({_first_line(exc)})") from None
    notes += more
    arr = np.asarray(arr)
    if arr.dtype.byteorder not in ("=", "|"):
        arr = arr.astype(arr.dtype.newbyteorder("="))
    zyx = _luma(arr, notes, p.name) if axes.endswith("S") and arr.shape[-1] in (2, 3, 4) else arr
    squeeze = tuple(i for i in range(zyx.ndim - 2) if zyx.shape[i] == 1)
    zyx = np.squeeze(zyx, axis=squeeze) if squeeze else zyx
    if zyx.ndim == 2:
        zyx = zyx[None]
    if zyx.ndim != 3:
        raise VolumeLoadError(
            f"{p}: TIFF with axes {axes} and shape {arr.shape} is not a simple Z x Y x X stack"
        )
    if zyx.dtype.kind not in "biuf":
        raise VolumeLoadError(f"{p}: unsupported TIFF data type {zyx.dtype}")
    zyx = np.ascontiguousarray(zyx)
    return Volume(
        channels={"EM": zyx.T},
        spacing=spacing,
        affine=_lpi(spacing),
        modality="EM",
        source_path=p,
        header={"axes": axes, "pages": int(zyx.shape[0])},
        warnings=notes,
        source_format="tiff",
    )


def _open_folder(d: Path) -> Volume:
    files = sorted(
        (
            f
            for f in d.iterdir()
            if f.is_file() and not f.name.startswith(".") and f.suffix.lower() in SECTION_SUFFIXES
        ),
        key=natural_key,
    )
    if not files:
        raise VolumeLoadError(f"{d}: no section images (PNG/TIFF/BMP/JPEG) in this folder")
    notes: list[str] = []
    spacing: tuple[float, float, float] = (1.0, 1.0, 1.0)
    out: np.ndarray | None = None
    for k, f in enumerate(files):
        try:
            img = load_image(f)
        except ImageLoadError as exc:
            raise VolumeLoadError(f"section {k} ({f.name}): {exc}") from None
        if img.n_pages > 1 and not any("pages" in n for n in notes):
            notes.append(f"{f.name} has {img.n_pages} pages; only the first page of each file is used")
        sec = _to_grey(img.raw, notes, f.name)
        if out is None:
            out = np.empty((len(files), *sec.shape), dtype=sec.dtype)
            if f.suffix.lower() in (".tif", ".tiff"):
                import tifffile

                try:
                    with tifffile.TiffFile(f) as tf:
                        spacing, more = tiff_spacing(tf)
                    notes += more
                except Exception:
                    notes.append("no resolution tags: spacing set to 1 per voxel")
            else:
                notes.append("no resolution tags: spacing set to 1 per voxel")
        elif sec.shape != out.shape[1:]:
            raise VolumeLoadError(
                f"{d}: section {f.name} is {sec.shape[1]}x{sec.shape[0]}, "
                f"but {files[0].name} is {out.shape[2]}x{out.shape[1]}"
            )
        if sec.dtype != out.dtype:
            out = out.astype(np.result_type(out.dtype, sec.dtype))
        out[k] = sec
    assert out is not None
    return Volume(
        channels={"EM": out.T},
        spacing=spacing,
        affine=_lpi(spacing),
        modality="EM",
        source_path=d,
        header={"files": [f.name for f in files]},
        warnings=notes,
        source_format="image-folder",
    )


def open_tiff_stack(path: str | Path) -> Volume:
    """Open a multi-page TIFF file or a folder of section images as an EM volume."""
    p = Path(path)
    if p.is_dir():
        return _open_folder(p)
    if not p.is_file():
        raise VolumeLoadError(f"{p}: not found")
    return _open_multipage(p)
