"""``pseudoclick``: one command line with subcommands.

Each subcommand lives in its own module exposing ``add_arguments(parser)`` and ``run(args) -> int``;
modules are imported lazily so that e.g. ``pseudoclick info`` never imports torch.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from . import __version__
from .errors import PseudoClickError, clean_message

SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "eval": ("pseudoclick_gui.evaluation.cli", "evaluate a checkpoint with the standard robot user (NoC, mIoU@k)"),
    "train": ("pseudoclick_gui.training.cli", "train PseudoClickNet on dataset folders"),
    "import": ("pseudoclick_gui.project.cli_import", "add images, masks, COCO files or volumes to a project"),
    "export": ("pseudoclick_gui.project.cli_export", "export a project to COCO, PNG or NIfTI"),
    "info": ("pseudoclick_gui.io.cli_info", "print what an image or volume holds, as JSON"),
    "serve": ("pseudoclick_gui.serve.cli", "serve the model to Label Studio as an ML backend (masks, pseudo clicks)"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pseudoclick", description="PseudoClick GUI on the command line: evaluate "
                                     "and train the model, import, export and inspect data, serve Label Studio. "
                                     "The app itself is pseudoclick-gui.")
    parser.add_argument("--version", action="version", version=f"pseudoclick {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:  # a subcommand not built yet
            if exc.name != module:
                raise
            p.set_defaults(_module=None)
            continue
        mod.add_arguments(p)
        p.set_defaults(_module=mod)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    mod = args._module
    if mod is None:
        print(f"pseudoclick {args.command}: not available in this build", file=sys.stderr)
        return 2
    try:
        return int(mod.run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except PseudoClickError as exc:
        print(f"pseudoclick {args.command}: error: {clean_message(exc)}", file=sys.stderr)
        return 1
    except Exception as exc:  # never a traceback for bad input; PSEUDOCLICK_DEBUG=1 shows it
        if os.environ.get("PSEUDOCLICK_DEBUG"):
            raise
        print(f"pseudoclick {args.command}: error: {clean_message(_describe(exc))}", file=sys.stderr)
        return 1


def _describe(exc: BaseException) -> str:
    """One line for an exception that is not a PseudoClickError."""
    import sqlite3

    if isinstance(exc, OSError) and exc.strerror:
        where = f"{exc.filename}: " if exc.filename else ""
        return f"{where}{exc.strerror}"
    if isinstance(exc, MemoryError):
        return "not enough memory"
    if isinstance(exc, RecursionError):
        return "input nested too deeply"
    if isinstance(exc, sqlite3.Error):
        return f"project database error: {exc}"
    first = (str(exc).strip().splitlines() or [""])[0]
    return f"internal error ({type(exc).__name__}: {first}); please report it, with PSEUDOCLICK_DEBUG=1 for details"


if __name__ == "__main__":
    sys.exit(main())
