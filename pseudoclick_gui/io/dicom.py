"""DICOM series -> :class:`~pseudoclick_gui.io.volume.Volume` (via pydicom).

* Files are grouped by SeriesInstanceUID (:func:`list_dicom_series`). Only files that carry an image
  (a ``Rows`` element) form series; a folder or file holding only non-image objects (DICOMDIR, RT structure
  sets, reports) gives a clear error.
* Slices are ordered by ImagePositionPatient projected on the slice normal (``row_dir x col_dir`` from
  ImageOrientationPatient), never by file name or InstanceNumber (used only when positions are missing,
  with a warning).
* RescaleSlope/RescaleIntercept are applied per slice. The result is int16 when every slope is 1, every
  intercept an integer and the values fit; float32 otherwise.
* Array order (X, Y, Z) = (column, row, sorted slice). ``spacing`` = (column spacing, row spacing, median
  inter-slice distance along the normal). ``affine`` maps (i, j, k, 1) to RAS+ mm: LPS column vectors
  ``row_dir * dx``, ``col_dir * dy``, ``(last position - first position) / (n - 1)``, origin = first
  position, then x and y negated. With gantry tilt the third column is not along the normal (a sheared
  affine, as dcm2niix/nibabel would give before tilt correction): the data are **not** resampled.
* Irregular slice spacing (relative spread of gaps > 1 %) and gantry tilt (GantryDetectorTilt != 0 or the
  stacking direction more than 0.5 degrees off the normal) are reported in ``volume.warnings``.
* ``volume.header`` is a dict summary (no patient identifiers): series UID/description, modality,
  manufacturer, transfer syntax, file names in slice order, slice positions along the normal (mm),
  window (centre, width) from the first slice, gantry tilt.
"""

from __future__ import annotations

import math
import os
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import VolumeLoadError
from .images import natural_key
from .volume import Volume

_DICOMDIR_SOP = "1.2.840.10008.1.3.10"
_NOT_DICOM_SUFFIXES = {
    ".txt",
    ".md",
    ".csv",
    ".json",
    ".xml",
    ".html",
    ".pdf",
    ".png",
    ".jpg",
    ".jpeg",
    ".bmp",
    ".tif",
    ".tiff",
    ".nii",
    ".gz",
    ".zip",
    ".py",
    ".exe",
    ".ini",
    ".log",
}
MAX_FILES = 50_000
MAX_DEPTH = 4
TILT_TOLERANCE_DEG = 0.5
SPACING_TOLERANCE = 0.01


@dataclass(frozen=True)
class SeriesInfo:
    """One image series found in a folder."""

    uid: str
    description: str
    modality: str
    n_files: int
    paths: tuple[Path, ...] = field(default=(), repr=False, compare=False)

    def describe(self) -> str:
        desc = f" '{self.description}'" if self.description else ""
        return f"{self.uid} ({self.modality or '?'}{desc}, {self.n_files} file{'s' if self.n_files != 1 else ''})"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def has_dicm_magic(p: Path) -> bool:
    """True when ``p`` has the DICOM preamble magic ``DICM`` at byte 128."""
    try:
        with open(p, "rb") as fh:
            fh.seek(128)
            return fh.read(4) == b"DICM"
    except OSError:
        return False


def _looks_dicom(p: Path) -> bool:
    if p.name.startswith(".") or p.suffix.lower() in _NOT_DICOM_SUFFIXES:
        return False
    try:
        if not p.is_file():  # FIFOs, sockets, devices, broken links: never opened (a FIFO would block)
            return False
    except OSError:
        return False
    return p.suffix.lower() in (".dcm", ".dicom", ".ima") or has_dicm_magic(p)


def _walk(folder: Path, recursive: bool = True) -> list[Path]:
    out: list[Path] = []
    base_depth = len(folder.parts)
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        if not recursive or len(Path(root).parts) - base_depth >= MAX_DEPTH:
            dirs[:] = []
        for name in files:
            out.append(Path(root) / name)
            if len(out) > MAX_FILES:
                raise VolumeLoadError(
                    f"{folder}: more than {MAX_FILES} files; choose the series folder itself"
                )
    return out


