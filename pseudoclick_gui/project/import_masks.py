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
import math
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
        what = str(what)
        if message.startswith(what + ": "):  # the message already names the file
            message = message[len(what) + 2 :]
        self.errors.append((what, message))
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
    (existing ones included: adding is idempotent). Each new file is decoded completely first; unreadable
    files (truncated, undecodable, too small, multi-page stacks) are skipped and listed in ``report``, and so
    are the folder's entries that look like images but cannot be read (broken links, FIFOs, GIF/WebP...)."""
    report = report if report is not None else ImportReport()
    if isinstance(folder_or_files, (str, Path)):
        p = Path(folder_or_files)
        if p.is_dir():
            try:
                files, skipped = _imageio.scan_folder(p)
            except PseudoClickError as exc:
                raise ProjectError(str(exc)) from None
            for f, why in skipped:
                report.error(f, why)
        elif p.exists() or p.is_symlink():
            files = [p]
        else:
            raise ProjectError(f"{p}: no such file or folder")
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
                w, h = _imageio.verify_image(f)
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


def _a(value) -> str:
    """'a list', 'an int', 'null': the JSON-ish kind of a value, for messages."""
    if value is None:
        return "null"
    name = {"dict": "object", "str": "string", "int": "integer", "float": "number", "bool": "boolean"}.get(
        type(value).__name__, type(value).__name__
    )
    return ("an " if name[0] in "aeiou" else "a ") + name


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _check_segmentation(seg) -> str | None:
    """What is wrong with a COCO ``segmentation`` value, or None."""
    if isinstance(seg, dict):
        counts, size = seg.get("counts"), seg.get("size")
        if size is not None and not (isinstance(size, list) and len(size) == 2 and all(_is_int(v) and v >= 0 for v in size)):
            return "RLE 'size' is not [height, width]"
        if isinstance(counts, str):
            return None
        if isinstance(counts, list) and all(_is_int(v) and v >= 0 for v in counts):
            return None
        return "RLE 'counts' is neither a string nor a list of non-negative integers"
    if isinstance(seg, list):
        polys = seg if not seg or isinstance(seg[0], list) else [seg]
        for poly in polys:
            if not isinstance(poly, list) or not all(_is_number(v) for v in poly):
                return "a polygon holds something other than finite numbers (NaN, infinity, text?)"
            if len(poly) < 6 or len(poly) % 2:
                return f"a polygon needs at least 3 (x, y) points, got {len(poly)} numbers"
        return None
    return f"segmentation is {_a(seg)}, not a polygon list or an RLE dict"


def validate_coco(data, source="COCO file") -> tuple[list[dict], list[dict], list[dict]]:
    """Check a parsed COCO instances file completely before anything is imported; returns its (categories,
    images, annotations). Raises one ProjectError naming the first problem (and how many more there are):
    a missing or non-integer or duplicate id, ``images`` that is not a list, an entry that is not an object,
    an annotation whose image or category is not in the file, a polygon with NaN, a malformed RLE."""
    problems: list[str] = []

    def bad(msg: str) -> None:
        problems.append(msg)

    if not isinstance(data, dict):
        raise ProjectError(f"{source}: not a COCO file (the top level is {_a(data)}, not an object)")
    if not isinstance(data.get("images"), list):
        what = "missing" if "images" not in data else _a(data["images"])
        raise ProjectError(f"{source}: not a COCO file ('images' is {what}, not a list)")
    cats = data.get("categories", [])
    anns = data.get("annotations", [])
    for key, value in (("categories", cats), ("annotations", anns)):
        if not isinstance(value, list):
            raise ProjectError(f"{source}: '{key}' is {_a(value)}, not a list")
    def name_problem(c: dict) -> str | None:
        if c.get("name") is not None and not isinstance(c.get("name"), str):
            return ": 'name' is not a string"
        return None

    def image_problem(im: dict) -> str | None:
        if not isinstance(im.get("file_name"), str) or not im["file_name"].strip():
            return f" (id {im['id']}): 'file_name' is missing or not a string"
        if any(im.get(d) is not None and not (_is_int(im[d]) and im[d] >= 0) for d in ("width", "height")):
            return f" (id {im['id']}): width/height are not non-negative integers"
        return None

    for key, entries, problem, twice in (("categories", cats, name_problem, ""),
                                         ("images", data["images"], image_problem, " (the same image listed twice)")):  # fmt: skip
        ids: set[int] = set()
        for k, e in enumerate(entries):
            if not isinstance(e, dict):
                bad(f"{key}[{k}] is {_a(e)}, not an object")
            elif not _is_int(e.get("id")):
                bad(f"{key}[{k}]: 'id' is {'missing' if 'id' not in e else 'not an integer'}")
            elif e["id"] in ids:
                bad(f"{key}[{k}]: duplicate id {e['id']}{twice}")
            elif why := problem(e):
                bad(f"{key}[{k}]{why}")
            else:
                ids.add(e["id"])
    for k, a in enumerate(anns):
        if not isinstance(a, dict):
            bad(f"annotations[{k}] is {_a(a)}, not an object")
            continue
        name = f"annotations[{k}]" + (f" (id {a['id']})" if _is_int(a.get("id")) else "")
        # an id of the right type that names nothing is reported per annotation at import time
        if not _is_int(a.get("image_id")):
            bad(f"{name}: image_id is {'missing' if 'image_id' not in a else 'not an integer'}")
        elif not _is_int(a.get("category_id")):
            bad(f"{name}: category_id is {'missing' if 'category_id' not in a else 'not an integer'}")
        else:
            why = _check_segmentation(a.get("segmentation"))
            if why:
                bad(f"{name}: {why}")
    if problems:
        more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
        raise ProjectError(f"{source}: {problems[0]}{more}; nothing was imported")
    return cats, data["images"], anns


