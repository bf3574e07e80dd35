"""``pseudoclick info PATH``: print what an image or volume holds, as JSON on stdout.

Always present: ``kind`` ("image" or "volume"), ``path``, ``shape``, ``spacing``, ``orientation``, ``modality``,
``channels``, ``dtype``, ``warnings``. Images add ``width``, ``height``, ``mode``, ``format``, ``bit_depth``,
``pages``, ``page``; volumes add ``axes`` ("xyz": ``shape`` is X, Y, Z), ``slices`` per plane, ``affine``
(RAS+), ``labels`` and DICOM series details. ``auto`` treats folders, NIfTI, DICOM and multi-page TIFF as
volumes and other files as images.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ..errors import ImageLoadError, VolumeLoadError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "path", help="image file, NIfTI file, DICOM file or folder, TIFF stack, section folder"
    )
    parser.add_argument(
        "--series", metavar="UID", default=None, help="DICOM SeriesInstanceUID when a folder holds several"
    )
    parser.add_argument("--page", type=int, default=0, help="page of a multi-page image (images only)")
    parser.add_argument(
        "--as", dest="as_kind", choices=("auto", "image", "volume"), default="auto", help="how to read PATH"
    )


def _kind(path: Path) -> str:
    from .dicom import has_dicm_magic
    from .images import count_pages, is_image_file
    from .volume import _is_nifti

    if path.is_dir() or _is_nifti(path):
        return "volume"
    suffix = path.suffix.lower()
    if suffix in (".dcm", ".dicom", ".ima"):
        return "volume"
    if suffix in (".tif", ".tiff"):
        try:
            return "volume" if count_pages(path) > 1 else "image"
        except ImageLoadError:
            return "image"
    if is_image_file(path):
        return "image"
    return "volume" if has_dicm_magic(path) else "image"


def image_info(path: Path, page: int = 0) -> dict[str, Any]:
    from .images import load_image

    img = load_image(path, page=page)
    return {
        "kind": "image",
        "path": str(img.path),
        "shape": list(img.raw.shape),
        "spacing": None,
        "orientation": None,
        "modality": None,
        "channels": img.channels,
        "dtype": str(img.raw.dtype),
        "width": img.width,
        "height": img.height,
        "mode": img.mode,
        "format": img.format,
        "bit_depth": img.bit_depth,
        "pages": img.n_pages,
        "page": img.page,
        "warnings": list(img.warnings),
    }


def volume_info(path: Path, series: str | None = None) -> dict[str, Any]:
    from .volume import open_volume

    return open_volume(path, series_uid=series).summary()


def run(args: argparse.Namespace) -> int:
    path = Path(args.path)
    if not path.exists():
        if path.is_symlink():
            raise ImageLoadError(f"{path}: broken link (its target does not exist)")
        raise ImageLoadError(f"{path}: not found")
    if not path.is_dir() and not path.is_file():  # a FIFO would block the first read
        raise ImageLoadError(f"{path}: not a regular file (a FIFO, socket or device)")
    kind = _kind(path) if args.as_kind == "auto" else args.as_kind
    if kind == "image" and path.is_dir():
        raise ImageLoadError(f"{path}: is a folder; use --as volume (or auto) for a stack of sections")
    if kind == "image":
        info = image_info(path, page=args.page)
    else:
        try:
            info = volume_info(path, series=args.series)
        except VolumeLoadError:
            raise
    json.dump(info, sys.stdout, indent=2, ensure_ascii=False, default=str)
    sys.stdout.write("\n")
    return 0
