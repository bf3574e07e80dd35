"""``pseudoclick export PROJECT ...``: write COCO JSON, PNG masks and/or NIfTI label volumes."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import ProjectError, clean_message


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("project", help="an existing project file")
    parser.add_argument("--coco", metavar="OUT.json", help="COCO instances file (compressed RLE by default)")
    parser.add_argument("--polygons", action="store_true",
                        help="with --coco: polygons instead of RLE (holes are filled, with a warning)")  # fmt: skip
    parser.add_argument("--no-empty", action="store_true", help="with --coco: leave out images without objects")
    parser.add_argument("--image-root", metavar="DIR",
                        help="with --coco: the folder every file_name is relative to (default: the deepest folder "
                        "holding all the image files, or the JSON's folder when there are none); recorded as "
                        "info.image_root in the JSON")  # fmt: skip
    parser.add_argument("--no-slice-pngs", action="store_true",
                        help="with --coco: do not write the volume slices' PNGs (by default each slice the JSON "
                        "names, <volume>/<axis>_<index>.png, is written under the image root, 8-bit with the "
                        "volume's default window)")  # fmt: skip
    parser.add_argument("--png", metavar="DIR", help="one PNG per object and an instance-id PNG per image")
    parser.add_argument("--nifti", metavar="DIR", help="one label volume per annotated volume")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def run(args) -> int:
    from .store import ProjectStore

    if not (args.coco or args.png or args.nifti):
        raise ProjectError("nothing to export: give --coco, --png and/or --nifti")
    if args.polygons and not args.coco:
        raise ProjectError("--polygons goes with --coco")
    if (args.image_root or args.no_slice_pngs) and not args.coco:
        raise ProjectError("--image-root and --no-slice-pngs go with --coco")
    if Path(args.project).is_dir():
        raise ProjectError(f"{args.project}: is a folder, not a project file")
    if not Path(args.project).is_file():
        raise ProjectError(f"{args.project}: no such project file")
    progress = not args.no_progress
    with ProjectStore.open(args.project, read_only=True) as store:  # an export never writes into the project
        for w in store.warnings:
            print(f"warning: {clean_message(w)}", file=sys.stderr)
        if args.coco:
            from .export_coco import export_coco

            s = export_coco(store, args.coco, polygons=args.polygons, progress=progress,
                            include_empty=not args.no_empty, images_root=args.image_root,
                            write_slices=not args.no_slice_pngs)  # fmt: skip
            print(f"COCO: {s['images']} image(s), {s['annotations']} object(s), {s['categories']} "
                  f"categor{'y' if s['categories'] == 1 else 'ies'} -> {s['path']} ({s['seconds']:.2f} s); "
                  f"file_name relative to {s['image_root']}"
                  + (f"; {s['slice_pngs']} slice PNG(s) written there" if s["slice_pngs"] else ""),
                  file=sys.stderr)  # fmt: skip
            for w in s["warnings"]:
                print(f"warning: {w}", file=sys.stderr)
        if args.png:
            from .export_png import export_png

            s = export_png(store, args.png, progress=progress)
            print(f"PNG: {s['instance_pngs']} object mask(s) for {s['images']} image(s) -> {s['path']}", file=sys.stderr)
        if args.nifti:
            from .export_nifti import export_nifti

            s = export_nifti(store, args.nifti, progress=progress)
            print(f"NIfTI: {s['volumes']} label volume(s) ({s['dtype']}) -> {args.nifti}", file=sys.stderr)
            for w in s["warnings"]:
                print(f"warning: {w}", file=sys.stderr)
    return 0
