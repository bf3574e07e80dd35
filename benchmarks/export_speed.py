"""Time ``export_coco`` on a synthetic project of 10,000 instances (prints, asserts nothing).

    python benchmarks/export_speed.py [--instances 10000] [--size 512] [--polygons]

Builds the project in a temporary folder: 100 images (size x size, only headers matter: sizes are given to
the store, no pixels are written) with instances that are random ellipses, some with holes; the build is
timed too (one transaction per 500 instances, as an import does).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pseudoclick_gui.project import ProjectStore  # noqa: E402
from pseudoclick_gui.project.export_coco import export_coco  # noqa: E402


def ellipse(h, w, rng):
    yy, xx = np.ogrid[:h, :w]
    cy, cx = rng.uniform(0.1, 0.9) * h, rng.uniform(0.1, 0.9) * w
    ry, rx = rng.uniform(5, h / 6), rng.uniform(5, w / 6)
    m = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1
    if rng.random() < 0.3:
        m &= ((yy - cy) / (ry / 3)) ** 2 + ((xx - cx) / (rx / 3)) ** 2 > 1
    return m


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--instances", type=int, default=10_000)
    ap.add_argument("--images", type=int, default=100)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--polygons", action="store_true")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    masks = [ellipse(args.size, args.size, rng) for _ in range(64)]  # reused: encoding cost is still paid
    with tempfile.TemporaryDirectory() as tmp:
        store = ProjectStore.open(Path(tmp) / "bench.pcproj", synchronous="NORMAL")
        t0 = time.perf_counter()
        cat = store.add_category("object")
        ids = []
        with store.transaction():
            for i in range(args.images):
                ids.append(store.add_image(Path(tmp) / f"img_{i:05d}.png", width=args.size, height=args.size,
                                           checksum="synthetic"))  # fmt: skip
        for start in range(0, args.instances, 500):
            with store.transaction():
                for i in range(start, min(start + 500, args.instances)):
                    store.add_instance(ids[i % len(ids)], masks[i % len(masks)], cat, source="bench",
                                       attach_draft=False)  # fmt: skip
        t_build = time.perf_counter() - t0
        out = Path(tmp) / "coco.json"
        summary = export_coco(store, out, polygons=args.polygons, progress=False)
        size_mb = out.stat().st_size / 1e6
        store.close()
    print(f"built {args.instances} instances on {args.images} images of {args.size}x{args.size} in {t_build:.2f} s")
    print(f"export_coco ({summary['format']}): {summary['annotations']} annotations in {summary['seconds']:.2f} s "
          f"({size_mb:.1f} MB JSON)")  # fmt: skip


if __name__ == "__main__":
    main()
