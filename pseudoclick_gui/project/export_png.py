"""Export masks as PNG files.

Layout under ``out_dir`` (only images that have objects):

* ``instances/<key>_<k>.png``: one 8-bit PNG per object, 0 background / 255 object, ``k`` = 1, 2, ... in
  the order the objects were created on that image (so ``import_masks`` can read the folder back);
* ``ids/<key>.png``: one instance-id map per image, pixel value ``k`` (0 = background); 8-bit when the
  image has at most 255 objects, 16-bit otherwise; where objects overlap the later one wins;
* ``index.json``: ``{key: {"image": path, "image_id": id, "width", "height", "instances": [{"k",
  "instance_id", "category_id", "category"}]}}``.

``key`` is the image file's stem, or ``<volume-stem>_<axis>_<index:04d>`` for a volume slice; when two
images share a stem, ``_id<image_id>`` is appended to the later ones.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from ..errors import ProjectError
from .export_coco import write_json_atomic
from .store import ImageRecord, ProjectStore


def image_key(rec: ImageRecord) -> str:
    if rec.is_slice:
        return rec.name.replace("/", "_")
    return Path(rec.path).stem


def _save_png(arr: np.ndarray, path: Path) -> None:
    import cv2

    if not cv2.imwrite(os.fspath(path), arr):
        raise ProjectError(f"{path}: cannot write PNG")


def export_png(store: ProjectStore, out_dir, *, progress: bool = True) -> dict:
    t0 = time.perf_counter()
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ProjectError(f"{out}: is a file; --png needs a folder")
    try:
        (out / "instances").mkdir(parents=True, exist_ok=True)
        (out / "ids").mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise ProjectError(f"{out}: cannot create the folder (a file is in the way)") from None
    except OSError as exc:
        raise ProjectError(f"{out}: cannot create the folder ({exc.strerror or exc})") from None
    cats = {c.id: c.name for c in store.categories()}
    per_image: dict[int, list] = {}
    for inst in store.instances():
        per_image.setdefault(inst.image_id, []).append(inst)
    records = [r for r in store.images() if r.id in per_image]
    iterator = records
    if progress:
        from tqdm import tqdm

        iterator = tqdm(records, desc="png", unit="image", leave=False)
    index: dict[str, dict] = {}
    n_files = 0
    for rec in iterator:
        key = image_key(rec)
        if key in index:
            key = f"{key}_id{rec.id}"
        insts = per_image[rec.id]
        if rec.width <= 0 or rec.height <= 0:
            raise ProjectError(f"image {rec.id} ({rec.name}) has no size in the project ({rec.width} x {rec.height}); "
                               "open the project for writing once to repair it, or remove it")  # fmt: skip
        wrong = [i.id for i in insts if (i.height, i.width) != (rec.height, rec.width)]
        if wrong:
            raise ProjectError(f"image {rec.id} ({rec.name}) is {rec.width} x {rec.height} but object {wrong[0]} is not: "
                               "the project file is damaged")  # fmt: skip
        ids = np.zeros((rec.height, rec.width), dtype=np.uint8 if len(insts) <= 255 else np.uint16)
        entries = []
        for k, inst in enumerate(insts, start=1):
            m = inst.mask()
            _save_png(m.astype(np.uint8) * 255, out / "instances" / f"{key}_{k}.png")
            ids[m] = k
            entries.append({"k": k, "instance_id": inst.id, "category_id": inst.category_id,
                            "category": cats.get(inst.category_id, "")})  # fmt: skip
            n_files += 1
        _save_png(ids, out / "ids" / f"{key}.png")
        index[key] = {"image": rec.path, "image_id": rec.id, "width": rec.width, "height": rec.height,
                      "instances": entries}  # fmt: skip
    write_json_atomic(index, out / "index.json")
    return {"images": len(index), "instance_pngs": n_files, "path": os.fspath(out),
            "seconds": time.perf_counter() - t0}  # fmt: skip
