"""Training samples per second for the long run's recipe (scripts/recipe.sh), and where a step's time goes.

    python benchmarks/train_speed.py [--steps 12] [--threads 2] [--batch 8] [--crop 384] [--amp] [--workers 0|1]

Builds the trainer exactly as ``pseudoclick train`` does (the recipe's flags, the default training data when
``../shared/data`` is there, else a small synthetic set), runs ``--steps`` steps after two warm-up steps and
prints the median samples/s, then the share of a step spent in: making the batch (crops, RITM clicks),
the no-gradient passes (iterative training and the pseudo-click passes), proposing the simulated clicks (numpy),
and the final forward + backward + optimizer step. A bare step (one forward + backward at the same batch,
nothing else) is timed too: the gap between the two is what the recipe's iterative passes cost.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pseudoclick_gui.training import cli as train_cli  # noqa: E402
from pseudoclick_gui.training import loop  # noqa: E402


def recipe() -> list[str]:
    out = subprocess.run(["bash", "-c", 'source scripts/recipe.sh; printf "%s\\n" "${RECIPE[@]}"'], cwd=ROOT,
                         capture_output=True, text=True, check=True)
    return out.stdout.split()


def synthetic_set(folder: Path) -> str:
    """A few textured ellipses, in the shared layout, when the research data is absent."""
    import cv2
    import numpy as np

    (folder / "images").mkdir(parents=True)
    (folder / "masks").mkdir()
    rows = ["image,mask"]
    rng = np.random.default_rng(0)
    for i in range(6):
        img = cv2.GaussianBlur(rng.integers(0, 255, (480, 640, 3), dtype=np.uint8), (0, 0), 3)
        m = np.zeros((480, 640), np.uint8)
        cv2.ellipse(m, (320, 240), (120 + 10 * i, 90), 15 * i, 0, 360, 255, -1)
        img[m > 0] = img[m > 0] // 2 + 100
        cv2.imwrite(str(folder / f"images/{i}.jpg"), img)
        cv2.imwrite(str(folder / f"masks/{i}_0.png"), m)
        rows.append(f"images/{i}.jpg,masks/{i}_0.png")
    (folder / "instances.csv").write_text("\n".join(rows) + "\n")
    return str(folder)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--crop", type=int, default=384)
    ap.add_argument("--amp", action="store_true", help="bfloat16 autocast")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    parser = argparse.ArgumentParser()
    train_cli.add_arguments(parser)
    data = [] if (ROOT.parent / "shared" / "data").is_dir() else ["--data", synthetic_set(tmp / "synthetic")]
    init = ["--init", str(ROOT / "models/pseudoclick-lite0.pt")]
    targs = parser.parse_args(["--out", str(tmp / "run"), *init, *recipe(), *data, "--batch", str(args.batch),
                               "--crop", str(args.crop), "--threads", str(args.threads), "--workers", "0",
                               *(["--amp"] if args.amp else []), "--eval-data", ""])
    cfg, _ = train_cli.config_from_args(targs)
    import os

    os.chdir(ROOT)  # the default data paths are relative to the checkout
    t = loop.Trainer(cfg)
    times: dict[str, float] = defaultdict(float)

    def timed(name, fn):
        def wrapper(*a, **k):
            t0 = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                times[name] += time.perf_counter() - t0
        return wrapper

    forward = t.forward

    def split_forward(*a, **k):
        name = "no-gradient passes" if not torch.is_grad_enabled() else "final forward"
        return timed(name, forward)(*a, **k)

    t.forward = split_forward
    for fn in ("add_error_clicks", "own_pseudo_clicks", "oracle_pseudo_clicks"):
        setattr(loop, fn, timed("simulated clicks (numpy)", getattr(loop, fn)))
    per_step, shares = [], defaultdict(list)
    for i in range(args.steps + 2):
        times.clear()
        t0 = time.perf_counter()
        batch = t.stream.batch(i)
        times["making the batch"] = time.perf_counter() - t0
        t.train_step(batch)
        total = time.perf_counter() - t0
        if i >= 2:
            per_step.append(total)
            accounted = sum(times.values())
            times["backward + optimizer"] = total - accounted
            for k, v in times.items():
                shares[k].append(v / total)
    sps = args.batch / statistics.median(per_step)
    # a bare step: one forward + backward on the same batch and crop, nothing else
    batch = t.stream.batch(0)
    image = batch["image"].float() / 255.0
    bare = []
    for i in range(6):
        t0 = time.perf_counter()
        out = forward(t.net, image, torch.zeros_like(image[:, :1]), batch["clicks"], torch.zeros(len(image), 0, 3))
        loss = out["seg"].mean() + out["err"].mean()
        t.opt.zero_grad()
        loss.backward()
        t.opt.step()
        if i >= 2:
            bare.append(time.perf_counter() - t0)
    print(f"recipe: {' '.join(recipe())} --batch {args.batch} --crop {args.crop} {'--amp ' if args.amp else ''}"
          f"({torch.get_num_threads()} threads, torch {torch.__version__})")
    print("where a step's time goes (median share): " + ", ".join(
        f"{k} {100 * statistics.median(v):.0f} %" for k, v in sorted(shares.items(), key=lambda kv: -statistics.median(kv[1]))))
    print(f"bare forward+backward step: {args.batch / statistics.median(bare):.2f} samples/s")
    print(f"training samples/s: {sps:.2f} (median of {len(per_step)} steps)")


if __name__ == "__main__":
    main()