def folder_has_dicom(folder: str | Path) -> bool:
    """True when the folder (or a sub-folder, a few levels deep) holds at least one DICOM file."""
    d = Path(folder)
    try:
        return any(_looks_dicom(p) for p in _walk(d))
    except VolumeLoadError:
        return True


def _read_header(p: Path) -> Any | None:
    import pydicom

    try:
        return pydicom.dcmread(
            p, stop_before_pixels=True, force=p.suffix.lower() in (".dcm", ".dicom", ".ima")
        )
    except Exception:
        return None


def _sop_name(ds: Any) -> str:
    uid = ds.get("SOPClassUID") or getattr(getattr(ds, "file_meta", None), "MediaStorageSOPClassUID", None)
    if uid is None:
        return "unknown object"
    try:
        return uid.name
    except Exception:
        return str(uid)


def _scan(folder: Path, recursive: bool = True) -> tuple[dict[str, list[tuple[Path, Any]]], list[tuple[Path, Any]]]:
    """(series uid -> [(path, header)] of image files, [(path, header)] of non-image DICOM files)."""
    images: dict[str, list[tuple[Path, Any]]] = defaultdict(list)
    others: list[tuple[Path, Any]] = []
    for p in _walk(folder, recursive):
        if not _looks_dicom(p):
            continue
        ds = _read_header(p)
        if ds is None:
            continue
        if "Rows" in ds and "Columns" in ds:
            images[str(ds.get("SeriesInstanceUID", "") or "")].append((p, ds))
        else:
            others.append((p, ds))
    return images, others


def _series_infos(images: dict[str, list[tuple[Path, Any]]]) -> list[SeriesInfo]:
    out = []
    for uid, items in images.items():
        ds = items[0][1]
        out.append(
            SeriesInfo(
                uid=uid,
                description=str(ds.get("SeriesDescription", "") or ""),
                modality=str(ds.get("Modality", "") or ""),
                n_files=len(items),
                paths=tuple(sorted((p for p, _ in items), key=lambda q: natural_key(str(q)))),
            )
        )
    out.sort(key=lambda s: (-s.n_files, s.uid))
    return out


def list_dicom_series(folder: str | Path) -> list[SeriesInfo]:
    """Image series in *folder* (searched a few levels deep), the largest first."""
    d = Path(folder)
    if not d.is_dir():
        raise VolumeLoadError(f"{d}: not a folder")
    images, _ = _scan(d)
    return _series_infos(images)


def _no_pixels_error(p: Path, ds: Any) -> VolumeLoadError:
    return VolumeLoadError(f"{p}: DICOM file has no pixel data (it is a {_sop_name(ds)}, not an image)")


def _decode_error(p: Path, ds: Any, exc: BaseException) -> VolumeLoadError:
    ts = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    ts_name = getattr(ts, "name", str(ts)) if ts is not None else "unknown transfer syntax"
    text = str(exc)
    requirements = [
        line.split(" - requires ", 1)[1].strip() for line in text.splitlines() if " - requires " in line
    ]
    if requirements:
        return VolumeLoadError(
            f"{p}: cannot decompress {ts_name} pixel data; install one of: {' | '.join(requirements)}"
        )
    if ts is not None and getattr(ts, "is_compressed", False):
        if "2000" in ts_name:
            hint = "pylibjpeg and pylibjpeg-openjpeg (or python-gdcm)"
        elif "RLE" in ts_name:
            hint = "a newer pydicom (or python-gdcm)"
        else:
            hint = "pylibjpeg and pylibjpeg-libjpeg (or python-gdcm)"
        return VolumeLoadError(
            f"{p}: cannot decompress {ts_name} pixel data ({_first_line(exc)}); install {hint}"
        )
    return VolumeLoadError(f"{p}: cannot read pixel data ({_first_line(exc)})")


def _floats(value: Any, n: int) -> np.ndarray | None:
    try:
        arr = np.array([float(v) for v in value], dtype=np.float64)
    except (TypeError, ValueError):
        return None
    return arr if arr.shape == (n,) and np.all(np.isfinite(arr)) else None


