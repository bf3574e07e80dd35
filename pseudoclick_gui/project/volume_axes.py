"""How a named slice axis ('axial' | 'coronal' | 'sagittal') maps onto a volume's voxel array.

The ONE place the project package knows about slice orientation: the store uses it to size slice images,
the label import cuts label slices with it, and the NIfTI export puts 2-D slice masks back into a 3-D label
volume on the source grid with it.

It follows :class:`pseudoclick_gui.io.volume.Volume` exactly (the GUI shows and annotates the slices that
``Volume.slice`` returns), by building a data-less ``Volume`` (a zero-stride dummy array) with the stored
shape and affine and using its ``slice_of`` / ``slice_shape`` / ``n_slices``. In short: arrays are (X, Y, Z)
in NIfTI voxel order; 'axial' fixes the array axis closest to S, 'coronal' to A, 'sagittal' to R; the 2-D
slice is display-oriented (rows toward P or I, columns toward L or P), so it may be a transposed and/or
flipped view of the array plane. A mask of slice ``k`` therefore goes back with ``slice_of(label, axis, k)[...]
= value`` - a view, no index arithmetic here.
"""

from __future__ import annotations

import numpy as np

from ..errors import ProjectError

AXES = ("axial", "coronal", "sagittal")


def _layout(shape, affine):
    from ..io.volume import Volume

    shape = tuple(int(s) for s in tuple(shape)[:3])
    if len(shape) != 3:
        raise ProjectError(f"a volume must be 3-D, got shape {tuple(shape)}")
    aff = np.eye(4) if affine is None else np.asarray(affine, dtype=float).reshape(4, 4)
    spacing = tuple(float(v) or 1.0 for v in np.linalg.norm(aff[:3, :3], axis=0))
    dummy = np.broadcast_to(np.zeros((), dtype=np.uint8), shape)
    return Volume(channels={"layout": dummy}, affine=aff, spacing=spacing)


def _check_axis(axis: str) -> str:
    if axis not in AXES:
        raise ProjectError(f"unknown slice axis {axis!r}; expected one of {', '.join(AXES)}")
    return axis


def n_slices(shape, axis: str, affine=None) -> int:
    return int(_layout(shape, affine).n_slices(_check_axis(axis)))


def slice_shape(shape, axis: str, affine=None) -> tuple[int, int]:
    """(height, width) of a 2-D slice of a volume of 3-D ``shape``."""
    h, w = _layout(shape, affine).slice_shape(_check_axis(axis))
    return int(h), int(w)


def extract(data: np.ndarray, axis: str, index: int, affine=None) -> np.ndarray:
    """The 2-D slice ``index`` along ``axis`` of a 3-D array, display-oriented (a view)."""
    try:
        return _layout(data.shape, affine).slice_of(data, _check_axis(axis), int(index))
    except IndexError as exc:
        raise ProjectError(str(exc)) from None


def insert(label: np.ndarray, axis: str, index: int, mask2d: np.ndarray, value, affine=None) -> int:
    """Write ``value`` where ``mask2d`` is set into slice ``index`` of ``label`` (in place); returns the
    number of voxels that already held another non-zero value (overwritten: later wins)."""
    plane = extract(label, axis, index, affine)
    mask2d = np.asarray(mask2d, dtype=bool)
    if plane.shape != mask2d.shape:
        raise ProjectError(f"{axis} slice {index}: mask shape {mask2d.shape} != slice shape {plane.shape}")
    old = plane[mask2d]
    clash = int(np.count_nonzero((old != 0) & (old != value)))
    plane[mask2d] = value  # plane is a view into label
    return clash
