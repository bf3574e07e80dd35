"""2-D images (JPEG, PNG, BMP, TIFF) -> numpy.

:func:`load_image` returns a :class:`LoadedImage` holding two arrays:

* ``raw``: the pixels as stored (after EXIF orientation): ``H x W`` grey, ``H x W x 2`` grey+alpha,
  ``H x W x 3`` RGB or ``H x W x 4`` RGBA, with the file's dtype (bool, uint8, uint16, int32, float32...).
  Palette images are expanded to RGB(A); CMYK/YCbCr/LAB are converted to RGB.
* ``rgb``: ``H x W x 3`` uint8, what is displayed and fed to the network. Rules:

  - alpha: fully opaque alpha is dropped silently; any transparency is composited on **black**
    (``colour * alpha / alpha_max``) and a warning is added;
  - grey is replicated to three channels;
  - 8-bit data is used as is; bilevel images become 0/255;
  - anything else (16-bit, 32-bit int, float) is mapped by the 0.5-99.5 percentile rule of
    :func:`pseudoclick_gui.io.windowing.normalize_percentile`, computed over all colour channels together
    (so the colour balance is kept), NaN -> 0.

EXIF orientation (tag 274) is honoured for every format: both arrays, ``width`` and ``height`` are those of
the upright image, as :func:`PIL.ImageOps.exif_transpose` would give.

Failures raise :class:`~pseudoclick_gui.errors.ImageLoadError` with a one-line message: missing, empty,
not an image, corrupt or truncated (this module sets no global PIL flag; if some other code has set
``PIL.ImageFile.LOAD_TRUNCATED_IMAGES``, JPEG/PNG files are additionally checked for their end marker so a
half image is still refused), or above the pixel limit (checked from the header, before decoding).
"""

from __future__ import annotations

import hashlib
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, UnidentifiedImageError

from ..errors import ImageLoadError
from .windowing import normalize_percentile

#: Default decompression-bomb limit in pixels (width * height) for :func:`load_image`.
DEFAULT_MAX_PIXELS = 200_000_000

#: Lower-case suffixes listed by :func:`list_images`.
IMAGE_EXTENSIONS: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")

_TIFF_SUFFIXES = (".tif", ".tiff")
_EXIF_ORIENTATION = 0x0112


@dataclass
class LoadedImage:
    """An image read from disk. ``rgb`` is ``(height, width, 3)`` uint8; ``raw`` keeps the original values."""

    rgb: np.ndarray
    raw: np.ndarray
    path: Path
    width: int
    height: int
    channels: int
    bit_depth: int
    mode: str = ""
    format: str = ""
    page: int = 0
    n_pages: int = 1
    warnings: list[str] = field(default_factory=list)


# ----------------------------------------------------------------------------------------------- helpers


def natural_key(name: str | Path) -> list:
    """Sort key for "natural" order: ``img2`` before ``img10``; case-insensitive."""
    text = name.name if isinstance(name, Path) else str(name)
    return [
        (0, int(tok), "") if tok.isdigit() else (1, 0, tok.lower()) for tok in re.split(r"(\d+)", text) if tok
    ]