def _first_float(value: Any, default: float | None = None) -> float | None:
    if value is None or value == "":
        return default
    try:
        if isinstance(value, (list, tuple)) or (
            hasattr(value, "__iter__") and not isinstance(value, (str, bytes))
        ):
            value = list(value)[0]
        return float(value)
    except (TypeError, ValueError, IndexError):
        return default


def _grey(arr: np.ndarray, ds: Any, notes: list[str]) -> np.ndarray:
    if int(ds.get("SamplesPerPixel", 1) or 1) > 1 and arr.ndim >= 3 and arr.shape[-1] in (3, 4):
        if not any("colour" in n for n in notes):
            notes.append("colour DICOM converted to grey (luma)")
        rgb = arr[..., :3].astype(np.float32)
        return rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return arr


def _pixels(p: Path, ds: Any, notes: list[str]) -> np.ndarray:
    """Pixel array of one file: (rows, cols) or (frames, rows, cols), grey."""
    if not any(tag in ds for tag in ("PixelData", "FloatPixelData", "DoubleFloatPixelData")):
        raise _no_pixels_error(p, ds)
    try:
        arr = ds.pixel_array
    except MemoryError:
        raise VolumeLoadError(f"{p}: not enough memory to decode the pixel data") from None
    except Exception as exc:
        raise _decode_error(p, ds, exc) from None
    return _grey(np.asarray(arr), ds, notes)


@dataclass
class _Slice:
    pixels: np.ndarray  # rows x cols, raw stored values
    slope: float
    intercept: float
    position: np.ndarray | None
    orientation: np.ndarray | None
    pixel_spacing: np.ndarray | None
    instance: int
    name: str


def _geometry_from_groups(ds: Any, i: int) -> tuple[Any, Any, Any]:
    """(position, orientation, pixel spacing) of frame *i* from enhanced multi-frame functional groups."""
    pos = ori = spacing = None
    for groups, idx in (("SharedFunctionalGroupsSequence", 0), ("PerFrameFunctionalGroupsSequence", i)):
        seq = ds.get(groups)
        if not seq or idx >= len(seq):
            continue
        item = seq[idx]
        if "PlanePositionSequence" in item:
            pos = item.PlanePositionSequence[0].get("ImagePositionPatient", pos)
        if "PlaneOrientationSequence" in item:
            ori = item.PlaneOrientationSequence[0].get("ImageOrientationPatient", ori)
        if "PixelMeasuresSequence" in item:
            spacing = item.PixelMeasuresSequence[0].get("PixelSpacing", spacing)
    return pos, ori, spacing


def _slices_of(p: Path, ds: Any, notes: list[str]) -> list[_Slice]:
    arr = _pixels(p, ds, notes)
    slope = _first_float(ds.get("RescaleSlope"), 1.0) or 1.0
    intercept = _first_float(ds.get("RescaleIntercept"), 0.0) or 0.0
    instance = int(_first_float(ds.get("InstanceNumber"), 0) or 0)
    n_frames = int(_first_float(ds.get("NumberOfFrames"), 1) or 1)
    if n_frames > 1 and arr.ndim == 3:
        out = []
        for i in range(arr.shape[0]):
            pos, ori, spacing = _geometry_from_groups(ds, i)
            out.append(
                _Slice(
                    arr[i],
                    slope,
                    intercept,
                    _floats(pos if pos is not None else ds.get("ImagePositionPatient"), 3),
                    _floats(ori if ori is not None else ds.get("ImageOrientationPatient"), 6),
                    _floats(spacing if spacing is not None else ds.get("PixelSpacing"), 2),
                    i,
                    f"{p.name}[{i}]",
                )
            )
        return out
    if arr.ndim != 2:
        raise VolumeLoadError(f"{p}: unexpected pixel array shape {arr.shape}")
    return [
        _Slice(
            arr,
            slope,
            intercept,
            _floats(ds.get("ImagePositionPatient"), 3),
            _floats(ds.get("ImageOrientationPatient"), 6),
            _floats(ds.get("PixelSpacing"), 2),
            instance,
            p.name,
        )
    ]


