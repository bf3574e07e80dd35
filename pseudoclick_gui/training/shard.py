"""A compact copy of the training sets for a machine that cannot see ``../shared`` (a lent GPU).

    python -m pseudoclick_gui.training.shard shard --max-mib 50 [--side 448] [--data SPEC ...]

Every image is scaled so its long side is at most ``--side`` (JPEG), every mask with it (PNG, 0/255, thresholded
after area resampling), in the shared layout (``SET/images``, ``SET/masks``, ``SET/instances.csv`` with the
columns the training filters read), so ``pseudoclick train --data shard/SET:W`` reads it as it reads the original.
Images are taken in a seeded random order, each set's share of ``--max-mib`` in proportion to its weight, until
the share is spent. ``shard/manifest.json`` records what was taken (sets, weights, images, bytes): the ``--data``
specs to train on it. The folder is git-ignored; the data's licences travel with it (each set's SOURCE.md).
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import shutil
import sys
from pathlib import Path

import cv2

from .cli import DEFAULT_DATA
from .data import DatasetSpec, _index_csv

KEEP_COLUMNS = ("level", "class", "category", "coco_category", "species")


def _scaled(path: Path, side: int, mask: bool):
    img = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE if mask else cv2.IMREAD_COLOR)
    if img is None:
        raise OSError(f"cannot read {path}")
    h, w = img.shape[:2]
    s = min(1.0, side / max(h, w))
    if s < 1.0:
        img = cv2.resize(img, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
    if mask:
        img = ((img > 127) * 255).astype("uint8")
    return img, s


def build(out: Path, specs: list[str], max_mib: float = 50.0, side: int = 448, quality: int = 85, seed: int = 0,
          log=print) -> dict:
    """Write the shard; returns the manifest."""
    parsed = [DatasetSpec.parse(s) for s in specs]
    parsed = [p for p in parsed if p.root.is_dir()]
    if not parsed:
        raise SystemExit("no training set found: give --data or put the shared data at ../shared/data")
    if out.exists():
        shutil.rmtree(out)
    total_w = sum(p.weight for p in parsed)
    manifest = {"side": side, "max_mib": max_mib, "sets": []}
    for spec in parsed:
        budget = max_mib * 2**20 * spec.weight / total_w
        rows = list(csv.DictReader(open(_index_csv(spec.root), newline="")))
        by_image: dict[str, list[dict]] = {}
        for row in rows:
            by_image.setdefault(row["image"], []).append(row)
        images = sorted(by_image)
        random.Random(seed).shuffle(images)
        dst = out / spec.root.name
        (dst / "images").mkdir(parents=True)
        (dst / "masks").mkdir()
        written, used, kept = 0, 0, []
        for name in images:
            if used >= budget:
                break
            img, s = _scaled(spec.root / name, side, False)
            stem = Path(name).stem
            ok, jpg = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
            (dst / "images" / f"{stem}.jpg").write_bytes(jpg.tobytes())
            used += len(jpg)
            for row in by_image[name]:
                m, _ = _scaled(spec.root / row["mask"], side, True)
                ok, png = cv2.imencode(".png", m, [cv2.IMWRITE_PNG_COMPRESSION, 9])
                mname = f"masks/{Path(row['mask']).stem}.png"
                (dst / mname).write_bytes(png.tobytes())
                used += len(png)
                kept.append({"image": f"images/{stem}.jpg", "mask": mname,
                             "object_area_px": int((m > 0).sum()),
                             **{k: row[k] for k in KEEP_COLUMNS if k in row}})
            written += 1
        with open(dst / "instances.csv", "w", newline="") as f:
            cols = ["image", "mask", "object_area_px", *[k for k in KEEP_COLUMNS if any(k in r for r in kept)]]
            w = csv.DictWriter(f, fieldnames=cols)
            w.writeheader()
            w.writerows(kept)
        if (spec.root / "SOURCE.md").is_file():
            shutil.copy(spec.root / "SOURCE.md", dst / "SOURCE.md")
        # the spec as given, pointing at the shard; area filters are in shard pixels, so they scale with it
        tail = ":".join(s for s in specs[parsed.index(spec)].split(":")[1:])
        manifest["sets"].append({"name": spec.root.name, "spec": f"{spec.root.name}:{tail}" if tail else spec.root.name,
                                 "images": written, "of": len(images), "instances": len(kept), "bytes": used})
        log(f"{spec.root.name}: {written}/{len(images)} images, {len(kept)} objects, {used / 2**20:.1f} MiB")
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return manifest


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--data", action="append", help="training set spec as for pseudoclick train (default: its sets)")
    ap.add_argument("--max-mib", type=float, default=50.0)
    ap.add_argument("--side", type=int, default=448, help="long side of the images, px")
    ap.add_argument("--quality", type=int, default=85, help="JPEG quality")
    args = ap.parse_args(argv)
    m = build(args.out, args.data or DEFAULT_DATA, args.max_mib, args.side, args.quality,
              log=lambda s: print(s, file=sys.stderr))
    total = sum(s["bytes"] for s in m["sets"]) / 2**20
    print(f"wrote {args.out}: {sum(s['images'] for s in m['sets'])} images, {total:.1f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
