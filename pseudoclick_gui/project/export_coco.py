"""Export a project to a COCO instances JSON file.

Ids: COCO ``images[].id``, ``annotations[].id`` and ``categories[].id`` are the project's own ids, so an
export can be traced back to the project.

Segmentation
    Default: COCO *compressed RLE* (``{"size": [h, w], "counts": "..."}``), copied from the project without
    decoding, exact for holes and multi-part objects, with ``iscrowd: 0``. The COCO paper reserves RLE for
    crowd regions, but pycocotools (``annToMask``, ``COCOeval``) reads RLE for any annotation and tools
    such as CVAT export non-crowd masks the same way; we keep ``iscrowd: 0`` because these are single
    objects and ``iscrowd: 1`` would make COCOeval ignore them.
    ``polygons=True``: outer boundaries as polygons (:func:`.polygons.mask_to_polygons`, pixel-exact for
    hole-free objects). COCO polygons of one object are unioned, so **holes are filled**; the number of
    objects concerned is reported in the summary's ``warnings``. ``area`` stays the mask's pixel count.

Files
    ``file_name`` of an image file: its path relative to ``images_root`` (default: the deepest folder
    holding all the project's image files, or the JSON's folder when the project has none), with ``/``
    separators; the root used is recorded as ``info.image_root`` (an absolute path). A volume slice gets one
    entry only when it has objects, named ``<volume-stem>/<axis>_<index:04d>.png`` (e.g.
    ``ct_01/axial_0042.png``; the volume stem drops ``.nii.gz`` / ``.nii`` / ...), plus the extra keys
    ``volume`` (path), ``volume_id``, ``axis`` and ``slice_index``. :func:`export_coco` writes those slice
    PNGs under the image root (8-bit grey, the volume's default display window, exactly the slice's size)
    unless ``write_slices=False``, so every ``file_name`` of the JSON names a file.
    Files are written with the usual permissions (``0666`` less the umask), never private ``0600`` ones.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from ..errors import ProjectError
from .polygons import mask_to_polygons
from .store import ImageRecord, ProjectStore

log = logging.getLogger(__name__)


def _common_root(paths: list[str]) -> str | None:
    if not paths:
        return None
    try:
        return os.path.commonpath([os.path.dirname(p) for p in paths])
    except ValueError:  # different drives
        return None


def image_file_name(rec: ImageRecord, root: str | None) -> str:
    if rec.is_slice:
        return f"{rec.name}.png"
    if root:
        try:
            return Path(os.path.relpath(rec.path, root)).as_posix()
        except ValueError:
            pass
    return Path(rec.path).name


def _umask() -> int:
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # no /proc: read it the classic way (set and restore)
    os.umask(mask)
    return mask


def write_json_atomic(obj, out_path) -> Path:
    """Write JSON next to ``out_path`` then rename over it, so a crash never leaves half a file. The file
    gets the usual permissions (0666 less the umask), as ``open()`` would give it."""
    out = Path(out_path)
    if out.is_dir():
        raise ProjectError(f"{out}: is a folder; give a file name for the JSON")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise ProjectError(f"{out.parent}: not a folder") from None
    fd, tmp = tempfile.mkstemp(prefix=out.name + ".", suffix=".tmp", dir=out.parent)
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(obj, f, separators=(",", ":"))
        os.replace(tmp, out)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return out


def build_coco(store: ProjectStore, *, polygons: bool = False, progress: bool = False,
               include_empty: bool = True, images_root=None, default_root=None) -> tuple[dict, dict]:  # fmt: skip
    """(COCO dict, summary dict) without writing anything. ``images_root``: the folder ``file_name`` is
    relative to (default: the image files' deepest common folder, else ``default_root``)."""
    t0 = time.perf_counter()
    images = store.images()
    instances = store.instances()
    by_image: dict[int, int] = {}
    for inst in instances:
        by_image[inst.image_id] = by_image.get(inst.image_id, 0) + 1
    bad = [r for r in images if r.width <= 0 or r.height <= 0]
    if bad:
        raise ProjectError(
            f"{len(bad)} image(s) have no size in the project (e.g. image {bad[0].id}, {bad[0].name}); open the "
            "project for writing once (the app or pseudoclick import) to repair them, or remove them"
        )
    if images_root is not None:
        root = os.path.abspath(os.fspath(images_root))
    else:
        root = _common_root([r.path for r in images if not r.is_slice])
        if root is None and default_root is not None:
            root = os.path.abspath(os.fspath(default_root))
    coco_images = []
    for rec in images:
        if rec.is_slice and not by_image.get(rec.id):
            continue
        if not rec.is_slice and not include_empty and not by_image.get(rec.id):
            continue
        entry = {"id": rec.id, "file_name": image_file_name(rec, root), "width": rec.width, "height": rec.height}
        if rec.is_slice:
            entry.update(volume=rec.path, volume_id=rec.volume_id, axis=rec.axis, slice_index=rec.slice_index)
        coco_images.append(entry)
    kept = {e["id"] for e in coco_images}

    iterator = instances
    if progress:
        from tqdm import tqdm

        iterator = tqdm(instances, desc="annotations", unit="obj", leave=False)
    anns = []
    holes = 0
    for inst in iterator:
        if inst.image_id not in kept:
            continue
        if polygons:
            polys, has_holes = mask_to_polygons(inst.mask())
            holes += bool(has_holes)
            seg = polys
        else:
            seg = {"size": [inst.height, inst.width], "counts": inst.counts}
        anns.append({
            "id": inst.id,
            "image_id": inst.image_id,
            "category_id": inst.category_id,
            "segmentation": seg,
            "area": inst.area,
            "bbox": list(inst.bbox),
            "iscrowd": 0,
        })  # fmt: skip
    cats = [{"id": c.id, "name": c.name, "supercategory": c.supercategory} for c in store.categories()]
    coco = {
        "info": {
            "description": f"PseudoClick GUI export of {store.path.name}",
            "version": "1.0",
            "date_created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "image_root": root,  # every file_name is relative to this folder
        },
        "licenses": [],
        "images": coco_images,
        "annotations": anns,
        "categories": cats,
    }
    warnings = []
    if holes:
        warnings.append(
            f"{holes} object(s) have holes, which COCO polygons cannot represent: the holes are filled "
            "in this export (use the default RLE export to keep them)"
        )
    for w in warnings:
        log.warning(w)
    summary = {
        "images": len(coco_images),
        "annotations": len(anns),
        "categories": len(cats),
        "format": "polygons" if polygons else "rle",
        "objects_with_holes_filled": holes,
        "warnings": warnings,
        "seconds": time.perf_counter() - t0,
        "image_root": root,
    }
    return coco, summary


def export_coco(store: ProjectStore, out_json, *, polygons: bool = False, progress: bool = True,
                include_empty: bool = True, images_root=None, write_slices: bool = True) -> dict:  # fmt: skip
    """Write ``out_json`` (see the module docstring) and return a summary dict (counts, warnings, seconds,
    path, image_root, slice_pngs). ``include_empty=False`` leaves out image files without objects (slices
    without objects are always left out). ``write_slices``: write the PNG of every volume slice the JSON
    names, under the image root (default: the JSON's folder when the project has no image files)."""
    t0 = time.perf_counter()
    out = Path(out_json)
    coco, summary = build_coco(store, polygons=polygons, progress=progress, include_empty=include_empty,
                               images_root=images_root, default_root=out.absolute().parent)  # fmt: skip
    try:
        path = write_json_atomic(coco, out)
    except OSError as exc:
        raise ProjectError(f"{out_json}: cannot write ({exc.strerror or exc})") from None
    summary["slice_pngs"] = 0
    if write_slices:
        summary["slice_pngs"] = write_slice_pngs(store, coco, summary["image_root"] or os.fspath(out.absolute().parent),
                                                 summary["warnings"])  # fmt: skip
    summary["path"] = os.fspath(path)
    summary["seconds"] = time.perf_counter() - t0
    return summary


def write_slice_pngs(store: ProjectStore, coco: dict, root, warnings: list[str]) -> int:
    """Write ``root / file_name`` for every volume-slice entry of ``coco``: the slice as 8-bit grey with the
    volume's default display window. A volume that cannot be read any more is reported in ``warnings``."""
    import cv2

    from ..errors import PseudoClickError
    from ..io.volume import open_volume

    by_volume: dict[int, list[dict]] = {}
    for e in coco["images"]:
        if e.get("volume_id") is not None:
            by_volume.setdefault(int(e["volume_id"]), []).append(e)
    written = 0
    for vid, entries in by_volume.items():
        rec = store.volume(vid)
        try:
            vol = open_volume(rec.path, series_uid=rec.series_uid)
            level, width = vol.default_window()
        except PseudoClickError as exc:
            warnings.append(f"slice PNGs of {rec.path} not written: {exc}")
            continue
        for e in entries:
            target = Path(root) / e["file_name"]
            try:
                img = vol.display_slice(e["axis"], int(e["slice_index"]), level=level, width=width)
            except (IndexError, ValueError) as exc:
                warnings.append(f"{e['file_name']}: not written ({exc})")
                continue
            if img.shape != (e["height"], e["width"]):
                warnings.append(f"{e['file_name']}: not written (the volume's slice is {img.shape[1]}x{img.shape[0]}, "
                                f"the project says {e['width']}x{e['height']}; has the volume changed?)")  # fmt: skip
                continue
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ProjectError(f"{target.parent}: cannot create ({exc.strerror or exc})") from None
            if not cv2.imwrite(os.fspath(target), np.ascontiguousarray(img)):
                raise ProjectError(f"{target}: cannot write PNG")
            written += 1
    return written