def read_coco(coco_json) -> dict:
    """Parse a COCO JSON file (ProjectError for unreadable, invalid or absurdly nested files)."""
    try:
        with open(coco_json, encoding="utf-8") as f:
            return json.load(f)
    except OSError as exc:
        raise ProjectError(f"{coco_json}: cannot read ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise ProjectError(f"{coco_json}: not a text (UTF-8) file") from None
    except json.JSONDecodeError as exc:
        raise ProjectError(f"{coco_json}: not valid JSON ({exc})") from None
    except RecursionError:
        raise ProjectError(f"{coco_json}: JSON nested too deeply to be a COCO file") from None


def import_coco(store: ProjectStore, coco_json, images_dir, *, report: ImportReport | None = None,
                progress: bool = False, source: str = "import") -> ImportReport:  # fmt: skip
    """Import a COCO instances file: categories (matched by name, created when missing), images
    (``images_dir / file_name``; a missing or unreadable file is reported and its annotations skipped) and
    annotations (compressed RLE, uncompressed RLE or polygons; ``iscrowd`` is ignored: every annotation
    becomes an editable instance).

    The whole file is checked first (:func:`validate_coco`): a malformed file imports nothing. The
    images are then read (outside the store's lock) and everything is written in ONE transaction, so an
    interrupted import leaves the project as it was."""
    report = report if report is not None else ImportReport()
    cats, images, anns = validate_coco(read_coco(coco_json), source=str(coco_json))
    images_dir = Path(images_dir)

    sizes: dict[int, tuple[Path, int, int]] = {}  # coco id -> (path, w, h) of the readable images
    for im in images:
        path = images_dir / im["file_name"]
        try:
            if not path.exists():
                raise ProjectError("image file not found")
            fw, fh = _imageio.verify_image(path)
            w, h = im.get("width"), im.get("height")
            if w and h and (w, h) != (fw, fh):
                raise ProjectError(f"the COCO file says {w}x{h} but the image is {fw}x{fh}")
            sizes[im["id"]] = (path, fw, fh)
        except PseudoClickError as exc:
            report.error(path, str(exc))

    new_cats: list[int] = []
    new_images: list[int] = []
    new_instances: list[int] = []
    bar = _progress(range(len(anns)), len(anns), "annotations", progress)
    it = iter(bar)
    with store.transaction():
        cat_map: dict[int, int] = {}
        for c in cats:
            name = str(c.get("name") or f"category_{c['id']}").strip() or f"category_{c['id']}"
            existing = store.category_by_name(name)
            if existing is None:
                cat_map[c["id"]] = store.add_category(name, supercategory=str(c.get("supercategory") or ""))
                new_cats.append(cat_map[c["id"]])
            else:
                cat_map[c["id"]] = existing.id
        img_map: dict[int, tuple[int, int, int]] = {}  # coco id -> (store id, h, w)
        for coco_id, (path, fw, fh) in sizes.items():
            iid = store.add_image(path, width=fw, height=fh)
            rec = store.image(iid)
            img_map[coco_id] = (iid, rec.height, rec.width)
            new_images.append(iid)
        for ann in anns:
            next(it, None)
            what = f"annotation {ann.get('id')}"
            target = img_map.get(ann["image_id"])
            if target is None:
                known = any(im["id"] == ann["image_id"] for im in images)
                report.error(what, "its image was not imported" if known else
                             f"image_id {ann['image_id']} is not an image of the file")  # fmt: skip
                continue
            iid, h, w = target
            if ann["category_id"] not in cat_map:
                report.error(what, f"unknown category_id {ann['category_id']} (not in the file's categories)")
                continue
            try:
                mask = segmentation_to_mask(ann.get("segmentation"), h, w)
            except (PseudoClickError, TypeError, ValueError) as exc:
                report.error(what, str(exc))
                continue
            if not mask.any():
                report.warnings.append(f"{what}: empty segmentation skipped")
                continue
            new_instances.append(store.add_instance(iid, mask, cat_map[ann["category_id"]], source=source,
                                                    attach_draft=False))  # fmt: skip
    if hasattr(bar, "close"):
        bar.close()
    report.categories.extend(new_cats)
    report.images.extend(new_images)
    report.instances.extend(new_instances)
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
