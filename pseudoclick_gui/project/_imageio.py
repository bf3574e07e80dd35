"""The few file reads the project package needs, routed to :mod:`pseudoclick_gui.io` when it provides them
and to Pillow / nibabel otherwise (kept tiny on purpose: ``io`` owns image and volume reading)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from ..errors import ProjectError, PseudoClickError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}


def _io_images():
    try:
        from ..io import images  # noqa: PLC0415  (optional sibling package)
    except ImportError:
        return None
    return images


def image_size(path) -> tuple[int, int]:
    """(width, height) of an image file, reading the header only where possible."""
    mod = _io_images()
    if mod is not None and hasattr(mod, "image_size"):
        w, h = mod.image_size(path)
        return int(w), int(h)
    try:
        from PIL import Image

        with Image.open(path) as im:
            return int(im.width), int(im.height)
    except FileNotFoundError:
        raise ProjectError(f"{path}: no such file") from None
    except OSError as exc:
        raise ProjectError(f"{path}: cannot read image ({exc})") from None


def verify_image(path) -> tuple[int, int]:
    """(width, height) of an image the app can annotate, decoded completely (ProjectError-compatible
    ImageLoadError for truncated, undecodable, multi-page or tiny files)."""
    from ..io.images import verify_image as _verify

    return _verify(path)


def scan_folder(folder) -> tuple[list[Path], list[tuple[Path, str]]]:
    """(image files, [(path, reason)] of the entries skipped that a user would expect imported)."""
    from ..io.images import scan_folder as _scan

    return _scan(folder)


def file_checksum(path) -> str:
    mod = _io_images()
    if mod is not None and hasattr(mod, "file_checksum"):
        return str(mod.file_checksum(path))
    h = hashlib.blake2b(digest_size=16)
    try:
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    except OSError as exc:
        raise ProjectError(f"{path}: cannot read ({exc.strerror or exc})") from None
    return "blake2b:" + h.hexdigest()


def list_images(folder) -> list[Path]:
    mod = _io_images()
    if mod is not None and hasattr(mod, "list_images"):
        return [Path(p) for p in mod.list_images(folder)]
    folder = Path(folder)
    if not folder.is_dir():
        raise ProjectError(f"{folder}: not a folder")
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def read_mask(path) -> np.ndarray:
    """H x W bool: any non-zero channel of a mask image (alpha ignored). Raises ProjectError."""
    try:
        from PIL import Image

        with Image.open(path) as im:
            if im.mode == "P":  # palette: index 0 is background whatever its colour
                arr = np.asarray(im)
            else:
                if im.mode in ("RGBA", "LA", "PA"):
                    im = im.convert("RGB" if im.mode == "RGBA" else "L")
                arr = np.asarray(im)
    except FileNotFoundError:
        raise ProjectError(f"{path}: no such file") from None
    except OSError as exc:
        raise ProjectError(f"{path}: cannot read mask ({exc})") from None
    if arr.ndim == 3:
        arr = arr.any(axis=2)
    return arr != 0


def read_volume(path):
    """(data, affine, header_or_None, kind) of a volume file or folder, via :func:`pseudoclick_gui.io.volume.open_volume`
    (data is the first channel, (X, Y, Z))."""
    from ..io.volume import open_volume

    try:
        vol = open_volume(path)
    except PseudoClickError as exc:
        raise ProjectError(str(exc)) from None
    return np.asarray(vol.data), np.asarray(vol.affine, dtype=float), vol.header, str(vol.source_format or "volume")
