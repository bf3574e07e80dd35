"""Milliseconds per human click, including its pseudo-click pass, on the CPU.

For each image size, a session annotates a synthetic object with a sequence of robot clicks; every human click
runs: add_click -> predict -> propose_pseudo_click -> accept -> predict (what the app does with auto-accept).
Prints median and p90 per human click (and per single forward, and per proposal: island proposals include the
"same object?" trial pass), and the process's peak RSS; then the same with a look-alike beside the object.

    python benchmarks/latency.py [--checkpoint PATH] [--threads 2] [--clicks 30] [--proposal-rule paper]
                                 [--device cuda]

Colour images use the checkpoint's colour rule (the scored rule: one look-ahead pass per candidate and the
mirrored pass), the look-alike scenes are colour too; ``--proposal-rule paper`` times the paper's rule.

Uses the shipped model when present (speed does not depend on the weights), else a random network.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time

import cv2
import numpy as np
import torch

from pseudoclick_gui.engine.session import Session
from pseudoclick_gui.errors import CheckpointError
from pseudoclick_gui.evaluation.clicker import RobotClicker


def scene(w: int, h: int, seed: int, twin: bool = False, size: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """A textured ellipse on noise; ``twin``: a smaller look-alike beside it (not part of the object), which the
    network tends to include, so proposals come from islands. ``size`` scales the ellipse."""
    rng = np.random.default_rng(seed)
    img = cv2.GaussianBlur(rng.integers(0, 255, (h, w, 3), dtype=np.uint8), (0, 0), 3)
    gt = np.zeros((h, w), np.uint8)
    cx = w // 3 if twin else w // 2
    cv2.ellipse(gt, (cx, h // 2), (int(w / 5 * size), int(h / 4 * size)), 20, 0, 360, 1, -1)
    paint = gt.copy()
    if twin:
        cv2.ellipse(paint, (w * 4 // 5, h // 2), (w // 9, h // 7), 20, 0, 360, 1, -1)
    img[paint > 0] = (img[paint > 0] * 0.5 + np.array([120, 60, 30])).astype(np.uint8)
    return img, gt.astype(bool)


def p90(v: list[float]) -> float:
    return float(np.percentile(v, 90))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--clicks", type=int, default=30, help="human clicks per image size")
    ap.add_argument("--proposal-rule", choices=("default", "paper"), default="default")
    ap.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    try:
        s = (Session.from_checkpoint(args.checkpoint, args.device) if args.checkpoint
             else Session.from_default_checkpoint(args.device))
        which = s.meta.get("path")
    except CheckpointError:
        s, which = Session.from_random(args.device), "random weights"
    s.set_proposal_rule(args.proposal_rule)
    print(f"model: {which}; torch {torch.__version__}; {args.threads} threads; device {s.device_name}; "
          f"colour proposals: {s.rule.source}")
    s.warm_up()
    island_conf = {s.rule.island_confidence, s.rule.island_trial_confidence}
    for (w, h), twin, size in (((480, 320), False, 1.0), ((2048, 1536), False, 1.0), ((480, 320), True, 1.0),
                               ((2048, 1536), True, 1.0)):
        per_click, per_forward, per_propose, per_island, per_first = [], [], [], [], []
        seed = 0
        while len(per_click) < args.clicks:
            img, gt = scene(w, h, seed, twin, size)
            seed += 1
            s.set_image(img)
            robot = RobotClicker(gt)
            pred = np.zeros_like(gt)
            for _ in range(6):
                c = robot.next_click(pred)
                if c is None or len(per_click) >= args.clicks:
                    break
                t0 = time.perf_counter()
                s.add_click(c.x, c.y, c.positive)
                r = s.predict()
                per_forward.append(r.elapsed_ms)
                t1 = time.perf_counter()
                prop = s.propose_pseudo_click()
                per_propose.append((time.perf_counter() - t1) * 1000)
                if prop is not None and prop.confidence in island_conf:
                    per_island.append(per_propose[-1])
                if prop is not None:
                    s.accept_pseudo_click(prop)
                    r = s.predict()
                    per_forward.append(r.elapsed_ms)
                per_click.append((time.perf_counter() - t0) * 1000)
                if len(s.human_clicks) == 1:
                    per_first.append(per_click[-1])
                pred = r.probability > 0.49
        isl = (f"{statistics.median(per_island):.1f} ms for the {len(per_island)} island proposals"
               if per_island else "no island proposal")
        label = f"{w}x{h}{' with a look-alike' if twin else ''}{' (half-size object)' if size != 1.0 else ''}"
        print(f"{label}: per human click incl. pseudo pass: median "
              f"{statistics.median(per_click):.1f} ms, p90 {p90(per_click):.1f} ms (first clicks: median "
              f"{statistics.median(per_first):.1f} ms); per predict(): median "
              f"{statistics.median(per_forward):.1f} ms; propose_pseudo_click(): median "
              f"{statistics.median(per_propose):.1f} ms, p90 {p90(per_propose):.1f} ms, {isl} (n={len(per_click)} clicks)")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