def _stack(slices: list[_Slice]) -> np.ndarray:
    """(Z, Y, X) array with rescale applied: int16 when exact, float32 otherwise."""
    exact = all(s.slope == 1.0 and float(s.intercept).is_integer() for s in slices) and all(
        s.pixels.dtype.kind in "iub" for s in slices
    )
    if exact:
        lo = min(int(s.pixels.min()) + int(s.intercept) for s in slices)
        hi = max(int(s.pixels.max()) + int(s.intercept) for s in slices)
        if -32768 <= lo and hi <= 32767:
            out = np.empty((len(slices), *slices[0].pixels.shape), dtype=np.int16)
            for k, s in enumerate(slices):
                out[k] = s.pixels.astype(np.int32) + int(s.intercept)
            return out
    out = np.empty((len(slices), *slices[0].pixels.shape), dtype=np.float32)
    for k, s in enumerate(slices):
        out[k] = s.pixels.astype(np.float32) * np.float32(s.slope) + np.float32(s.intercept)
    return out


def _select_series(
    folder: Path,
    images: dict[str, list[tuple[Path, Any]]],
    others: list[tuple[Path, Any]],
    series_uid: str | None,
) -> SeriesInfo:
    infos = _series_infos(images)
    if not infos:
        if others:
            p, ds = others[0]
            raise _no_pixels_error(p, ds)
        raise VolumeLoadError(f"{folder}: no DICOM image files found")
    if series_uid is not None:
        for info in infos:
            if info.uid == series_uid:
                return info
        raise VolumeLoadError(
            f"{folder}: no series {series_uid}; series here: " + "; ".join(i.describe() for i in infos)
        )
    if len(infos) > 1:
        raise VolumeLoadError(
            f"{folder}: {len(infos)} DICOM series, choose one with --series UID: "
            + "; ".join(i.describe() for i in infos)
        )
    return infos[0]


def open_dicom(path: str | Path, *, series_uid: str | None = None, recursive: bool | None = None) -> Volume:
    """Open a DICOM series from a folder, or the series of a given file.

    ``recursive``: search sub-folders too. Default: yes for a folder (a few levels deep), no for a file: a
    file means the series' files in that same folder only (a backup copy in a sub-folder must not join it)."""
    import pydicom

    p = Path(path)
    if p.is_file():
        ds = _read_header(p)
        if ds is None:
            raise VolumeLoadError(f"{p}: not a readable DICOM file")
        if not ("Rows" in ds and "Columns" in ds):
            raise _no_pixels_error(p, ds)
        if series_uid is None:
            series_uid = str(ds.get("SeriesInstanceUID", "") or "")
        folder = p.parent
    elif p.is_dir():
        folder = p
    else:
        raise VolumeLoadError(f"{p}: not found")
    if recursive is None:
        recursive = not p.is_file()
    images, others = _scan(folder, recursive)
    info = _select_series(folder, images, others, series_uid)
    notes: list[str] = []
    slices: list[_Slice] = []
    first_ds = None
    for f in info.paths:
        try:
            ds = pydicom.dcmread(f, force=f.suffix.lower() in (".dcm", ".dicom", ".ima"))
        except Exception as exc:
            raise VolumeLoadError(f"{f}: corrupt DICOM file ({_first_line(exc)})") from None
        if first_ds is None:
            first_ds = ds
        slices.extend(_slices_of(f, ds, notes))
    assert first_ds is not None
    shapes = {s.pixels.shape for s in slices}
    if len(shapes) > 1:
        raise VolumeLoadError(f"{folder}: slices of series {info.uid} have different sizes {sorted(shapes)}")
    return _assemble(slices, first_ds, info, folder if not p.is_file() else p, notes)


