"""The bad-input corpus (tests/bad_input_corpus.py) through ``pseudoclick info|import|export``: every case
ends in a clear message and a non-zero exit (or the right result), never a traceback, abort or hang."""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


def _corpus_module():
    spec = importlib.util.spec_from_file_location("bad_input_corpus", HERE / "bad_input_corpus.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def _env():
    return dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="the fast corpus runner forks")
def test_every_corpus_case_ends_in_a_clear_error_or_the_right_result(tmp_path):
    out = tmp_path / "results.json"
    # one clean interpreter that forks a child per case (no threads of this pytest process are forked)
    proc = subprocess.run([sys.executable, str(HERE / "bad_input_corpus.py"), "--fork", "--timeout", "20",
                           "--keep", str(tmp_path / "corpus"), "--json", str(out)],
                          capture_output=True, text=True, timeout=240, env=_env(), cwd=REPO)  # fmt: skip
    assert out.is_file(), proc.stdout + proc.stderr
    results = json.loads(out.read_text())
    assert len(results) >= 60
    bad = [f"{r['class']}: {r['name']}: {r['stderr'][-300:]!r}" for r in results if r["class"] not in ("clear", "correct")]
    assert not bad, "\n".join(bad)
    for r in results:
        if r["class"] == "clear":
            lines = [ln for ln in r["stderr"].splitlines() if ln.strip()]
            assert lines and "\x1b" not in r["stderr"], r
            assert len(lines) <= 12, r  # one line, or an import's short list of the files it skipped


def test_real_subprocesses_for_the_worst_cases(tmp_path):
    """A few cases through the real entry point (``python -m pseudoclick_gui.cli``), each with a timeout:
    a FIFO (used to hang), deep JSON (used to raise RecursionError), an escape code in a file name."""
    mod = _corpus_module()
    cases = [c for c in mod.build_corpus(tmp_path) if c.name in (
        "info fifo (no suffix)", "import --coco deep_nesting", "info escape codes in the name",
        "export --png onto a file")]  # fmt: skip
    assert len(cases) >= 3
    for case in cases:
        rc, out, err = mod._subprocess_run(case, REPO, tmp_path, 60)
        assert mod.classify(case, rc, out, err) == "clear", (case.name, rc, err)
        assert "Traceback" not in err and err.strip().count("\n") == 0, err


def test_classify():
    mod = _corpus_module()
    c = mod.Case("x", [])
    assert mod.classify(c, None, "", "") == "hang"
    assert mod.classify(c, -6, "", "") == "abort"
    assert mod.classify(c, 1, "", "Traceback (most recent call last):\n") == "traceback"
    assert mod.classify(c, 0, "", "") == "silent"
    assert mod.classify(c, 1, "", "") == "misleading"
    assert mod.classify(c, 1, "", "pseudoclick info: error: \x1b[31m") == "misleading"
    assert mod.classify(c, 1, "", "pseudoclick info: error: bad") == "clear"
    assert mod.classify(mod.Case("w", [], "warn", says=("clip",)), 0, "{}", "") == "silent"
