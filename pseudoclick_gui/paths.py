"""Where shipped files (checkpoints, samples) live, in a checkout, an installed wheel or a PyInstaller bundle."""

from __future__ import annotations

import os
import sys
from pathlib import Path

_PKG = Path(__file__).resolve().parent


def _roots() -> list[Path]:
    roots: list[Path] = []
    meipass = getattr(sys, "_MEIPASS", None)
    if meipass:  # PyInstaller bundle
        roots.append(Path(meipass))
    roots.append(_PKG.parent)  # source checkout / editable install
    roots.append(Path(sys.prefix) / "share" / "pseudoclick-gui")  # wheel data-files
    return roots


def models_dirs() -> list[Path]:
    """Folders searched for checkpoints, first wins. ``$PSEUDOCLICK_MODELS`` goes first when set."""
    dirs = []
    env = os.environ.get("PSEUDOCLICK_MODELS")
    if env:
        dirs.append(Path(env))
    dirs += [r / "models" for r in _roots()]
    return [d for d in dirs if d.is_dir()]


def samples_dir() -> Path | None:
    for r in _roots():
        d = r / "resources" / "samples"
        if d.is_dir():
            return d
    return None


def resources_dir() -> Path | None:
    for r in _roots():
        d = r / "resources"
        if d.is_dir():
            return d
    return None