def _check_file(path: str | Path) -> Path:
    p = Path(path)
    if not p.exists():
        raise ImageLoadError(f"{p}: file not found")
    if p.is_dir():
        raise ImageLoadError(f"{p}: is a folder, not an image file")
    if not p.is_file():
        raise ImageLoadError(f"{p}: not a regular file")
    try:
        size = p.stat().st_size
    except OSError as exc:
        raise ImageLoadError(f"{p}: cannot read ({exc.strerror or exc})") from None
    if size == 0:
        raise ImageLoadError(f"{p}: empty file (0 bytes)")
    return p


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def orient_array(arr: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation (1-8) to an ``H x W [x C]`` array, as :func:`PIL.ImageOps.exif_transpose`."""
    if orientation == 2:
        out = arr[:, ::-1]
    elif orientation == 3:
        out = arr[::-1, ::-1]
    elif orientation == 4:
        out = arr[::-1]
    elif orientation == 5:
        out = arr.swapaxes(0, 1)
    elif orientation == 6:
        out = arr[::-1].swapaxes(0, 1)
    elif orientation == 7:
        out = arr[::-1, ::-1].swapaxes(0, 1)
    elif orientation == 8:
        out = arr[:, ::-1].swapaxes(0, 1)
    else:
        return arr
    return np.ascontiguousarray(out)


def _orientation_of(im: Image.Image) -> int:
    try:
        value = int(im.getexif().get(_EXIF_ORIENTATION, 1))
    except Exception:  # a broken EXIF block must not make the image unreadable
        return 1
    return value if 1 <= value <= 8 else 1


def _open_pil(p: Path) -> Image.Image:
    """``Image.open`` with PIL errors turned into ImageLoadError (pixel data is not decoded yet)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(p)
    except Image.DecompressionBombError as exc:
        raise ImageLoadError(f"{p}: image too large to open safely ({_first_line(exc)})") from None
    except UnidentifiedImageError:
        raise ImageLoadError(f"{p}: not an image file, or a format that cannot be read") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageLoadError(f"{p}: corrupt image header ({_first_line(exc)})") from None


def _png_ihdr(p: Path) -> tuple[int, int]:
    """(bit depth, colour type) from a PNG header, or (0, -1)."""
    with open(p, "rb") as fh:
        head = fh.read(26)
    if len(head) < 26 or head[:8] != b"\x89PNG\r\n\x1a\n":
        return 0, -1
    return head[24], head[25]


def _looks_truncated(p: Path, fmt: str) -> bool:
    """End-marker check for JPEG/PNG, used only when PIL was told (globally) to accept truncated files."""
    with open(p, "rb") as fh:
        fh.seek(0, 2)
        size = fh.tell()
        fh.seek(max(0, size - 4096))
        tail = fh.read()
    if fmt == "JPEG":
        return not tail.rstrip(b"\x00\r\n\t ").endswith(b"\xff\xd9")
    if fmt == "PNG":
        return b"IEND" not in tail[-16:]
    return False


def _check_pixels(p: Path, width: int, height: int, max_pixels: int) -> None:
    if width <= 0 or height <= 0:
        raise ImageLoadError(f"{p}: image has no pixels ({width}x{height})")
    if width * height > max_pixels:
        raise ImageLoadError(
            f"{p}: image is {width}x{height} = {width * height / 1e6:.0f} megapixels, "
            f"above the {max_pixels / 1e6:.0f} megapixel limit"
        )


def _to_rgb(raw: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """The display/network ``H x W x 3`` uint8 image for a raw array (rules in the module docstring)."""
    notes: list[str] = []
    if raw.ndim == 2:
        colour, alpha = raw, None
    elif raw.shape[2] == 1:
        colour, alpha = raw[..., 0], None
    elif raw.shape[2] == 2:
        colour, alpha = raw[..., 0], raw[..., 1]
    elif raw.shape[2] == 3:
        colour, alpha = raw, None
    else:
        colour, alpha = raw[..., :3], raw[..., 3]
    if alpha is not None:
        if alpha.dtype == np.uint8:
            amax = 255.0
        elif alpha.dtype == np.uint16:
            amax = 65535.0
        else:
            amax = float(np.nanmax(alpha)) if alpha.size else 1.0
        if amax > 0 and not np.all(alpha >= amax):
            notes.append("alpha channel (transparency) composited on black")
            weight = np.clip(alpha.astype(np.float32) / np.float32(amax), 0.0, 1.0)
            if colour.ndim == 3:
                weight = weight[..., None]
            blended = colour.astype(np.float32) * weight
            colour = (blended + 0.5).astype(np.uint8) if colour.dtype == np.uint8 else blended
    if colour.dtype == np.bool_:
        c8 = colour.astype(np.uint8) * np.uint8(255)
    elif colour.dtype == np.uint8:
        c8 = colour
    else:
        c8 = normalize_percentile(colour)
    if c8.ndim == 2:
        c8 = np.repeat(c8[..., None], 3, axis=2)
    return np.ascontiguousarray(c8), notes


def _bit_depth(raw: np.ndarray, pil_mode: str, fmt: str) -> int:
    if raw.dtype == np.bool_ or pil_mode == "1":
        return 1
    if pil_mode == "I" and fmt == "PNG":
        return 16
    return raw.dtype.itemsize * 8


def _native(arr: np.ndarray) -> np.ndarray:
    """Native byte order (PIL/tifffile can give big-endian views)."""
    if arr.dtype.byteorder not in ("=", "|"):
        arr = arr.astype(arr.dtype.newbyteorder("="))
    return arr


def _raw_from_pil(im: Image.Image, p: Path, fmt: str) -> tuple[np.ndarray, str, list[str]]:
    """Decoded pixels of an already loaded PIL image; returns (raw, mode label, notes)."""
    mode = im.mode
    notes: list[str] = []
    if mode == "1":
        return np.asarray(im, dtype=bool), mode, notes
    if mode in ("L", "LA", "RGB", "RGBA"):
        if fmt == "PNG":
            depth, ctype = _png_ihdr(p)
            if depth == 16 and ctype in (
                2,
                4,
                6,
            ):  # PIL reduces 16-bit colour PNG to 8 bits: read it with OpenCV
                raw16 = _cv2_png16(p)
                if raw16 is not None and ctype == 4 and raw16.ndim == 3 and raw16.shape[2] == 4:
                    raw16 = np.ascontiguousarray(raw16[..., [0, 3]])  # OpenCV expands grey+alpha to RGBA
                if raw16 is not None:
                    return raw16, mode + ";16", notes
        return np.asarray(im), mode, notes
    if mode in ("P", "PA"):
        has_alpha = mode == "PA" or "transparency" in im.info
        return np.asarray(im.convert("RGBA" if has_alpha else "RGB")), mode, notes
    if mode == "RGBa":
        return np.asarray(im.convert("RGBA")), mode, notes
    if mode.startswith("I;16") or mode in ("I", "F"):
        raw = _native(np.asarray(im))
        if mode == "I" and fmt == "PNG" and raw.size and raw.min() >= 0 and raw.max() <= 65535:
            raw = raw.astype(np.uint16)
        return raw, mode, notes
    try:
        converted = im.convert("RGB")
    except Exception as exc:
        raise ImageLoadError(f"{p}: unsupported pixel mode {mode!r} ({_first_line(exc)})") from None
    notes.append(f"converted from {mode} to RGB")
    return np.asarray(converted), mode, notes


def _cv2_png16(p: Path) -> np.ndarray | None:
    import cv2

    data = np.fromfile(str(p), dtype=np.uint8)
    arr = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if arr is None or arr.dtype != np.uint16:
        return None
    if arr.ndim == 3 and arr.shape[2] == 3:
        arr = arr[..., ::-1]
    elif arr.ndim == 3 and arr.shape[2] == 4:
        arr = arr[..., [2, 1, 0, 3]]
    return np.ascontiguousarray(arr)


# ----------------------------------------------------------------------------------------------- TIFF via tifffile


def _tiff_page_array(p: Path, page: int, max_pixels: int) -> tuple[np.ndarray, int, int]:
    """(raw H x W [x S], n_pages, orientation) of one TIFF page read with tifffile."""
    import tifffile

    try:
        with tifffile.TiffFile(p) as tf:
            n_pages = len(tf.pages)
            if not 0 <= page < n_pages:
                raise ImageLoadError(f"{p}: page {page} does not exist (the file has {n_pages} page(s))")
            pg = tf.pages[page]
            _check_pixels(p, int(pg.imagewidth), int(pg.imagelength), max_pixels)
            raw = pg.asarray()
            axes = getattr(pg, "axes", "")
            tag = pg.tags.get(274)
            orientation = int(tag.value) if tag is not None else 1
    except ImageLoadError:
        raise
    except MemoryError:
        raise ImageLoadError(f"{p}: not enough memory to decode the image") from None
    except Exception as exc:
        raise ImageLoadError(f"{p}: cannot read TIFF ({_first_line(exc)})") from None
    raw = np.squeeze(raw)
    if raw.ndim == 3 and axes.startswith("S"):
        raw = np.moveaxis(raw, 0, -1)
    if raw.ndim != 2 and not (raw.ndim == 3 and raw.shape[2] <= 4):
        raise ImageLoadError(f"{p}: TIFF page has shape {raw.shape}, not a 2-D grey or colour image")
    return _native(np.ascontiguousarray(raw)), n_pages, orientation if 1 <= orientation <= 8 else 1


# ----------------------------------------------------------------------------------------------- public API


def load_image(path: str | Path, *, page: int = 0, max_pixels: int = DEFAULT_MAX_PIXELS) -> LoadedImage:
    """Read one image (one page of a multi-page TIFF) from *path*. See the module docstring for the rules.

    Raises ImageLoadError for any problem with the file.
    """
    p = _check_file(path)
    if page < 0:
        raise ImageLoadError(f"{p}: page must be >= 0, got {page}")
    is_tiff = p.suffix.lower() in _TIFF_SUFFIXES
    try:
        im = _open_pil(p)
    except ImageLoadError:
        if not is_tiff:
            raise
        im = None  # e.g. a float RGB TIFF that PIL cannot identify: tifffile below
    notes: list[str] = []
    if im is not None:
        with im:
            fmt = im.format or ""
            n_pages = int(getattr(im, "n_frames", 1) or 1)
            if page >= n_pages:
                raise ImageLoadError(f"{p}: page {page} does not exist (the file has {n_pages} page(s))")
            _check_pixels(p, im.width, im.height, max_pixels)
            try:
                if page:
                    im.seek(page)
                orientation = _orientation_of(im)
                im.load()
                decoded = True
            except MemoryError:
                raise ImageLoadError(f"{p}: not enough memory to decode the image") from None
            except Exception as exc:
                if not is_tiff:
                    raise ImageLoadError(f"{p}: corrupt or truncated image ({_first_line(exc)})") from None
                decoded = False
            if decoded:
                if ImageFile.LOAD_TRUNCATED_IMAGES and _looks_truncated(p, fmt):
                    raise ImageLoadError(f"{p}: truncated image file (end marker missing)")
                try:
                    raw, mode, more = _raw_from_pil(im, p, fmt)
                except ImageLoadError:
                    raise
                except Exception as exc:
                    if not is_tiff:
                        raise ImageLoadError(f"{p}: cannot decode pixels ({_first_line(exc)})") from None
                    decoded = False
                else:
                    notes += more
            if not decoded:
                im = None
    if im is None:  # TIFF that PIL could not handle
        raw, n_pages, orientation = _tiff_page_array(p, page, max_pixels)
        fmt, mode = "TIFF", f"tifffile:{raw.dtype}"
    raw = orient_array(raw, orientation)
    if raw.dtype.kind == "c" or raw.dtype.kind not in "biuf":
        raise ImageLoadError(f"{p}: unsupported pixel type {raw.dtype}")
    rgb, more = _to_rgb(raw)
    notes += more
    channels = 1 if raw.ndim == 2 else int(raw.shape[2])
    return LoadedImage(
        rgb=rgb,
        raw=raw,
        path=p,
        width=int(rgb.shape[1]),
        height=int(rgb.shape[0]),
        channels=channels,
        bit_depth=_bit_depth(raw, mode, fmt),
        mode=mode,
        format=fmt,
        page=page,
        n_pages=n_pages,
        warnings=notes,
    )


def _read_tiff_header(p: Path, read):
    """Fallback for TIFFs PIL cannot open (e.g. some compressions): ``read(tifffile.TiffFile)``; any other file
    re-raises the PIL error that brought us here."""
    if p.suffix.lower() not in _TIFF_SUFFIXES:
        raise
    import tifffile

    try:
        with tifffile.TiffFile(p) as tf:
            return read(tf)
    except Exception as exc:
        raise ImageLoadError(f"{p}: cannot read TIFF ({_first_line(exc)})") from None


def count_pages(path: str | Path) -> int:
    """Number of pages (frames) in an image file; 1 for ordinary images."""
    p = _check_file(path)
    try:
        im = _open_pil(p)
    except ImageLoadError:
        return _read_tiff_header(p, lambda tf: len(tf.pages))
    with im:
        try:
            return int(getattr(im, "n_frames", 1) or 1)
        except Exception as exc:
            raise ImageLoadError(f"{p}: corrupt image ({_first_line(exc)})") from None


def image_size(path: str | Path) -> tuple[int, int]:
    """``(width, height)`` of the upright image (EXIF orientation applied), read from the header only."""
    p = _check_file(path)
    try:
        im = _open_pil(p)
    except ImageLoadError:

        def header(tf) -> tuple[int, int, int]:
            pg = tf.pages[0]
            tag = pg.tags.get(274)
            return int(pg.imagewidth), int(pg.imagelength), int(tag.value) if tag is not None else 1

        w, h, orientation = _read_tiff_header(p, header)
    else:
        with im:
            w, h = im.size
            orientation = _orientation_of(im)
    return (h, w) if orientation in (5, 6, 7, 8) else (w, h)


def file_checksum(path: str | Path, *, chunk_size: int = 1 << 20) -> str:
    """SHA-1 hex digest of the file's bytes, read in chunks (constant memory)."""
    p = Path(path)
    digest = hashlib.sha1()
    try:
        with open(p, "rb") as fh:
            while True:
                block = fh.read(chunk_size)
                if not block:
                    break
                digest.update(block)
    except FileNotFoundError:
        raise ImageLoadError(f"{p}: file not found") from None
    except OSError as exc:
        raise ImageLoadError(f"{p}: cannot read ({exc.strerror or exc})") from None
    return digest.hexdigest()


def is_image_file(path: str | Path) -> bool:
    """True when the suffix is one of :data:`IMAGE_EXTENSIONS` (case-insensitive); the content is not read."""
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def _folder_entries(folder: str | Path) -> list[Path]:
    """Everything directly inside *folder*; ImageLoadError when it is not a folder or cannot be listed."""
    d = Path(folder)
    if not d.is_dir():
        raise ImageLoadError(f"{d}: not a folder")
    try:
        return list(d.iterdir())
    except OSError as exc:
        raise ImageLoadError(f"{d}: cannot list ({exc.strerror or exc})") from None


def list_images(folder: str | Path) -> list[Path]:
    """Image files directly inside *folder* (not recursive), hidden files skipped, in natural order."""
    entries = _folder_entries(folder)
    files = [e for e in entries if not e.name.startswith(".") and is_image_file(e) and e.is_file()]
    return sorted(files, key=natural_key)


#: Smallest width/height the engine accepts (``engine.preprocess`` refuses anything smaller).
MIN_SIDE = 2

#: Image formats people put in image folders that this app does not read (reported, not silently skipped).
UNSUPPORTED_IMAGE_EXTENSIONS: tuple[str, ...] = (
    ".gif", ".webp", ".heic", ".heif", ".avif", ".jp2", ".j2k", ".svg", ".ico", ".psd", ".raw", ".cr2", ".nef",
    ".dng", ".pgm", ".ppm", ".pbm", ".exr", ".hdr",
)  # fmt: skip


def verify_image(path: str | Path, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[int, int]:
    """``(width, height)`` of an image the app can annotate, after decoding it completely (so a truncated or
    undecodable file is found now, not when it is opened). Raises ImageLoadError for any file
    :func:`load_image` refuses, for an image smaller than :data:`MIN_SIDE` pixels on a side, and for a
    multi-page file (a stack: open it as a volume)."""
    img = load_image(path, max_pixels=max_pixels)
    if img.n_pages > 1:
        raise ImageLoadError(f"{img.path}: holds {img.n_pages} pages (a stack or a multi-dimensional TIFF); open it "
                             "as a volume instead")  # fmt: skip
    if img.width < MIN_SIDE or img.height < MIN_SIDE:
        raise ImageLoadError(f"{img.path}: image is {img.width}x{img.height} pixels, too small to annotate "
                             f"(at least {MIN_SIDE}x{MIN_SIDE})")  # fmt: skip
    return img.width, img.height


def scan_folder(folder: str | Path) -> tuple[list[Path], list[tuple[Path, str]]]:
    """What :func:`list_images` lists, plus what it leaves out and why: ``(images, problems)`` where
    ``problems`` are ``(path, reason)`` for the entries a user would expect to be imported and that are not:
    broken links, FIFOs and other special files, unreadable entries and images in a format this app does
    not read (GIF, WebP, ...). Other files (text, JSON, hidden files) and sub-folders are not listed.
    Never opens a file (a FIFO would block)."""
    entries = _folder_entries(folder)
    images: list[Path] = []
    problems: list[tuple[Path, str]] = []
    for e in sorted(entries, key=natural_key):
        if e.name.startswith("."):
            continue
        suffix = e.suffix.lower()
        try:
            if e.is_symlink() and not e.exists():
                problems.append((e, "dangling link (its target does not exist)"))
                continue
            if e.is_dir():
                continue
            if not e.is_file():
                problems.append((e, "not a regular file (a FIFO, socket or device): skipped"))
                continue
        except OSError as exc:
            problems.append((e, f"cannot read ({exc.strerror or exc})"))
            continue
        if suffix in IMAGE_EXTENSIONS:
            images.append(e)
        elif suffix in UNSUPPORTED_IMAGE_EXTENSIONS:
            problems.append((e, f"{suffix[1:].upper()} images are not supported (use PNG, JPEG, BMP or TIFF)"))
    return images, problems
