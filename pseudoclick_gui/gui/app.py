"""``pseudoclick-gui``: start the app.

    pseudoclick-gui                     # last project, or the sample image on first start
    pseudoclick-gui --sample            # the bundled sample photo with the shipped model
    pseudoclick-gui --project FILE      # open / create a project
    pseudoclick-gui IMAGE... | FOLDER   # add images (to --project, or an autosave project)
    pseudoclick-gui VOLUME              # a NIfTI file, DICOM folder/file, BraTS case folder, multi-page TIFF
    pseudoclick-gui --volume PATH       # also a folder of section images (read as a stack)
    pseudoclick-gui --smoke             # offscreen self-test: sample image, one click, exit 0

On Linux the app first checks that the libraries of Qt's X11 platform plugin are installed and, when some are
not, prints one line naming the Debian/Ubuntu packages to install (:func:`missing_xcb_packages`).
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import subprocess
import sys
import tempfile
import time
import traceback

from .. import __version__

log = logging.getLogger("pseudoclick_gui.gui")


# shared library of Qt's xcb plugin (or of what it loads) -> the Debian/Ubuntu package that provides it
XCB_PACKAGES = {
    "libxcb-cursor.so.0": "libxcb-cursor0", "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1", "libxcb-image.so.0": "libxcb-image0",
    "libxcb-render-util.so.0": "libxcb-render-util0", "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0", "libxkbcommon.so.0": "libxkbcommon0",
    "libxcb-randr.so.0": "libxcb-randr0", "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-xfixes.so.0": "libxcb-xfixes0", "libxcb-sync.so.1": "libxcb-sync1", "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-xinerama.so.0": "libxcb-xinerama0", "libxcb-xinput.so.0": "libxcb-xinput0",
    "libxcb-render.so.0": "libxcb-render0", "libxcb-util.so.1": "libxcb-util1", "libxcb-glx.so.0": "libxcb-glx0",
    "libX11-xcb.so.1": "libx11-xcb1", "libxcb.so.1": "libxcb1", "libX11.so.6": "libx11-6", "libSM.so.6": "libsm6",
    "libICE.so.6": "libice6", "libEGL.so.1": "libegl1", "libGL.so.1": "libgl1", "libOpenGL.so.0": "libopengl0",
    "libfontconfig.so.1": "libfontconfig1", "libfreetype.so.6": "libfreetype6", "libdbus-1.so.3": "libdbus-1-3",
    "libglib-2.0.so.0": "libglib2.0-0",
}  # fmt: skip


def xcb_plugin() -> str | None:
    """Path of Qt's xcb platform plugin (``libqxcb.so``) in the installed PySide6, or None."""
    try:
        import PySide6
    except ImportError:
        return None
    p = os.path.join(os.path.dirname(PySide6.__file__), "Qt", "plugins", "platforms", "libqxcb.so")
    return p if os.path.isfile(p) else None


def missing_xcb_packages(ldd_output: str | None = None) -> list[str]:
    """The Debian/Ubuntu packages whose libraries Qt's xcb plugin needs and the dynamic linker cannot find
    (``ldd libqxcb.so``); a library not in :data:`XCB_PACKAGES` is listed by its own name."""
    if ldd_output is None:
        plugin = xcb_plugin()
        if plugin is None:
            return []
        try:
            ldd_output = subprocess.run(["ldd", plugin], capture_output=True, text=True, timeout=20).stdout
        except (OSError, subprocess.SubprocessError):
            return []
    out: list[str] = []
    for m in re.finditer(r"^\s*(\S+)\s+=>\s+not found", ldd_output, re.MULTILINE):
        pkg = XCB_PACKAGES.get(m.group(1), m.group(1))
        if pkg not in out:
            out.append(pkg)
    return out


