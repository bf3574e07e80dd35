"""The layers stay apart (as napari's tests hold its layers/_qt split): the engine never imports Qt; io/ and
project/ never import torch or Qt; the engine's Session stays small. Each check imports every module of a
package in a fresh interpreter and lists what came in."""

import inspect
import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {"pseudoclick_gui.engine": ("PySide6", "shiboken6"),
            "pseudoclick_gui.io": ("torch", "PySide6", "shiboken6"),
            "pseudoclick_gui.project": ("torch", "PySide6", "shiboken6"),
            "pseudoclick_gui.evaluation": ("PySide6", "shiboken6"),
            "pseudoclick_gui.training": ("PySide6", "shiboken6")}


def _modules(package: str) -> list[str]:
    folder = ROOT / package.replace(".", "/")
    return [package] + [f"{package}.{m.name}" for m in pkgutil.iter_modules([str(folder)])]


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_a_layer_never_imports_what_it_must_not(package):
    code = ("import importlib, json, sys\n"
            f"for m in {_modules(package)!r}: importlib.import_module(m)\n"
            "print(json.dumps(sorted({n.split('.')[0] for n in sys.modules})))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    loaded = set(json.loads(out.stdout.strip().splitlines()[-1]))
    assert not loaded & set(PACKAGES[package]), f"{package} pulls in {sorted(loaded & set(PACKAGES[package]))}"


def test_the_session_stays_as_small_as_its_job():
    from pseudoclick_gui.engine.session import Session

    params = [p for p in inspect.signature(Session.__init__).parameters if p != "self"]
    assert len(params) <= 10, params
    assert len((ROOT / "pseudoclick_gui/engine/session.py").read_text().splitlines()) < 600
