"""``pseudoclick export PROJECT ...``: write COCO JSON, PNG masks and/or NIfTI label volumes."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import ProjectError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("project", help="an existing project file")
    parser.add_argument("--coco", metavar="OUT.json", help="COCO instances file (compressed RLE by default)")
    parser.add_argument("--polygons", action="store_true",
                        help="with --coco: polygons instead of RLE (holes are filled, with a warning)")  # fmt: skip
    parser.add_argument("--no-empty", action="store_true", help="with --coco: leave out images without objects")
    parser.add_argument("--png", metavar="DIR", help="one PNG per object and an instance-id PNG per image")
    parser.add_argument("--nifti", metavar="DIR", help="one label volume per annotated volume")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def run(args) -> int:
    from .store import ProjectStore

    if not (args.coco or args.png or args.nifti):
        raise ProjectError("nothing to export: give --coco, --png and/or --nifti")
    if args.polygons and not args.coco:
        raise ProjectError("--polygons goes with --coco")
    if not Path(args.project).is_file():
        raise ProjectError(f"{args.project}: no such project file")
    progress = not args.no_progress
    with ProjectStore.open(args.project) as store:
        if args.coco:
            from .export_coco import export_coco

            s = export_coco(store, args.coco, polygons=args.polygons, progress=progress,
                            include_empty=not args.no_empty)  # fmt: skip
            print(f"COCO: {s['images']} image(s), {s['annotations']} object(s), {s['categories']} "
                  f"categor{'y' if s['categories'] == 1 else 'ies'} -> {s['path']} ({s['seconds']:.2f} s)",
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
