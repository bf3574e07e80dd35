"""Headless import into a project: image files, mask PNGs, COCO JSON, label volumes.

Every function adds what it can and records per-file problems in an :class:`ImportReport` instead of
stopping at the first bad file; the caller (CLI, GUI) shows ``report.summary()``.

Rows are written in chunks of a few hundred per transaction, so an import interrupted half-way keeps the
chunks already done and can simply be run again (images and volumes are idempotent per path; masks and
COCO annotations are not deduplicated, so re-running those adds them a second time). Image and mask files
are read outside the store's lock, so a GUI thread sharing the store is only held up by the writes.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ProjectError, PseudoClickError
from . import _imageio, volume_axes
from . import rle as _rle
from .polygons import rasterize
from .store import ProjectStore

log = logging.getLogger(__name__)
_CHUNK = 200


@dataclass
class ImportReport:
    images: list[int] = field(default_factory=list)
    instances: list[int] = field(default_factory=list)
    categories: list[int] = field(default_factory=list)
    volumes: list[int] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)  # (file or item, message)
    warnings: list[str] = field(default_factory=list)

    def error(self, what, message: str) -> None:
        self.errors.append((str(what), message))
        log.warning("%s: %s", what, message)

    def summary(self) -> str:
        parts = [f"{len(self.images)} image(s)", f"{len(self.instances)} object(s)"]
        if self.volumes:
            parts.append(f"{len(self.volumes)} volume(s)")
        if self.categories:
            parts.append(f"{len(self.categories)} new categor{'y' if len(self.categories) == 1 else 'ies'}")
        text = "imported " + ", ".join(parts)
        if self.errors:
            text += f"; {len(self.errors)} problem(s):\n" + "\n".join(f"  {w}: {m}" for w, m in self.errors)
        if self.warnings:
            text += "\n" + "\n".join(f"  warning: {w}" for w in self.warnings)
        return text


def _progress(iterable, total: int | None, desc: str, enabled: bool):
    if not enabled:
        return iterable
    from tqdm import tqdm

    return tqdm(iterable, total=total, desc=desc, unit="file", leave=False)


def _chunks(items: list, n: int = _CHUNK):
    for i in range(0, len(items), n):
        yield items[i : i + n]


def _category_id(store: ProjectStore, category, report: ImportReport) -> int:
    if isinstance(category, int):
        store.category(category)  # raises when missing
        return category
    name = str(category or "object")
    existing = store.category_by_name(name)
    if existing is not None:
        return existing.id
    cid = store.add_category(name)
    report.categories.append(cid)
    return cid


# --------------------------------------------------------------------------------------------- images
def import_images(store: ProjectStore, folder_or_files, *, report: ImportReport | None = None,
                  progress: bool = False) -> list[int]:  # fmt: skip
    """Add a folder's images (not recursive) or the given files. Returns the image ids in input order
    (existing ones included: adding is idempotent). Unreadable files are skipped and listed in ``report``."""
    report = report if report is not None else ImportReport()
    if isinstance(folder_or_files, (str, Path)):
        p = Path(folder_or_files)
        files = _imageio.list_images(p) if p.is_dir() else [p]
    else:
        files = [Path(f) for f in folder_or_files]
    ids: list[int] = []
    bar = _progress(range(len(files)), len(files), "images", progress)
    it = iter(bar)
    for chunk in _chunks(files):
        # read headers and checksums without holding the store (the GUI may be writing meanwhile) ...
        ready = []
        for f in chunk:
            next(it, None)
            try:
                existing = store.find_image(f)
                if existing is not None:
                    ready.append((f, existing, None))
                    continue
                w, h = _imageio.image_size(f)
                ready.append((f, None, (w, h, _imageio.file_checksum(f))))
            except PseudoClickError as exc:
                report.error(f, str(exc))
        # ... then write the chunk in one transaction
        with store.transaction():
            for f, existing, info in ready:
                if existing is not None:
                    ids.append(existing)
                else:
                    w, h, checksum = info
                    ids.append(store.add_image(f, width=w, height=h, checksum=checksum))
    if hasattr(bar, "close"):
        bar.close()
    seen = set(report.images)
    report.images.extend(i for i in dict.fromkeys(ids) if i not in seen)
    return ids


# ---------------------------------------------------------------------------------------------- masks
_SUFFIX_K = re.compile(r"^(?P<stem>.+)_(?P<k>\d+)$")


def _stem_map(store: ProjectStore, image_map) -> dict[str, int]:
    """stem -> image id, from None (all plain images), a list of ids, or a mapping of stem/path -> id."""
    if image_map is None:
        recs = store.images(include_slices=False)
        return {Path(r.path).stem: r.id for r in recs}
    if isinstance(image_map, Mapping):
        return {Path(str(k)).stem: int(v) for k, v in image_map.items()}
    out = {}
    for iid in image_map:
        rec = store.image(int(iid))
        out[Path(rec.path).stem if not rec.is_slice else rec.name.replace("/", "_")] = rec.id
    return out


def import_masks(store: ProjectStore, image_id_or_path_map, masks_dir, *, category="object",
                 report: ImportReport | None = None, progress: bool = False,
                 source: str = "import") -> ImportReport:  # fmt: skip
    """One instance per mask file in ``masks_dir``: ``<stem>.png`` or ``<stem>_<k>.png`` belongs to the
    image whose file stem is ``<stem>`` (an exact stem match wins over the ``_<k>`` reading); any non-zero
    pixel is object. ``image_id_or_path_map``: None for all images in the project, a list of image ids, or a
    mapping ``{stem or path: image_id}``. A mask whose size differs from its image, or that matches no
    image, is reported and skipped; empty masks are skipped with a warning."""
    report = report if report is not None else ImportReport()
    stems = _stem_map(store, image_id_or_path_map)
    cid = _category_id(store, category, report)
    files = _imageio.list_images(masks_dir)
    todo: list[tuple[Path, int]] = []
    for f in files:
        iid = stems.get(f.stem)
        if iid is None:
            m = _SUFFIX_K.match(f.stem)
            iid = stems.get(m.group("stem")) if m else None
        if iid is None:
            report.error(f, "no image in the project with this name")
            continue
        todo.append((f, iid))
    bar = _progress(range(len(todo)), len(todo), "masks", progress)
    it = iter(bar)
    for chunk in _chunks(todo):
        ready = []  # read and check the files without holding the store ...
        for f, iid in chunk:
            next(it, None)
            try:
                mask = _imageio.read_mask(f)
                rec = store.image(iid)
                if mask.shape != (rec.height, rec.width):
                    raise ProjectError(
                        f"mask is {mask.shape[1]}x{mask.shape[0]} but image {Path(rec.path).name} is "
                        f"{rec.width}x{rec.height}"
                    )
                if not mask.any():
                    report.warnings.append(f"{f}: empty mask skipped")
                    continue
                ready.append((f, iid, mask))
            except PseudoClickError as exc:
                report.error(f, str(exc))
        with store.transaction():  # ... then write the chunk in one transaction
            for f, iid, mask in ready:
                try:
                    report.instances.append(store.add_instance(iid, mask, cid, source=source, attach_draft=False))
                except PseudoClickError as exc:
                    report.error(f, str(exc))
    if hasattr(bar, "close"):
        bar.close()
    return report


# ----------------------------------------------------------------------------------------------- COCO
def segmentation_to_mask(seg, height: int, width: int) -> np.ndarray:
    """A COCO ``segmentation`` (compressed RLE, uncompressed RLE or polygon list) -> H x W bool."""
    if isinstance(seg, dict):
        size = seg.get("size")
        if size is not None and [int(v) for v in size] != [height, width]:
            raise ProjectError(f"RLE size {list(size)} does not match the image ({height}, {width})")
        return _rle.decode({"size": [height, width], "counts": seg.get("counts", "")})
    if isinstance(seg, list):
        if seg and not isinstance(seg[0], (list, tuple)):
            seg = [seg]
        return rasterize(seg, height, width)
    raise ProjectError(f"unsupported segmentation of type {type(seg).__name__}")


def import_coco(store: ProjectStore, coco_json, images_dir, *, report: ImportReport | None = None,
                progress: bool = False, source: str = "import") -> ImportReport:  # fmt: skip
    """Import a COCO instances file: categories (matched by name, created when missing), images
    (``images_dir / file_name``; a missing file is reported and its annotations skipped) and annotations
    (compressed RLE, uncompressed RLE or polygons; ``iscrowd`` is ignored: every annotation becomes an
    editable instance)."""
    report = report if report is not None else ImportReport()
    try:
        with open(coco_json, encoding="utf-8") as f:
            data = json.load(f)
    except OSError as exc:
        raise ProjectError(f"{coco_json}: cannot read ({exc.strerror or exc})") from None
    except json.JSONDecodeError as exc:
        raise ProjectError(f"{coco_json}: not valid JSON ({exc})") from None
    if not isinstance(data, dict) or "images" not in data:
        raise ProjectError(f"{coco_json}: not a COCO file (no 'images' list)")
    images_dir = Path(images_dir)

    cat_map: dict[int, int] = {}
    for c in data.get("categories", []):
        name = str(c.get("name") or f"category_{c.get('id')}")
        existing = store.category_by_name(name)
        if existing is None:
            new_id = store.add_category(name, supercategory=str(c.get("supercategory") or ""))
            report.categories.append(new_id)
            cat_map[int(c["id"])] = new_id
        else:
            cat_map[int(c["id"])] = existing.id

    img_map: dict[int, tuple[int, int, int]] = {}  # coco id -> (store id, h, w)
    images = data.get("images", [])
    for chunk in _chunks(images):
        with store.transaction():
            for im in chunk:
                path = images_dir / str(im.get("file_name", ""))
                try:
                    if not path.is_file():
                        raise ProjectError("image file not found")
                    fw, fh = _imageio.image_size(path)
                    w, h = im.get("width"), im.get("height")
                    if w and h and (int(w), int(h)) != (fw, fh):
                        raise ProjectError(f"the COCO file says {w}x{h} but the image is {fw}x{fh}")
                    iid = store.add_image(path, width=fw, height=fh)
                    rec = store.image(iid)
                    img_map[int(im["id"])] = (iid, rec.height, rec.width)
                    report.images.append(iid)
                except PseudoClickError as exc:
                    report.error(path, str(exc))

    anns = data.get("annotations", [])
    bar = _progress(range(len(anns)), len(anns), "annotations", progress)
    it = iter(bar)
    for chunk in _chunks(anns, 500):
        with store.transaction():
            for ann in chunk:
                next(it, None)
                what = f"annotation {ann.get('id')}"
                target = img_map.get(int(ann.get("image_id", -1)))
                if target is None:
                    report.error(what, "its image was not imported")
                    continue
                iid, h, w = target
                try:
                    cid = cat_map.get(int(ann.get("category_id", -1)))
                    if cid is None:
                        raise ProjectError(f"unknown category_id {ann.get('category_id')}")
                    mask = segmentation_to_mask(ann.get("segmentation"), h, w)
                    if not mask.any():
                        report.warnings.append(f"{what}: empty segmentation skipped")
                        continue
                    report.instances.append(store.add_instance(iid, mask, cid, source=source, attach_draft=False))
                except (PseudoClickError, TypeError, ValueError, KeyError) as exc:
                    report.error(what, str(exc))
    if hasattr(bar, "close"):
        bar.close()
    return report


# -------------------------------------------------------------------------------------------- volumes
def import_volume(store: ProjectStore, volume_path, *, labels=None, axis: str = "axial", category=None,
                  components: bool = False, report: ImportReport | None = None,
                  progress: bool = False) -> ImportReport:  # fmt: skip
    """Register a volume. With ``labels`` (a label volume on the same grid), every label value > 0 on
    every ``axis`` slice becomes one instance to refine (``components=True``: one per connected component
    instead), in category ``category`` or, when None, in ``label_<value>``. Only labelled slices get image
    rows; the GUI adds others on demand with ``store.slice_image``."""
    report = report if report is not None else ImportReport()
    data, affine, _header, kind = _imageio.read_volume(volume_path)
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise ProjectError(f"{volume_path}: expected a 3-D volume, got shape {data.shape}")
    vid = store.add_volume(volume_path, kind=kind, shape=data.shape, affine=affine)
    report.volumes.append(vid)
    if labels is None:
        return report
    lab, _laff, _lh, _k = _imageio.read_volume(labels)
    if lab.ndim == 4 and lab.shape[3] == 1:
        lab = lab[..., 0]
    if tuple(lab.shape) != tuple(data.shape):
        raise ProjectError(f"{labels}: label volume shape {lab.shape} differs from the image volume {data.shape}")
    lab = np.asarray(lab)
    if not np.issubdtype(lab.dtype, np.integer):
        lab = np.rint(lab).astype(np.int64)
    n = volume_axes.n_slices(lab.shape, axis, affine)
    cats: dict[int, int] = {}
    bar = _progress(range(n), n, f"{axis} slices", progress)
    for idx in bar:
        plane = volume_axes.extract(lab, axis, idx, affine)
        values = np.unique(plane)
        values = values[values > 0]
        if values.size == 0:
            continue
        with store.transaction():
            iid = store.add_image(None, volume_id=vid, axis=axis, slice_index=idx)
            report.images.append(iid)
            for v in values.tolist():
                if v not in cats:
                    cats[v] = _category_id(store, category if category is not None else f"label_{v}", report)
                mask = plane == v
                parts = [mask]
                if components:
                    import cv2

                    n_cc, cc = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
                    parts = [cc == k for k in range(1, n_cc)]
                for part in parts:
                    report.instances.append(store.add_instance(iid, part, cats[v], source="import", attach_draft=False))
    return report
