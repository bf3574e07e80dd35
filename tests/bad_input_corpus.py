"""A corpus of bad and awkward inputs for ``pseudoclick info|import|export``, built at run time, and a runner.

Each case is one command line. Expectations: ``error`` (a clear message on stderr and a non-zero exit),
``ok`` (exit 0) or ``warn`` (exit 0 and a warning naming the problem). Every run is classified as:

* ``clear``: expected error, non-zero exit, a short message without traceback or terminal escape codes
  (and naming the problem when the case says what to look for);
* ``correct``: expected success, exit 0 (with the expected warning for ``warn`` cases);
* ``traceback``: a Python traceback or an "internal error" line;
* ``hang``: still running at the timeout (killed);
* ``abort``: killed by a signal;
* ``silent``: bad input accepted with exit 0 (or a ``warn`` case without its warning);
* ``misleading``: non-zero exit with no message, the wrong message, escape codes, or a failure where
  success was expected.

Run it from a checkout (the code under test is the ``pseudoclick_gui`` package the runner's PYTHONPATH
finds first)::

    python tests/bad_input_corpus.py                       # this checkout
    python tests/bad_input_corpus.py --code /tmp/before    # another worktree, e.g. an older commit
    python tests/bad_input_corpus.py --fork                # fast: one pre-imported process, forked per case

It prints one line per case that is not ``clear``/``correct`` and the counts per class.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import signal
import sqlite3
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.append(str(Path(__file__).resolve().parent))  # run as a script or loaded by a test: tests/ helpers
from dicom_series import write_dicom_series  # noqa: E402

CLASSES = ("clear", "correct", "traceback", "hang", "abort", "silent", "misleading")
TIMEOUT_S = 30.0


@dataclass
class Case:
    name: str
    argv: list[str]
    expect: str = "error"  # "error" | "ok" | "warn"
    says: tuple[str, ...] = ()  # any of these (lower case) must appear in stderr+stdout
    tags: tuple[str, ...] = field(default_factory=tuple)


# ------------------------------------------------------------------------------------------- file makers
def _png_bytes(arr: np.ndarray) -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def _jpeg_bytes(arr: np.ndarray) -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _huge_png_header(w: int, h: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


def _photo(h=48, w=64, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 255, (h, w, 3), dtype=np.uint8)


def _good_project(path: Path, image: Path, volume: Path | None = None) -> None:
    """A small valid project (schema v2) with one image, one object, a draft click and a setting, written
    with plain sqlite3 through the package's own store (the schema is the store's)."""
    from pseudoclick_gui.project import ProjectStore

    with ProjectStore.open(path) as s:
        iid = s.add_image(image)
        cid = s.add_category("thing")
        h, w = s.image(iid).height, s.image(iid).width
        m = np.zeros((h, w), bool)
        m[5:20, 5:30] = True
        s.add_instance(iid, m, cid)
        s.record_click(iid, 10, 10, True)
        s.set_setting("gui.category", cid)
        if volume is not None:
            vid = s.add_volume(volume, kind="nifti", shape=(16, 16, 4), affine=np.eye(4))
            sid = s.add_image(None, volume_id=vid, axis="axial", slice_index=1)
            m2 = np.zeros((16, 16), bool)
            m2[2:9, 3:12] = True
            s.add_instance(sid, m2, cid)
    for suffix in ("-wal", "-shm", ".lock"):
        Path(str(path) + suffix).unlink(missing_ok=True)


def _mutate(src: Path, dst: Path, *sql: str) -> Path:
    shutil.copyfile(src, dst)
    conn = sqlite3.connect(dst, isolation_level=None)
    conn.execute("PRAGMA journal_mode = DELETE")
    conn.execute("PRAGMA ignore_check_constraints = ON")
    conn.execute("PRAGMA foreign_keys = OFF")
    for stmt in sql:
        conn.execute(stmt)
    conn.close()
    return dst


# ------------------------------------------------------------------------------------------------ corpus
def build_corpus(root: Path) -> list[Case]:
    """Write the bad inputs under ``root`` and return the cases (paths absolute)."""
    import nibabel as nib
    import tifffile

    root.mkdir(parents=True, exist_ok=True)
    f = root / "files"
    f.mkdir(exist_ok=True)
    cases: list[Case] = []
    good_png = f / "good.png"
    good_png.write_bytes(_png_bytes(_photo()))
    jpg = _jpeg_bytes(_photo(seed=1))
    png = _png_bytes(_photo(seed=2))

    # ---- single files through `info`
    singles = {
        "zero.png": b"",
        "trunc.png": png[: len(png) // 2],
        "trunc.jpg": jpg[: len(jpg) // 2],
        "text.png": b"this is not an image at all\n" * 4,
        "huge_header.png": _huge_png_header(200_000, 200_000),
        "garbage.nii.gz": b"\x1f\x8b garbage",
        "garbage.dcm": b"\x00" * 128 + b"DICM" + b"\xff" * 40,
        "noext": b"\x00" * 64,
    }
    for name, data in singles.items():
        (f / name).write_bytes(data)
        cases.append(Case(f"info {name}", ["info", str(f / name)], tags=("info",)))
    # gzip of a truncated NIfTI
    img = nib.Nifti1Image(np.arange(16 * 16 * 8, dtype=np.int16).reshape(16, 16, 8), np.eye(4))
    nib.save(img, f / "ok.nii.gz")
    raw = gzip.decompress((f / "ok.nii.gz").read_bytes())
    (f / "trunc.nii.gz").write_bytes(gzip.compress(raw[: len(raw) // 2]))
    cases.append(Case("info trunc.nii.gz", ["info", str(f / "trunc.nii.gz")], tags=("info",)))
    # NIfTI int16 with a slope that overflows float32
    big = nib.Nifti1Image(np.full((8, 8, 4), 30000, dtype=np.int16), np.eye(4))
    big.header.set_slope_inter(1e36, 0)
    nib.save(big, f / "huge_slope.nii.gz")
    cases.append(Case("info huge_slope.nii.gz", ["info", str(f / "huge_slope.nii.gz")], "warn",
                      says=("clipped",), tags=("info",)))  # fmt: skip
    # NaN volume: readable, but say so
    nan = np.zeros((8, 8, 4), np.float32)
    nan[2, 2, 1] = np.nan
    nib.save(nib.Nifti1Image(nan, np.eye(4)), f / "nan.nii.gz")
    cases.append(Case("info nan.nii.gz", ["info", str(f / "nan.nii.gz")], "warn", says=("nan or infinite",),
                      tags=("info",)))  # fmt: skip
    # 5-D and complex TIFFs, a 1x1 PNG, a GIF
    tifffile.imwrite(f / "five_d.tif", np.zeros((2, 3, 2, 16, 16), np.uint8), imagej=True)
    tifffile.imwrite(f / "complex.tif", (np.ones((16, 16)) * (1 + 2j)).astype(np.complex64))
    (f / "one.png").write_bytes(_png_bytes(np.zeros((1, 1, 3), np.uint8)))
    from PIL import Image

    Image.fromarray(_photo()).save(f / "anim.gif")
    cases.append(Case("info complex.tif", ["info", str(f / "complex.tif")], tags=("info",)))
    # special files
    os.symlink(f / "does-not-exist.png", f / "dangling.png")
    cases.append(Case("info dangling link", ["info", str(f / "dangling.png")], says=("not found", "broken", "link"),
                      tags=("info",)))  # fmt: skip
    if hasattr(os, "mkfifo"):
        os.mkfifo(f / "fifo")
        os.mkfifo(f / "fifo.png")
        cases.append(Case("info fifo (no suffix)", ["info", str(f / "fifo")], says=("regular file",), tags=("info",)))
        cases.append(Case("info fifo.png", ["info", str(f / "fifo.png")], says=("regular file",), tags=("info",)))
    cases.append(Case("info missing", ["info", str(f / "nope.png")], says=("not found",), tags=("info",)))
    cases.append(Case("info page 5 of a png", ["info", str(good_png), "--page", "5"], says=("page",), tags=("info",)))
    empty_dir = root / "empty_dir"
    empty_dir.mkdir(exist_ok=True)
    cases.append(Case("info empty folder", ["info", str(empty_dir)], tags=("info",)))
    esc = f / "esc\x1b[31mred.png"
    esc.write_bytes(b"not a png")
    cases.append(Case("info escape codes in the name", ["info", str(esc)], tags=("info",)))
    # DICOM: a file whose folder has a backup copy of the series in a sub-folder
    dcm = root / "dicom"
    slices = [np.arange(256, dtype=np.int16).reshape(16, 16) * (k + 1) for k in range(3)]
    files = write_dicom_series(dcm / "series", slices, [(0.0, 0.0, float(k)) for k in range(3)],
                               pixel_spacing=(1.0, 1.0), intercept=-1024.0)  # fmt: skip
    (dcm / "series" / "backup").mkdir()
    shutil.copy(files[1], dcm / "series" / "backup" / files[1].name)
    cases.append(Case("info dicom file beside a backup sub-folder", ["info", str(files[0])], "ok", tags=("info",)))

    # ---- import --images: each awkward file alone in a folder
    proj = root / "projects"
    proj.mkdir(exist_ok=True)
    awkward = {
        "trunc.jpg": f / "trunc.jpg",
        "trunc.png": f / "trunc.png",
        "zero.png": f / "zero.png",
        "one.png": f / "one.png",
        "five_d.tif": f / "five_d.tif",
        "complex.tif": f / "complex.tif",
        "anim.gif": f / "anim.gif",
        "text.png": f / "text.png",
        "huge_header.png": f / "huge_header.png",
    }
    for k, (name, src) in enumerate(awkward.items()):
        d = root / f"imgdir_{k}"
        d.mkdir(exist_ok=True)
        shutil.copy(src, d / name)
        shutil.copy(good_png, d / "fine.png")
        cases.append(Case(f"import --images with {name}", ["import", str(proj / f"imp_{k}.pcproj"), "--images", str(d),
                                                           "--no-progress"], says=(name,), tags=("import",)))  # fmt: skip
    d = root / "imgdir_links"
    d.mkdir(exist_ok=True)
    shutil.copy(good_png, d / "fine.png")
    os.symlink(d / "gone.png", d / "dangling.png")
    cases.append(Case("import --images with a dangling link", ["import", str(proj / "links.pcproj"), "--images", str(d),
                                                               "--no-progress"], says=("dangling",), tags=("import",)))  # fmt: skip
    if hasattr(os, "mkfifo"):
        d = root / "imgdir_fifo"
        d.mkdir(exist_ok=True)
        shutil.copy(good_png, d / "fine.png")
        os.mkfifo(d / "pipe.png")
        cases.append(Case("import --images with a FIFO", ["import", str(proj / "fifo.pcproj"), "--images", str(d),
                                                          "--no-progress"], says=("pipe.png",), tags=("import",)))  # fmt: skip
    cases.append(Case("import --images missing folder", ["import", str(proj / "m.pcproj"), "--images",
                                                         str(root / "nope"), "--no-progress"], tags=("import",)))  # fmt: skip

    # ---- COCO files
    cdir = root / "coco"
    cdir.mkdir(exist_ok=True)
    shutil.copy(good_png, cdir / "good.png")
    base = {
        "images": [{"id": 1, "file_name": "good.png", "width": 64, "height": 48}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "segmentation": [[5, 5, 30, 5, 30, 20, 5, 20]]}],
        "categories": [{"id": 1, "name": "cat_a"}, {"id": 2, "name": "cat_b"}],
    }

    def coco_case(name: str, data, says=(), raw: str | None = None) -> None:
        p = cdir / f"{name}.json"
        p.write_text(raw if raw is not None else json.dumps(data))
        cases.append(Case(f"import --coco {name}", ["import", str(proj / f"coco_{name}.pcproj"), "--coco", str(p),
                                                    "--no-progress"], says=says, tags=("coco",)))  # fmt: skip

    def variant(**changes):
        d = json.loads(json.dumps(base))
        for k, v in changes.items():
            d[k] = v
        return d

    coco_case("not_json", None, raw="{not json", says=("json",))
    coco_case("top_level_list", [base])
    coco_case("images_null", variant(images=None), says=("images",))
    coco_case("image_without_id", variant(images=[{"file_name": "good.png"}]), says=("id",))
    coco_case("category_without_id", variant(categories=[{"name": "x"}]), says=("id",))
    coco_case("non_dict_image", variant(images=[1, 2]), says=("image",))
    coco_case("non_dict_annotation", variant(annotations=["x"]), says=("annotation",))
    coco_case("annotations_not_list", variant(annotations={"a": 1}), says=("annotations",))
    coco_case("nan_polygon", None, raw=json.dumps(base).replace("[5, 5, 30", "[NaN, 5, 30"), says=("nan", "finite"))
    coco_case("deep_nesting", None, raw='{"images": ' + "[" * 100000 + "]" * 100000 + "}", says=("deep", "nest"))
    coco_case("string_id", variant(images=[{"id": "one", "file_name": "good.png"}]), says=("id",))
    coco_case("unknown_category", variant(annotations=[dict(base["annotations"][0], category_id=9)]), says=("category_id 9",))
    coco_case("missing_image_file", variant(images=[{"id": 1, "file_name": "gone.png"}]), says=("gone.png",))
    coco_case("bad_rle", variant(annotations=[dict(base["annotations"][0], segmentation={"counts": 5, "size": [48, 64]})]))
    coco_case("segmentation_string", variant(annotations=[dict(base["annotations"][0], segmentation="abc")]))
    coco_case("duplicate_image_ids", variant(images=base["images"] * 2), says=("duplicate", "twice"))

    # ---- projects
    vol = f / "ok.nii.gz"
    good = proj / "good.pcproj"
    _good_project(good, good_png, vol)
    bad_projects = {
        "missing_drafts": ("DROP TABLE drafts",),
        "bad_setting": ("INSERT OR REPLACE INTO settings (key, value) VALUES ('gui.category', 'not json')",),
        "bad_click_kind": ("UPDATE clicks SET kind = 'bogus'",),
        "bad_volume_shape": ("UPDATE volumes SET shape = 'not json'",),
        "size0_image": ("UPDATE images SET width = 0, height = 0 WHERE volume_id IS NULL",),
        "newer_schema": ("PRAGMA user_version = 99",),
        "foreign_db": ("DROP TABLE drafts", "DROP TABLE clicks", "DROP TABLE instances", "DROP TABLE images",
                       "DROP TABLE volumes", "DROP TABLE categories", "DROP TABLE settings", "DROP TABLE meta",
                       "PRAGMA application_id = 0", "PRAGMA user_version = 0", "CREATE TABLE other (x)"),
    }  # fmt: skip
    expect_export = {"bad_setting": "ok", "bad_click_kind": "ok"}
    for name, sql in bad_projects.items():
        p = _mutate(good, proj / f"{name}.pcproj", *sql)
        out = root / f"out_{name}"
        cases.append(Case(f"export --coco {name}", ["export", str(p), "--coco", str(out / "c.json"), "--no-progress"],
                          expect_export.get(name, "error"), tags=("project",)))  # fmt: skip
        if name in ("size0_image", "bad_volume_shape"):
            cases.append(Case(f"export --png {name}", ["export", str(p), "--png", str(out / "png"), "--no-progress"],
                              tags=("project",)))  # fmt: skip
            # the size-0 row is a plain image, which a NIfTI export does not involve
            cases.append(Case(f"export --nifti {name}", ["export", str(p), "--nifti", str(out / "nii"),
                                                         "--no-progress"], "ok" if name == "size0_image" else "error",
                              tags=("project",)))  # fmt: skip
        # opening for writing repairs a size-0 row whose file is still there, and says so
        expect, says = {"bad_setting": ("ok", ()), "bad_click_kind": ("ok", ()),
                        "size0_image": ("warn", ("repaired",))}.get(name, ("error", ()))  # fmt: skip
        cases.append(Case(f"import into {name}", ["import", str(p), "--images", str(cdir), "--no-progress"],
                          expect, says=says, tags=("project",)))  # fmt: skip
    trunc = proj / "truncated.pcproj"
    data = good.read_bytes()
    trunc.write_bytes(data[: len(data) // 2])
    cases.append(Case("export a truncated project", ["export", str(trunc), "--coco", str(root / "t.json")], tags=("project",)))
    garbage = proj / "garbage.pcproj"
    garbage.write_bytes(os.urandom(4096))
    cases.append(Case("export a garbage project", ["export", str(garbage), "--coco", str(root / "g.json")], tags=("project",)))
    zero = proj / "zero.pcproj"
    zero.write_bytes(b"")
    cases.append(Case("export a zero-byte project", ["export", str(zero), "--coco", str(root / "z.json")],
                      says=("empty",), tags=("project",)))  # fmt: skip
    cases.append(Case("export a missing project", ["export", str(proj / "nope.pcproj"), "--coco", str(root / "n.json")],
                      tags=("project",)))  # fmt: skip
    cases.append(Case("export a folder as project", ["export", str(proj), "--coco", str(root / "f.json")], tags=("project",)))
    a_file = root / "a_file"
    a_file.write_text("x")
    cases.append(Case("export --png onto a file", ["export", str(good), "--png", str(a_file), "--no-progress"],
                      tags=("project",)))  # fmt: skip
    cases.append(Case("export --coco into a folder path", ["export", str(good), "--coco", str(proj), "--no-progress"],
                      tags=("project",)))  # fmt: skip
    cases.append(Case("export --coco under a file", ["export", str(good), "--coco", str(a_file / "x.json"),
                                                     "--no-progress"], tags=("project",)))  # fmt: skip
    cases.append(Case("import into a project under a file", ["import", str(a_file / "p.pcproj"), "--images",
                                                             str(cdir), "--no-progress"], tags=("project",)))  # fmt: skip
    cases.append(Case("import into a garbage project", ["import", str(garbage), "--images", str(cdir), "--no-progress"],
                      tags=("project",)))  # fmt: skip
    cases.append(Case("import --volume truncated", ["import", str(proj / "v.pcproj"), "--volume",
                                                    str(f / "trunc.nii.gz"), "--no-progress"], tags=("project",)))  # fmt: skip
    cases.append(Case("import --volume with labels of another shape", [
        "import", str(proj / "v2.pcproj"), "--volume", str(f / "ok.nii.gz"), "--labels", str(f / "huge_slope.nii.gz"),
        "--no-progress"], says=("shape",), tags=("project",)))  # fmt: skip
    if os.geteuid() != 0 if hasattr(os, "geteuid") else True:  # root ignores file modes
        ro = proj / "readonly.pcproj"
        shutil.copyfile(good, ro)
        os.chmod(ro, 0o444)
        cases.append(Case("export a read-only project", ["export", str(ro), "--coco", str(root / "ro.json"),
                                                         "--no-progress"], "ok", tags=("project",)))  # fmt: skip
        cases.append(Case("import into a read-only project", ["import", str(ro), "--images", str(cdir),
                                                              "--no-progress"], says=("read-only",), tags=("project",)))  # fmt: skip
    return cases


# ------------------------------------------------------------------------------------------------ runner
def classify(case: Case, rc: int | None, out: str, err: str) -> str:
    text = (out + "\n" + err).lower()
    if rc is None:
        return "hang"
    if rc < 0:
        return "abort"
    if "traceback (most recent call last)" in text or "internal error" in text:
        return "traceback"
    if case.expect in ("ok", "warn"):
        if rc != 0:
            return "misleading"
        if case.expect == "warn" and not any(s in text for s in case.says):
            return "silent"
        return "correct"
    if rc == 0:
        return "silent"
    if not err.strip() or "\x1b" in err:
        return "misleading"
    if case.says and not any(s.lower() in text for s in case.says):
        return "misleading"
    return "clear"


def _subprocess_run(case: Case, code: Path | None, cwd: Path, timeout: float) -> tuple[int | None, str, str]:
    env = dict(os.environ)
    if code is not None:
        env["PYTHONPATH"] = os.pathsep.join([os.fspath(code), env.get("PYTHONPATH", "")])
    env.pop("PSEUDOCLICK_DEBUG", None)
    proc = subprocess.Popen([sys.executable, "-m", "pseudoclick_gui.cli", *case.argv], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                            start_new_session=True)  # fmt: skip
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return None, "", ""
    return proc.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")


def _fork_run(case: Case, cwd: Path, timeout: float) -> tuple[int | None, str, str]:
    """Run ``pseudoclick_gui.cli.main(argv)`` in a forked child of this (pre-imported) process: the child
    prints an escaping exception's traceback as the interpreter would, and exits with its status."""
    with tempfile.TemporaryFile() as fo, tempfile.TemporaryFile() as fe:
        pid = os.fork()
        if pid == 0:  # child
            code = 1
            try:
                os.chdir(cwd)
                os.dup2(fo.fileno(), 1)
                os.dup2(fe.fileno(), 2)
                devnull = os.open(os.devnull, os.O_RDONLY)
                os.dup2(devnull, 0)
                sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115
                sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115
                from pseudoclick_gui.cli import main

                try:
                    code = main(case.argv)
                except SystemExit as exc:
                    code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
                except BaseException:
                    import traceback

                    traceback.print_exc()
                    code = 1
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os._exit(int(code or 0) & 0xFF)
        deadline = time.monotonic() + timeout
        status = None
        while time.monotonic() < deadline:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            time.sleep(0.005)
        else:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return None, "", ""
        rc = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
        fo.seek(0)
        fe.seek(0)
        return rc, fo.read().decode("utf-8", "replace"), fe.read().decode("utf-8", "replace")