def _assemble(slices: list[_Slice], ds: Any, info: SeriesInfo, source: Path, notes: list[str]) -> Volume:
    n = len(slices)
    ps = next((s.pixel_spacing for s in slices if s.pixel_spacing is not None), None)
    if ps is None or np.any(ps <= 0):
        ps = np.array([1.0, 1.0])
        notes.append("no PixelSpacing: in-plane spacing set to 1 mm")
    dy, dx = float(ps[0]), float(ps[1])
    gantry = _first_float(ds.get("GantryDetectorTilt"), 0.0) or 0.0
    positions: list[float] = []
    have_geometry = all(s.position is not None and s.orientation is not None for s in slices)
    if have_geometry:
        iop = slices[0].orientation
        assert iop is not None
        rdir, cdir = iop[:3] / np.linalg.norm(iop[:3]), iop[3:] / np.linalg.norm(iop[3:])
        normal = np.cross(rdir, cdir)
        if any(not np.allclose(s.orientation, iop, atol=1e-3) for s in slices):
            notes.append("slice orientation changes within the series; the first slice's orientation is used")
        dist = np.array([float(np.dot(s.position, normal)) for s in slices])
        order = np.argsort(dist, kind="stable")
        slices = [slices[i] for i in order]
        dist = dist[order]
        if n > 1:
            gaps = np.diff(dist)
            dup = int(np.sum(gaps < 1e-3))
            if dup:
                raise VolumeLoadError(
                    f"{source}: {dup + 1} slices share a position (the series holds several volumes, "
                    "e.g. echoes or time points); not supported"
                )
            dz = float(np.median(gaps))
            spread = float((gaps.max() - gaps.min()) / dz) if n > 2 else 0.0
            if spread > SPACING_TOLERANCE:
                notes.append(
                    f"irregular slice spacing: gaps from {gaps.min():.3g} to {gaps.max():.3g} mm "
                    f"(median {dz:.3g} mm); slices are shown on a regular grid, not resampled"
                )
            step = (slices[-1].position - slices[0].position) / (n - 1)
            cosang = abs(float(np.dot(step, normal))) / max(float(np.linalg.norm(step)), 1e-12)
            angle = math.degrees(math.acos(min(1.0, cosang)))
        else:
            dz = _first_float(ds.get("SpacingBetweenSlices")) or _first_float(ds.get("SliceThickness")) or 1.0
            step = normal * dz
            angle = 0.0
        if abs(gantry) > 0.01 or angle > TILT_TOLERANCE_DEG:
            shown = gantry if abs(gantry) > 0.01 else angle
            notes.append(
                f"gantry tilt {shown:+.1f} deg (slices {angle:.1f} deg off the stacking direction): "
                "the volume is sheared, not resampled; the affine keeps the true positions"
            )
        lps = np.eye(4)
        lps[:3, 0] = rdir * dx
        lps[:3, 1] = cdir * dy
        lps[:3, 2] = step
        lps[:3, 3] = slices[0].position
        positions = [round(float(v), 4) for v in dist]
    else:
        slices.sort(key=lambda s: (s.instance, natural_key(s.name)))
        dz = _first_float(ds.get("SpacingBetweenSlices")) or _first_float(ds.get("SliceThickness")) or 1.0
        notes.append("no ImagePositionPatient/ImageOrientationPatient: slices ordered by InstanceNumber")
        lps = np.diag([dx, dy, dz, 1.0])
    ras = np.diag([-1.0, -1.0, 1.0, 1.0]) @ lps
    data_zyx = _stack(slices)
    window = None
    wc, ww = _first_float(ds.get("WindowCenter")), _first_float(ds.get("WindowWidth"))
    if wc is not None and ww is not None and ww > 0:
        # the DICOM window applies to rescaled values, which is what the volume holds
        window = (wc, ww)
    ts = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    header = {
        "series_uid": info.uid,
        "series_description": info.description,
        "modality": info.modality,
        "manufacturer": str(ds.get("Manufacturer", "") or ""),
        "transfer_syntax": getattr(ts, "name", str(ts)) if ts is not None else "",
        "n_files": info.n_files,
        "files": [s.name for s in slices],
        "slice_positions": positions,
        "window": window,
        "gantry_tilt": gantry,
        "rescale": (slices[0].slope, slices[0].intercept),
    }
    return Volume(
        channels={info.modality or "image": data_zyx.T},
        spacing=(dx, dy, float(dz)),
        affine=ras,
        modality=info.modality or "OT",
        source_path=source,
        header=header,
        warnings=notes,
        source_format="dicom",
    )
