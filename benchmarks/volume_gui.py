"""Volume annotation in the app: time to the first slice, slice-change repaint time, peak memory.

    QT_QPA_PLATFORM=offscreen python benchmarks/volume_gui.py [--shape 240 240 155] [--changes 50]

A synthetic BraTS-like case (four float32 NIfTI channels T1/T1c/T2/FLAIR of ``--shape`` plus a label file,
from :func:`pseudoclick_gui.io.synthetic.make_phantom_volume`) is written to a temporary folder by a child
process, so that generating it does not count in this process's peak memory. Then the real main window
(``MainWindow`` with the app's session factory: the shipped model, or the untrained fallback) opens it offscreen:

* model load: from the window's creation until the inference thread reports the model ready;
* time to first slice: ``open_volume`` (read the four files, register, network slice, first paint);
* slice change: median / 90th percentile / max of ``--changes`` PgDown steps (UI thread: next slice's network
  input, project look-ups, canvas repaint), on the axial and on the coronal plane;
* resident memory: current RSS after the run and peak RSS (``ru_maxrss``), whole process (Qt + torch + model +
  volume).

Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path


def write_case(folder: str, shape: tuple[int, int, int]) -> None:
    """Four channels + labels, float32, BraTS file naming (runs in a child process)."""
    import nibabel as nib
    import numpy as np

    from pseudoclick_gui.io.synthetic import make_phantom_volume

    vol = make_phantom_volume(shape=shape, seed=3, spacing=(1.0, 1.0, 1.0))
    base = vol.data.astype(np.float32)
    rng = np.random.default_rng(0)
    channels = {
        "t1": base,
        "t1ce": base * 1.2 + 40.0 * vol.labels,
        "t2": 900.0 - base,
        "flair": base + 300.0 * vol.labels,
    }
    for name, arr in channels.items():
        arr = (arr + rng.normal(0, 5, size=arr.shape).astype(np.float32)).astype(np.float32)
        nib.save(nib.Nifti1Image(arr, vol.affine), os.path.join(folder, f"synth_{name}.nii.gz"))
    nib.save(nib.Nifti1Image(vol.labels.astype(np.uint8), vol.affine), os.path.join(folder, "synth_seg.nii.gz"))


def rss_mb() -> float:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def peak_rss_mb() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r / 1024 / 1024 if sys.platform == "darwin" else r / 1024


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shape", type=int, nargs=3, default=(240, 240, 155), metavar=("X", "Y", "Z"))
    ap.add_argument("--changes", type=int, default=50)
    ap.add_argument("--random-model", action="store_true", help="use the untrained network (skip the checkpoint)")
    args = ap.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    tmp = tempfile.mkdtemp(prefix="pseudoclick-volbench-")
    os.environ["PSEUDOCLICK_CONFIG_DIR"] = os.path.join(tmp, "config")
    os.environ["PSEUDOCLICK_DATA_DIR"] = os.path.join(tmp, "data")
    case = Path(tmp) / "synth_case"
    case.mkdir()
    t = time.perf_counter()
    p = mp.get_context("spawn").Process(target=write_case, args=(str(case), tuple(args.shape)))
    p.start()
    p.join()
    if p.exitcode != 0:
        print("could not write the synthetic case", file=sys.stderr)
        return 1
    size = sum(f.stat().st_size for f in case.iterdir()) / 2**20
    print(f"synthetic case {tuple(args.shape)} x 4 float32 channels: {size:.1f} MB on disk, "
          f"written in {time.perf_counter() - t:.1f} s (child process)")  # fmt: skip
    print(f"RSS before Qt: {rss_mb():.0f} MB")

    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from pseudoclick_gui.gui.app import session_factory
    from pseudoclick_gui.gui.main_window import MainWindow

    app = QApplication.instance() or QApplication([])
    t0 = time.perf_counter()
    w = MainWindow(session_factory(args.random_model))
    w.resize(1400, 900)
    w.show()
    a = w.ann

    def spin_until(cond, timeout=600.0):
        loop = QEventLoop()
        end = time.perf_counter() + timeout
        while not cond() and time.perf_counter() < end:
            QTimer.singleShot(5, loop.quit)
            loop.exec()

    spin_until(lambda: a.model_loaded)
    print(f"model load: {time.perf_counter() - t0:.2f} s ({a.device_name}; "
          f"{'untrained fallback' if a.model_warning else 'trained model'})")  # fmt: skip
    w.open_project(Path(tmp) / f"bench{'.pcproj'}")
    spin_until(lambda: not a.client.busy)
    app.processEvents()
    rss_before = rss_mb()

    t0 = time.perf_counter()
    ok = w.open_volume(case)
    app.processEvents()
    w.canvas.viewport().repaint()
    first = time.perf_counter() - t0
    if not ok or a.volume is None:
        print("the volume did not open", file=sys.stderr)
        return 1
    print(f"time to first slice: {first:.3f} s  (channels {a.volume.channel_names}, "
          f"{a.volume.shape}, RSS +{rss_mb() - rss_before:.0f} MB)")  # fmt: skip
    spin_until(lambda: not a.client.busy)

    for axis in ("axial", "coronal"):
        a.set_axis(axis)
        a.open_slice(axis, max(0, a.n_slices() // 2 - args.changes // 2))
        spin_until(lambda: not a.client.busy)
        app.processEvents()
        times = []
        for _ in range(args.changes):
            t0 = time.perf_counter()
            w.step_slice(1)
            w.canvas.viewport().repaint()
            times.append((time.perf_counter() - t0) * 1000)
            app.processEvents()  # the look-ahead render of the next slice runs here, between key presses
        spin_until(lambda: not a.client.busy)
        times.sort()
        r = w.renderer
        print(f"slice change ({axis}, {a.volume.slice_shape(axis)} px, {args.changes} steps): median "
              f"{statistics.median(times):.1f} ms, p90 {times[int(0.9 * (len(times) - 1))]:.1f} ms, max {times[-1]:.1f} ms; "
              f"display cache hits {r.hits}, misses {r.misses}")  # fmt: skip

    # one click on the shown slice, through the worker (network + proposal)
    h, wd = a.rgb.shape[:2]
    t0 = time.perf_counter()
    a.click(wd // 2, h // 2, True)
    spin_until(lambda: a.prediction is not None and not a.client.busy)
    print(f"one click -> mask + proposal: {time.perf_counter() - t0:.2f} s")
    print(f"RSS now: {rss_mb():.0f} MB; peak RSS (ru_maxrss): {peak_rss_mb():.0f} MB")
    w.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