def run_corpus(root: Path, *, fork: bool = False, code: Path | None = None, timeout: float = TIMEOUT_S,
               cases: list[Case] | None = None) -> list[tuple[Case, str, int | None, str, str]]:  # fmt: skip
    cases = cases if cases is not None else build_corpus(root)
    results = []
    for case in cases:
        if fork:
            rc, out, err = _fork_run(case, root, timeout)
        else:
            rc, out, err = _subprocess_run(case, code, root, timeout)
        results.append((case, classify(case, rc, out, err), rc, out, err))
    return results


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--code", type=Path, help="a checkout whose pseudoclick_gui package runs the commands")
    ap.add_argument("--fork", action="store_true", help="fork a pre-imported process per case (this checkout only)")
    ap.add_argument("--timeout", type=float, default=TIMEOUT_S, help="seconds per case before it counts as a hang")
    ap.add_argument("--keep", type=Path, help="build the corpus here and keep it")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every case's class and message")
    ap.add_argument("--json", type=Path, help="also write every case's result here")
    args = ap.parse_args(argv)
    if args.fork and args.code:
        ap.error("--fork runs this checkout's code; leave out --code")
    tmp = None
    root = args.keep
    if root is None:
        tmp = tempfile.TemporaryDirectory(prefix="pseudoclick-corpus-")
        root = Path(tmp.name)
    try:
        t0 = time.monotonic()
        results = run_corpus(root, fork=args.fork, code=args.code, timeout=args.timeout)
        counts = dict.fromkeys(CLASSES, 0)
        for case, cls, rc, _out, err in results:
            counts[cls] += 1
            if args.verbose or cls not in ("clear", "correct"):
                last = (err.strip().splitlines() or [""])[-1][:160]
                print(f"{cls:10s} rc={rc!s:4s} {case.name}: {last!r}")
        if args.json:
            args.json.write_text(json.dumps([
                {"name": c.name, "class": cls, "rc": rc, "stdout": out[-2000:], "stderr": err[-2000:]}
                for c, cls, rc, out, err in results
            ]))  # fmt: skip
        print(f"{len(results)} cases in {time.monotonic() - t0:.1f} s: "
              + ", ".join(f"{k} {v}" for k, v in counts.items()))  # fmt: skip
        return 0 if counts["clear"] + counts["correct"] == len(results) else 1
    finally:
        if tmp is not None:
            tmp.cleanup()


if __name__ == "__main__":
    sys.exit(main())
