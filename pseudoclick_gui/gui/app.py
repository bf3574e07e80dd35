"""``pseudoclick-gui``: start the app.

    pseudoclick-gui                     # last project, or the sample image on first start
    pseudoclick-gui --sample            # the bundled sample photo with the shipped model
    pseudoclick-gui --project FILE      # open / create a project
    pseudoclick-gui IMAGE... | FOLDER   # add images (to --project, or an autosave project)
    pseudoclick-gui VOLUME              # a NIfTI file, DICOM folder/file, BraTS case folder, multi-page TIFF
    pseudoclick-gui --volume PATH       # also a folder of section images (read as a stack)
    pseudoclick-gui --smoke             # offscreen self-test: sample image, one click, exit 0
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
import traceback

from .. import __version__

log = logging.getLogger("pseudoclick_gui.gui")


def session_factory(random_model: bool = False):
    """Returns ``make() -> (session, warning)``, run in the worker thread. Falls back to an untrained network
    with a visible warning when no trained model is installed or it cannot be read."""

    def make():
        from ..engine.session import Session
        from ..errors import CheckpointError

        if random_model:
            return Session.from_random(), "Untrained model (--random-model): masks are meaningless."
        try:
            session = Session.from_default_checkpoint()
            problem = session.meta.get("grey_checkpoint_error")
            return session, (f"The network for grey images could not be read, so the default one serves them: {problem}"
                             if problem else "")
        except CheckpointError as exc:
            return Session.from_random(), f"Untrained model — masks are meaningless. {exc}"

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

    def hook(etype, value, tb):
        log.error("unexpected error\n%s", "".join(traceback.format_exception(etype, value, tb)))
        w = window_getter()
        if w is not None:
            try:
                w.show_message("error", f"Unexpected error: {etype.__name__}: {value}")
            except Exception:  # noqa: BLE001
                pass

    sys.excepthook = hook


def run_smoke(window, app) -> int:
    """Open the sample, click its centre, wait for the worker's prediction. 0 on success."""
    from PySide6.QtCore import QEventLoop, QTimer

    if not window.open_sample():
        print("smoke: could not open the sample", file=sys.stderr)
        return 1
    a = window.ann
    h, w = a.rgb.shape[:2]
    a.click(w // 2, h // 2, True)
    t0 = time.time()
    loop = QEventLoop()
    while a.prediction is None and time.time() - t0 < 300:
        QTimer.singleShot(50, loop.quit)
        loop.exec()
    if a.prediction is None:
        print("smoke: no prediction within 300 s", file=sys.stderr)
        return 1
    print(f"smoke ok: device={a.device_name} mask_pixels={int(a.prediction.mask.sum())} "
          f"proposal={a.proposal is not None} model_warning={bool(a.model_warning)}")  # fmt: skip
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.smoke:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        tmp = tempfile.mkdtemp(prefix="pseudoclick-smoke-")
        os.environ["PSEUDOCLICK_DATA_DIR"] = os.path.join(tmp, "data")
        os.environ["PSEUDOCLICK_CONFIG_DIR"] = os.path.join(tmp, "config")

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from .main_window import MainWindow
    from .settings import AppSettings

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("PseudoClick")
    app.setApplicationVersion(__version__)
    settings = AppSettings.load()
    window = MainWindow(session_factory(args.random_model), settings)
    _install_excepthook(lambda: window)
    window.show()
    if args.smoke:
        code = run_smoke(window, app)
        window.close()
        return code

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

    if args.screenshot:
        def shoot():
            if window.ann.client.busy:
                QTimer.singleShot(200, shoot)
                return
            window.grab().save(args.screenshot)
            print(f"screenshot: {args.screenshot}")
            window.close()

        QTimer.singleShot(args.after_ms, shoot)
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
