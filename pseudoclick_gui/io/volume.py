"""3-D volumes (DICOM series, NIfTI, BraTS case folders, TIFF stacks) -> numpy.

Array convention (one for every source)
---------------------------------------
Every array of a :class:`Volume` (each entry of ``channels`` and ``labels``) is shaped **(X, Y, Z)**, the
NIfTI voxel order: ``array[i, j, k]`` is voxel ``(i, j, k)``. For DICOM, ``i`` is the column in a slice,
``j`` the row and ``k`` the slice after sorting by position; for TIFF stacks ``i``/``j`` are column/row of
a section and ``k`` the section. Arrays are Fortran-ordered where possible, so the "axial" (k) slices are
contiguous and a slice never copies the volume.

* ``spacing``: mm per voxel along array axes 0, 1, 2 (x, y, z). For DICOM, z is the median distance
  between neighbouring slices measured along the slice normal.
* ``affine``: 4x4 mapping ``(i, j, k, 1)`` to **RAS+ world millimetres** (the NIfTI/nibabel convention;
  DICOM's LPS is converted by negating x and y). For NIfTI input it is exactly ``img.affine``, so a label
  array of the same shape can be written with it (see :func:`pseudoclick_gui.io.nifti.to_nifti_image`).
* ``orientation``: nibabel axis codes of the affine, e.g. ``"LPS"`` = i runs toward Left, j toward
  Posterior, k toward Superior.

2-D slices for display and for the network
------------------------------------------
:meth:`Volume.slice` takes a plane name (``"axial"``, ``"coronal"``, ``"sagittal"``; the array axis whose
direction is closest to S, A, R respectively) or an array axis (0, 1, 2, the axis that is fixed), and an
index along that array axis. The returned 2-D array is a **view** in the usual radiological display
orientation: rows run toward Posterior (axial) or Inferior (coronal, sagittal), columns toward patient
Left (axial, coronal: the patient's right is on the screen's left) or Posterior (sagittal). It is indexed
``[row, col]`` like every 2-D image in the package. :meth:`Volume.slice_of` applies the same view to any
array shaped like the volume (e.g. the label volume: writing into the view writes into the volume), and
:meth:`slice_to_voxel` / :meth:`voxel_to_slice` convert coordinates.

:meth:`Volume.network_slice` gives ``H x W x 3`` uint8 for the network: the raw slice normalised per
slice by the 0.5-99.5 percentile rule (:func:`pseudoclick_gui.io.windowing.normalize_percentile`), grey
replicated to three channels. Display window/level is separate (:mod:`pseudoclick_gui.io.windowing`,
:meth:`Volume.display_slice`, :meth:`Volume.default_window`).

Loading: :func:`open_volume` dispatches on what the path is; every failure is a
:class:`~pseudoclick_gui.errors.VolumeLoadError` with a one-line message.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import VolumeLoadError
from .windowing import apply_window, auto_window, normalize_percentile

#: plane name -> world axis (RAS index) the plane is perpendicular to.
PLANES: dict[str, int] = {"sagittal": 0, "coronal": 1, "axial": 2}
_PLANE_ALIASES = {
    "sag": "sagittal",
    "cor": "coronal",
    "ax": "axial",
    "transverse": "axial",
    "transversal": "axial",
}

Axis = str | int


@dataclass(frozen=True)
class _PlaneSpec:
    fixed: int  # array axis held constant
    row: int  # array axis running down the rows
    col: int  # array axis running along the columns
    flip_row: bool
    flip_col: bool


@dataclass(eq=False)
class Volume:
    """A (multi-channel) 3-D volume; every array is (X, Y, Z) (see the module docstring)."""

    channels: dict[str, np.ndarray]
    spacing: tuple[float, float, float] = (1.0, 1.0, 1.0)
    affine: np.ndarray = field(default_factory=lambda: np.eye(4))
    modality: str = "OT"
    source_path: Path | None = None
    header: Any = None
    labels: np.ndarray | None = None
    warnings: list[str] = field(default_factory=list)
    source_format: str = ""

    def __post_init__(self) -> None:
        if not self.channels:
            raise VolumeLoadError("a volume needs at least one channel")
        shapes = {name: arr.shape for name, arr in self.channels.items()}
        first = next(iter(shapes.values()))
        if len(first) != 3 or any(s != first for s in shapes.values()):
            raise VolumeLoadError(f"channels must be 3-D and of one shape, got {shapes}")
        if self.labels is not None and self.labels.shape != first:
            raise VolumeLoadError(f"labels shape {self.labels.shape} differs from the image shape {first}")
        self.affine = np.asarray(self.affine, dtype=np.float64)
        if self.affine.shape != (4, 4):
            raise VolumeLoadError(f"affine must be 4x4, got {self.affine.shape}")
        self.spacing = tuple(float(s) for s in self.spacing)  # type: ignore[assignment]

    # ------------------------------------------------------------------------------------------ basics

    @property
    def channel_names(self) -> list[str]:
        return list(self.channels)

    @property
    def data(self) -> np.ndarray:
        """The first channel."""
        return next(iter(self.channels.values()))

    @property
    def shape(self) -> tuple[int, int, int]:
        """(X, Y, Z)."""
        return tuple(int(s) for s in self.data.shape)  # type: ignore[return-value]

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def _ornt(self) -> np.ndarray:
        """nibabel ``io_orientation``: for each array axis, (world axis 0=R 1=A 2=S, +1/-1 direction)."""
        key = (self.affine.tobytes(), self.spacing)
        cached = self.__dict__.get("_ornt_cache")
        if cached is not None and cached[0] == key:  # called for every slice: compute once per geometry
            return cached[1]
        ornt = self._compute_ornt()
        self.__dict__["_ornt_cache"] = (key, ornt)
        return ornt

    def _compute_ornt(self) -> np.ndarray:
        from nibabel.orientations import io_orientation

        aff = self.affine
        if not np.all(np.isfinite(aff)) or np.linalg.matrix_rank(aff[:3, :3]) < 3:
            # no usable geometry: show the (i, j) plane as stored (like an LPI volume)
            aff = np.diag([-s for s in self.spacing] + [1.0])
        ornt = io_orientation(aff)
        if np.any(np.isnan(ornt)):
            ornt = np.array([[0, -1], [1, -1], [2, -1]], dtype=float)
        return ornt.astype(int)

    @property
    def orientation(self) -> str:
        """Axis codes of the affine, e.g. ``"RAS"`` or ``"LPS"`` (direction in which i, j, k increase)."""
        return "".join("RAS"[w] if s > 0 else "LPI"[w] for w, s in self._ornt)

    def channel(self, channel: str | int | None = None) -> np.ndarray:
        """The array of a channel given by name, index or None (the first)."""
        if channel is None:
            return self.data
        if isinstance(channel, (int, np.integer)):
            names = self.channel_names
            if not -len(names) <= channel < len(names):
                raise KeyError(f"channel index {channel} out of range ({len(names)} channels)")
            return self.channels[names[channel]]
        if channel not in self.channels:
            raise KeyError(f"no channel {channel!r}; channels are {self.channel_names}")
        return self.channels[channel]

    # ------------------------------------------------------------------------------------------ planes

    def plane_axis(self, axis: Axis) -> int:
        """The array axis held fixed by a plane name or array-axis number."""
        return self._spec(axis).fixed

    def _spec(self, axis: Axis) -> _PlaneSpec:
        ornt = self._ornt
        if isinstance(axis, str):
            key = _PLANE_ALIASES.get(axis.lower(), axis.lower())
            if key not in PLANES:
                raise ValueError(f"unknown plane {axis!r}; use axial, coronal, sagittal or 0, 1, 2")
            fixed = int(np.flatnonzero(ornt[:, 0] == PLANES[key])[0])
        elif isinstance(axis, (int, np.integer)) and 0 <= int(axis) <= 2:
            fixed = int(axis)
        else:
            raise ValueError(f"axis must be a plane name or 0, 1, 2; got {axis!r}")
        rest = [a for a in (0, 1, 2) if a != fixed]
        # rows follow the remaining axis that is "more vertical" (S before A before R) ...
        row, col = sorted(rest, key=lambda a: ornt[a, 0], reverse=True)
        # ... and both rows and columns must run toward P/I (rows) and L/P (columns): the negative directions
        return _PlaneSpec(fixed, row, col, bool(ornt[row, 1] > 0), bool(ornt[col, 1] > 0))

    def n_slices(self, axis: Axis) -> int:
        return self.shape[self._spec(axis).fixed]

    def slice_shape(self, axis: Axis) -> tuple[int, int]:
        """(rows, cols) of a slice in this plane."""
        spec = self._spec(axis)
        return self.shape[spec.row], self.shape[spec.col]

    def pixel_spacing(self, axis: Axis) -> tuple[float, float]:
        """(row height, column width) in mm of a slice's pixels."""
        spec = self._spec(axis)
        return self.spacing[spec.row], self.spacing[spec.col]

    def pixel_aspect(self, axis: Axis) -> float:
        """Displayed pixel height / width for this plane (draw pixels ``aspect`` times taller than wide)."""
        h, w = self.pixel_spacing(axis)
        return h / w if w > 0 else 1.0

    def slice_of(self, array: np.ndarray, axis: Axis, index: int) -> np.ndarray:
        """The display-oriented 2-D **view** of *array* (shaped like the volume) at *index* along *axis*."""
        spec = self._spec(axis)
        n = array.shape[spec.fixed]
        if not 0 <= index < n:
            raise IndexError(f"slice {index} out of range 0..{n - 1} for axis {axis!r}")
        sl: list[Any] = [slice(None)] * 3
        sl[spec.fixed] = int(index)
        view = array[tuple(sl)]  # remaining axes in increasing order
        if spec.row > spec.col:
            view = view.T
        if spec.flip_row:
            view = view[::-1]
        if spec.flip_col:
            view = view[:, ::-1]
        return view

    def slice(self, axis: Axis, index: int, channel: str | int | None = None) -> np.ndarray:
        """Raw intensities of one slice (a view, display-oriented; do not write into it)."""
        return self.slice_of(self.channel(channel), axis, index)

    def label_slice(self, axis: Axis, index: int) -> np.ndarray | None:
        """The labels' slice (a writable view into ``labels``), or None when the volume has no labels."""
        return None if self.labels is None else self.slice_of(self.labels, axis, index)

    def network_slice(self, axis: Axis, index: int, channel: str | int | None = None) -> np.ndarray:
        """``H x W x 3`` uint8 for the network: per-slice 0.5-99.5 percentile normalisation, grey x 3."""
        grey = normalize_percentile(self.slice(axis, index, channel))
        return np.ascontiguousarray(np.repeat(grey[..., None], 3, axis=2))

    def default_window(self, channel: str | int | None = None) -> tuple[float, float]:
        """(level, width): the DICOM window if the file gave one, else :func:`auto_window` of the channel."""
        if isinstance(self.header, dict) and self.header.get("window") and self.channel(channel) is self.data:
            level, width = self.header["window"]
            if width and width > 0:
                return float(level), float(width)
        return auto_window(self.channel(channel))

    def display_slice(
        self,
        axis: Axis,
        index: int,
        channel: str | int | None = None,
        level: float | None = None,
        width: float | None = None,
    ) -> np.ndarray:
        """Windowed uint8 slice for display (``default_window`` when level/width are not given)."""
        if level is None or width is None:
            level, width = self.default_window(channel)
        return apply_window(self.slice(axis, index, channel), level, width)

    def slice_to_voxel(self, axis: Axis, index: int, row: int, col: int) -> tuple[int, int, int]:
        """Voxel (i, j, k) of pixel (row, col) of slice *index* in plane *axis*."""
        spec = self._spec(axis)
        shape = self.shape
        vox = [0, 0, 0]
        vox[spec.fixed] = int(index)
        vox[spec.row] = shape[spec.row] - 1 - int(row) if spec.flip_row else int(row)
        vox[spec.col] = shape[spec.col] - 1 - int(col) if spec.flip_col else int(col)
        return vox[0], vox[1], vox[2]

    def voxel_to_slice(self, axis: Axis, voxel: tuple[int, int, int]) -> tuple[int, int, int]:
        """(index, row, col) of voxel (i, j, k) in plane *axis*."""
        spec = self._spec(axis)
        shape = self.shape
        row = shape[spec.row] - 1 - voxel[spec.row] if spec.flip_row else voxel[spec.row]
        col = shape[spec.col] - 1 - voxel[spec.col] if spec.flip_col else voxel[spec.col]
        return int(voxel[spec.fixed]), int(row), int(col)

    def empty_labels(self, dtype: Any = np.uint8) -> np.ndarray:
        """A zero label volume of this shape (Fortran order, like the channels)."""
        return np.zeros(self.shape, dtype=dtype, order="F")

    def summary(self) -> dict[str, Any]:
        """JSON-friendly description (used by ``pseudoclick info``)."""
        out: dict[str, Any] = {
            "kind": "volume",
            "format": self.source_format,
            "path": str(self.source_path) if self.source_path else None,
            "shape": list(self.shape),
            "axes": "xyz",
            "spacing": [round(s, 6) for s in self.spacing],
            "orientation": self.orientation,
            "modality": self.modality,
            "channels": self.channel_names,
            "dtype": str(self.dtype),
            "slices": {plane: self.n_slices(plane) for plane in ("axial", "coronal", "sagittal")},
            "affine": [[round(float(v), 6) for v in row] for row in self.affine],
            "labels": None,
            "warnings": list(self.warnings),
        }
        if self.labels is not None:
            values = np.unique(self.labels)
            out["labels"] = {"dtype": str(self.labels.dtype), "values": [int(v) for v in values[:64]]}
        if isinstance(self.header, dict):
            for key in ("series_uid", "series_description", "window", "gantry_tilt", "transfer_syntax"):
                if self.header.get(key) not in (None, ""):
                    value = self.header[key]
                    out[key] = list(value) if isinstance(value, tuple) else value
        return out


