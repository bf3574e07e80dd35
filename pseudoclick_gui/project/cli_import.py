"""``pseudoclick import PROJECT ...``: add images, masks, a COCO file or a volume to a project (created
when missing)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import ProjectError, clean_message


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("project", help="project file (created when missing)")
    parser.add_argument("--images", metavar="DIR", help="folder of images (also where --coco file_names live)")
    parser.add_argument("--masks", metavar="DIR", help="mask PNGs <stem>.png or <stem>_<k>.png, non-zero = object")
    parser.add_argument("--coco", metavar="FILE", help="COCO instances JSON (RLE or polygons)")
    parser.add_argument("--category", metavar="NAME", help="category for --masks / --labels objects")
    parser.add_argument("--volume", metavar="IMAGE", help="a volume (NIfTI, or what pseudoclick info can read)")
    parser.add_argument("--labels", metavar="LABELS", help="label volume on the --volume grid: each label value "
                        "on each slice becomes an object to refine")  # fmt: skip
    parser.add_argument("--axis", default="axial", choices=("axial", "coronal", "sagittal"),
                        help="slice axis for --labels (default axial)")  # fmt: skip
    parser.add_argument("--components", action="store_true",
                        help="with --labels: one object per connected component instead of per label value")  # fmt: skip
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def run(args) -> int:
    from .import_masks import ImportReport, import_coco, import_images, import_masks, import_volume
    from .store import ProjectStore

    if not (args.images or args.coco or args.volume):
        raise ProjectError("nothing to import: give --images, --coco or --volume")
    if args.masks and not args.images:
        raise ProjectError("--masks needs --images (the images the masks belong to)")
    if args.labels and not args.volume:
        raise ProjectError("--labels needs --volume")
    progress = not args.no_progress
    report = ImportReport()
    with ProjectStore.open(args.project) as store:
        if store.read_only:
            raise ProjectError(f"{args.project}: cannot import into this project: {store.read_only_reason}")
        for w in store.warnings:
            report.warnings.append(w)
        ids = None
        if args.coco:
            images_dir = args.images or Path(args.coco).parent
            import_coco(store, args.coco, images_dir, report=report, progress=progress)
        elif args.images:
            ids = import_images(store, args.images, report=report, progress=progress)
        if args.masks:
            import_masks(store, ids, args.masks, category=args.category or "object", report=report,
                         progress=progress)  # fmt: skip
        if args.volume:
            import_volume(store, args.volume, labels=args.labels, axis=args.axis, category=args.category,
                          components=args.components, report=report, progress=progress)  # fmt: skip
    print(clean_message(report.summary()), file=sys.stderr)
    return 1 if report.errors else 0