def check_platform_libraries() -> str:
    """One line for the user when the X11 plugin cannot load (Linux, xcb platform), else ""."""
    if not sys.platform.startswith("linux") or os.environ.get("QT_QPA_PLATFORM", "xcb").split(":")[0] not in ("", "xcb"):
        return ""
    missing = missing_xcb_packages()
    if not missing:
        return ""
    return (f"pseudoclick-gui: Qt's X11 plugin cannot load: system libraries are missing. Install them with: "
            f"sudo apt-get install {' '.join(missing)}")  # fmt: skip


def _check_finite(session) -> None:
    """CheckpointError when the network's weights hold NaN or infinite values (a damaged checkpoint)."""
    import torch

    from ..errors import CheckpointError

    seen = set()
    for name in ("colour_model", "model", "grey_model"):
        net = getattr(session, name, None)
        if net is None or id(net) in seen:
            continue
        seen.add(id(net))
        for p in net.parameters():
            if not bool(torch.isfinite(p).all()):
                raise CheckpointError(f"the {'grey-image ' if name == 'grey_model' else ''}network's weights hold NaN "
                                      "or infinite values: the checkpoint is damaged (reinstall the app's models)")


def session_factory(random_model: bool = False):
    """Returns ``make() -> (session, warning)``, run in the worker thread. A model that cannot be loaded (missing,
    corrupt or empty checkpoint, bad metadata, NaN weights) raises: the app says why and makes no masks, rather
    than running an untrained network."""

    def make():
        from ..engine.session import Session

        if random_model:
            return Session.from_random(), "Untrained model (--random-model): masks are meaningless."
        session = Session.from_default_checkpoint()
        _check_finite(session)
        problem = session.meta.get("grey_checkpoint_error")
        return session, (f"The network for grey images could not be read, so the default one serves them: {problem}"
                         if problem else "")

    return make


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pseudoclick-gui", description="PseudoClick interactive segmentation app")
    p.add_argument("paths", nargs="*", help="image files or folders, or volumes (NIfTI, DICOM, BraTS case folder)")
    p.add_argument("--volume", metavar="PATH", action="append", default=[],
                   help="open PATH as a volume (NIfTI, DICOM folder/file, BraTS case, TIFF stack, folder of sections)")
    p.add_argument("--series", metavar="UID", help="DICOM series to open from a --volume folder holding several")
    p.add_argument("--version", action="version", version=f"pseudoclick-gui {__version__}")
    p.add_argument("--project", metavar="FILE", help="project file to open (created when missing)")
    p.add_argument("--sample", action="store_true", help="open the bundled sample image")
    p.add_argument("--smoke", action="store_true", help="offscreen self-test (sample image, one click), then exit")
    p.add_argument("--random-model", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--screenshot", metavar="PNG", help=argparse.SUPPRESS)  # debug: grab the window, then quit
    p.add_argument("--after-ms", type=int, default=3000, help=argparse.SUPPRESS)
    p.add_argument("--click", metavar="X,Y", action="append", default=[], help=argparse.SUPPRESS)  # debug clicks
    return p


def _install_excepthook(window_getter) -> None:
    """An unexpected exception in a slot becomes a message box (and a traceback in the log), never a crash."""

    from ..errors import PseudoClickError

    def hook(etype, value, tb):
        if isinstance(value, PseudoClickError):  # a user-facing message: no "Unexpected error", no traceback
            log.warning("%s", value)
            text = str(value)
        else:
            log.error("unexpected error\n%s", "".join(traceback.format_exception(etype, value, tb)))
            text = f"Unexpected error: {etype.__name__}: {value}"
        w = window_getter()
        if w is not None:
            try:
                w.show_message("error", text)
            except Exception:  # noqa: BLE001
                pass

    sys.excepthook = hook


def run_smoke(window, app, timeout: float = 120.0) -> int:
    """Open the sample, click its centre, wait for the worker's prediction. 0 on success; 1 with one line on
    stderr when the model is not the shipped one, fails to load, or predicts NaN or nothing."""
    import numpy as np
    from PySide6.QtCore import QEventLoop, QTimer

    def wait(cond) -> bool:
        t0 = time.time()
        loop = QEventLoop()
        while not cond() and time.time() - t0 < timeout:
            QTimer.singleShot(20, loop.quit)
            loop.exec()
        return cond()

    a = window.ann
    if not wait(lambda: a.model_loaded):
        print(f"smoke: the model did not load within {timeout:.0f} s", file=sys.stderr)
        return 1
    if a.model_error:
        print(f"smoke: the model could not be loaded: {a.model_error}", file=sys.stderr)
        return 1
    if a.model_warning:
        print(f"smoke: not the shipped model: {a.model_warning}", file=sys.stderr)
        return 1
    if not window.open_sample():
        print("smoke: could not open the sample", file=sys.stderr)
        return 1
    h, w = a.rgb.shape[:2]
    a.click(w // 2, h // 2, True)
    if not wait(lambda: a.prediction is not None and not a.client.busy):
        print(f"smoke: no prediction within {timeout:.0f} s", file=sys.stderr)
        return 1
    prob = a.prediction.probability
    if not np.isfinite(prob).all():
        print("smoke: the network's output holds NaN or infinite values", file=sys.stderr)
        return 1
    if not a.prediction.mask.any():
        print("smoke: the network found no object under a click on the sample's centre", file=sys.stderr)
        return 1
    print(f"smoke ok: device={a.device_name} mask_pixels={int(a.prediction.mask.sum())} "
          f"proposal={a.proposal is not None}")  # fmt: skip
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.smoke:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        tmp = tempfile.mkdtemp(prefix="pseudoclick-smoke-")
        os.environ["PSEUDOCLICK_DATA_DIR"] = os.path.join(tmp, "data")
        os.environ["PSEUDOCLICK_CONFIG_DIR"] = os.path.join(tmp, "config")
    else:
        line = check_platform_libraries()
        if line:
            print(line, file=sys.stderr)

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from .main_window import MainWindow
    from .settings import AppSettings

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("PseudoClick")
    app.setApplicationVersion(__version__)
    settings = AppSettings.load()
    try:
        window = MainWindow(session_factory(args.random_model), settings)
    except Exception as exc:  # noqa: BLE001 - one line, a clean exit
        log.debug("start-up failed", exc_info=True)
        print(f"pseudoclick-gui: cannot start: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    app.aboutToQuit.connect(window.ann.shutdown)  # the inference thread always stops before exit
    _install_excepthook(lambda: window)
    window.show()
    if args.smoke:
        try:
            code = run_smoke(window, app)
        except Exception as exc:  # noqa: BLE001
            print(f"smoke: {type(exc).__name__}: {exc}", file=sys.stderr)
            code = 1
        window.close()
        return code

    try:
        _start(window, args, settings)
    except Exception as exc:  # noqa: BLE001 - a start-up problem is a message in a usable window
        from .annotator import describe_error

        log.error("start-up problem", exc_info=True)
        window.show_message("error", f"A problem at start-up: {describe_error(exc)}")

    if args.screenshot:
        def shoot():
            if window.ann.client.busy:
                QTimer.singleShot(200, shoot)
                return
            window.grab().save(args.screenshot)
            print(f"screenshot: {args.screenshot}")
            window.close()

        QTimer.singleShot(args.after_ms, shoot)
    code = app.exec()
    window.ann.shutdown()
    return code


def _start(window, args, settings) -> None:
    """What the command line asks for: a project, images, volumes, the sample; else the last project."""
    if args.project:
        window.open_project(args.project)
    if args.paths or args.volume:
        if args.paths:
            window.open_paths(args.paths)
        for v in args.volume:
            window.open_volume(v, series_uid=args.series)
    elif args.sample:
        window.open_sample()
    elif not args.project:
        last = settings.last_project
        if not (last and os.path.isfile(last) and window.open_project(last) and window.ann.rgb is not None):
            window.open_sample()

    for xy in args.click:
        x, y = (float(v) for v in xy.split(","))
        positive = True
        if x < 0:  # debug: "-X,Y" is a negative click
            x, positive = -x, False
        window.ann.click(x, y, positive)


if __name__ == "__main__":
    sys.exit(main())