# ---------------------------------------------------------------------------------------------- dispatch


def _is_nifti(p: Path) -> bool:
    name = p.name.lower()
    return name.endswith(".nii") or name.endswith(".nii.gz")


_TIFF_SUFFIXES = (".tif", ".tiff")
_SECTION_SUFFIXES = (".png", ".tif", ".tiff", ".bmp", ".jpg", ".jpeg")


def open_volume(path: str | Path, *, series_uid: str | None = None) -> Volume:
    """Open a volume from a DICOM folder/file, a NIfTI file, a folder of NIfTI files (BraTS case),
    a multi-page TIFF or a folder of section images. Raises VolumeLoadError."""
    p = Path(path)
    if not p.exists():
        raise VolumeLoadError(f"{p}: not found")
    if p.is_file():
        if p.stat().st_size == 0:
            raise VolumeLoadError(f"{p}: empty file (0 bytes)")
        if _is_nifti(p):
            from .nifti import open_nifti

            return open_nifti(p)
        suffix = p.suffix.lower()
        from .dicom import has_dicm_magic  # dicom.py imports this module: import at call time

        if suffix in (".dcm", ".dicom", ".ima") or has_dicm_magic(p):
            from .dicom import open_dicom

            return open_dicom(p, series_uid=series_uid)
        if suffix in _TIFF_SUFFIXES:
            from .tiff_stack import open_tiff_stack

            return open_tiff_stack(p)
        raise VolumeLoadError(
            f"{p}: not a volume format this app reads (DICOM, NIfTI .nii/.nii.gz, TIFF stack, folder of sections)"
        )
    if not p.is_dir():
        raise VolumeLoadError(f"{p}: not a file or folder")
    try:
        entries = [e for e in p.iterdir() if not e.name.startswith(".")]
    except OSError as exc:
        raise VolumeLoadError(f"{p}: cannot list ({exc.strerror or exc})") from None
    files = [e for e in entries if e.is_file()]
    if any(_is_nifti(e) for e in files):
        from .nifti import open_nifti_folder

        return open_nifti_folder(p)
    from .dicom import folder_has_dicom, open_dicom

    if folder_has_dicom(p):
        return open_dicom(p, series_uid=series_uid)
    if any(e.suffix.lower() in _SECTION_SUFFIXES for e in files):
        from .tiff_stack import open_tiff_stack

        return open_tiff_stack(p)
    raise VolumeLoadError(f"{p}: no DICOM, NIfTI or image files found in this folder")
