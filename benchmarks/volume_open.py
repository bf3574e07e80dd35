"""Benchmark: open a BraTS-sized case (4 x 240 x 240 x 155 float32 NIfTI + labels) and read slices.

Writes a synthetic case folder to a temporary directory, then prints the median ``open_volume`` time,
per-slice access and network-slice times for each plane, and the peak RSS of the process. Prints figures,
asserts nothing. Goal (issue): open in under 2 s.

    python benchmarks/volume_open.py [--runs 5] [--gz/--no-gz]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import nibabel as nib
import numpy as np

SHAPE = (240, 240, 155)
MODALITIES = ("t1", "t1ce", "t2", "flair")


def write_case(folder: Path, gz: bool) -> None:
    rng = np.random.default_rng(0)
    aff = np.diag([-1.0, -1.0, 1.0, 1.0])
    ext = ".nii.gz" if gz else ".nii"
    base = rng.normal(0, 1, SHAPE).astype(np.float32)
    for k, name in enumerate(MODALITIES):
        nib.save(nib.Nifti1Image(base * (k + 1) + k, aff), folder / f"case_{name}{ext}")
    seg = np.zeros(SHAPE, np.uint8)
    seg[100:140, 90:150, 60:90] = 2
    nib.save(nib.Nifti1Image(seg, aff), folder / f"case_seg{ext}")


def peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--gz", action=argparse.BooleanOptionalAction, default=True, help="gzip the NIfTI files"
    )
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing
    from pseudoclick_gui.io.volume import open_volume

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        write_case(folder, args.gz)
        size = sum(f.stat().st_size for f in folder.iterdir()) / 1e6
        print(
            f"wrote synthetic case {SHAPE} x {len(MODALITIES)} channels + labels ({size:.0f} MB on disk) "
            f"in {time.perf_counter() - t0:.1f} s"
        )
        print(f"peak RSS after writing: {peak_rss_mb():.0f} MB")
        times = []
        vol = None
        for _ in range(args.runs):
            vol = None
            t0 = time.perf_counter()
            vol = open_volume(folder)
            times.append(time.perf_counter() - t0)
        assert vol is not None
        print(
            f"open_volume: median {statistics.median(times):.3f} s, min {min(times):.3f} s over {args.runs} runs "
            f"(channels {vol.channel_names}, labels {vol.labels is not None})"
        )
        for plane in ("axial", "coronal", "sagittal"):
            n = vol.n_slices(plane)
            t0 = time.perf_counter()
            for i in range(n):
                vol.slice(plane, i, "FLAIR").sum()
            per_slice = (time.perf_counter() - t0) / n
            t0 = time.perf_counter()
            reps = 20
            for i in range(reps):
                vol.network_slice(plane, (i * 7) % n, "FLAIR")
            per_net = (time.perf_counter() - t0) / reps
            print(
                f"{plane:9s}: slice+sum {per_slice * 1e3:.2f} ms, network_slice {per_net * 1e3:.2f} ms ({n} slices)"
            )
        print(f"peak RSS: {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
