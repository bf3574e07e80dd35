"""Train the proposal rule's error net (``engine/error_net.py``) on robot-user trajectories of a checkpoint.

    python -m pseudoclick_gui.training.error_net collect OUT_DIR --exclude-dev \\
        --set ../shared/data/coco_mval_train:400 --set ../shared/data/bsds500_regions:300 ...
    python -m pseudoclick_gui.training.error_net fit OUT_DIR [MORE_DIR ...] --out error_net.pt
    python -m pseudoclick_gui.training.error_net ship models/pseudoclick-lite0.pt error_net.pt OUT.pt

``collect`` runs the standard robot user (FACTS §3) on each object until IoU 0.9 or 10 clicks; after every human
click it stores the error net's input (``build_inputs``: crop colours, mask, error maps, the mirrored view, clicks)
and the TRUE error maps of that mask at the same grid, as uint8 shards (``shard_*.npz``). Then it follows the
checkpoint's own proposal rule (accepting its proposal with probability ``--accept``), so the states seen include
live pseudo clicks, as at test time. ``--exclude-dev`` leaves out the development subsamples (as
``training/proposals.py`` does), so no development figure is measured on what the net was fitted to.

``fit``: Adam, a per-pixel focal-weighted binary cross-entropy on both maps (pixels the ground truth ignores do
not count), random left-right flips; one set held out for validation (``--val-set``; ``every10``: every tenth object), whose loss and region
precision it prints each epoch. ``ship`` puts the weights into a checkpoint's ``error_net`` entry and sets
``proposal_source`` to ``errornet`` only when asked (``--default``).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from .proposals import _samples


def _crop_points(t, clicks) -> list[tuple[float, float, bool]]:
    return [(*t.forward_point(c.x, c.y), c.positive) for c in clicks]


def _true_errors(seg: np.ndarray, gt_c: np.ndarray, ign_c: np.ndarray | None, size: int) -> np.ndarray:
    """3 x size x size in [0, 1]: the fraction of each grid cell that is FP, FN, and ignored."""
    pred = seg >= 0.5
    obj = gt_c >= 0.5
    planes = [(pred & ~obj), (obj & ~pred), (ign_c >= 0.5) if ign_c is not None else np.zeros_like(pred)]
    return np.stack([cv2.resize(p.astype(np.float32), (size, size), interpolation=cv2.INTER_AREA) for p in planes])


def collect(session, specs: list[str], out_dir: Path, exclude_dev: bool = True, seed: int = 1, max_clicks: int = 10,
            target: float = 0.9, threshold: float = 0.49, accept: float = 0.7, shard_size: int = 500,
            log=print) -> int:
    """Write shards of (inputs, targets) to ``out_dir``; returns how many steps were stored."""
    from ..engine.error_net import GRID, build_inputs
    from ..evaluation.clicker import RobotClicker, iou

    out_dir.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    xs, ys, names = [], [], []
    stored = 0
    shard = len(list(out_dir.glob("shard_*.npz")))
    t0 = time.time()

    def flush():
        nonlocal shard, xs, ys, names
        if xs:
            np.savez(out_dir / f"shard_{shard:03d}.npz", x=np.stack(xs), y=np.stack(ys), name=np.array(names))
            shard += 1
            xs, ys, names = [], [], []

    for spec in specs:
        set_name, samples = _samples(spec, exclude_dev, seed)
        for si, sample in enumerate(samples):
            image, gt, ignore = sample.load()
            session.set_image(image)
            robot = RobotClicker(gt, ignore)
            pred = np.zeros_like(gt, bool)
            for step in range(max_clicks):
                click = robot.next_click(pred)
                if click is None:
                    break
                session.add_click(click.x, click.y, click.positive)
                p = session.predict()
                pred = p.probability > threshold
                if iou(pred, gt, ignore) >= target:
                    break
                t = p.extra.get("transform")
                maps = p.extra["crop_maps"]
                view = session._run(t, session._step_prev(), mirror=True)[..., 0]
                x = build_inputs(t.forward_image(session.image), maps, view, _crop_points(t, session.human_clicks),
                                 _crop_points(t, session.live_pseudo_clicks))
                gt_c = t.forward_image(gt.astype(np.float32))
                ign_c = None if ignore is None else t.forward_image(ignore.astype(np.float32))
                xs.append(np.round(x * 255).astype(np.uint8))
                ys.append(np.round(_true_errors(maps[..., 0], gt_c, ign_c, GRID) * 255).astype(np.uint8))
                names.append(f"{set_name}/{sample.name}/{step}")
                stored += 1
                if len(xs) >= shard_size:
                    flush()
                proposal = session.propose_pseudo_click()
                if proposal is not None and rng.random() < accept:
                    session.accept_pseudo_click(proposal)
                    pred = session.predict().probability > threshold
            log(f"{set_name} {si + 1}/{len(samples)}: {stored} steps, {time.time() - t0:.0f} s")
    flush()
    return stored


def load_shards(dirs: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    xs, ys, names = [], [], []
    for d in dirs:
        for f in sorted(Path(d).glob("shard_*.npz")):
            z = np.load(f)
            xs.append(z["x"])
            ys.append(z["y"])
            names.append(z["name"])
    if not xs:
        raise SystemExit(f"no shard_*.npz in {dirs}")
    return np.concatenate(xs), np.concatenate(ys), np.concatenate(names)


def region_precision(prob: np.ndarray, true: np.ndarray, threshold: float = 0.5, min_area: int = 4) -> tuple[int, int]:
    """(proposals, right ones) of the paper's rule on N x 2 x H x W predicted maps against the true ones: the
    largest region over both maps above ``threshold``, right when its most interior pixel is a true error of
    that sign."""
    from ..engine.pseudo import largest_error_click

    n = right = 0
    for p, t in zip(prob, true):
        c = largest_error_click(p[0], p[1], threshold, min_area)
        if c is None:
            continue
        n += 1
        right += int(t[1 if c.positive else 0, c.row, c.col] >= 0.5)
    return n, right


def deep_targets(y: np.ndarray, depth: float) -> np.ndarray:
    """The true error maps cut down to the pixels at least ``depth`` grid pixels inside an error region: where a
    click would land safely inside a region worth a click (thin bands along the boundary drop out)."""
    out = y.copy()
    for i in range(len(y)):
        for k in range(2):
            region = np.pad((y[i, k] >= 128).astype(np.uint8), 1)
            dist = cv2.distanceTransform(region, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)[1:-1, 1:-1]
            out[i, k] = (dist >= depth).astype(np.uint8) * 255
    return out


def fit(dirs: list[str], out: Path, val_set: str = "humanseg_removebg", epochs: int = 12, batch: int = 32,
        lr: float = 2e-3, width: int = 16, gamma: float = 2.0, seed: int = 0, loss_kind: str = "nfl",
        target_depth: float = 0.0, log=print):
    import torch

    from ..engine.error_net import ErrorNet

    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)
    x, y, names = load_shards(dirs)
    if target_depth > 0:
        y = deep_targets(y, target_depth)
    sets = np.array([n.split("/")[0] for n in names])
    if val_set == "every10":  # every tenth object of every set
        objects = np.array([n.rsplit("/", 1)[0] for n in names])
        order = {o: i for i, o in enumerate(sorted(set(objects)))}
        val = np.array([order[o] % 10 == 0 for o in objects])
    else:
        val = sets == val_set
    tr = np.flatnonzero(~val)
    va = np.flatnonzero(val)
    log(f"{len(x)} steps ({len(tr)} training, {len(va)} validation: {val_set})")
    net = ErrorNet(width)
    opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=1e-5)
    total = epochs * (len(tr) // batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=max(total, 1), pct_start=0.1)

    def loss_of(xb, yb):
        # not training/losses.py: those take hard 0/1 targets; these are soft (the error fraction of a grid cell)
        logits = net(xb)
        t, ign = yb[:, :2], yb[:, 2:3]
        bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, t, reduction="none")
        p = torch.sigmoid(logits)
        pt = t * p + (1 - t) * (1 - p)
        if loss_kind == "bce":  # calibrated probabilities
            return (bce * (1 - ign)).sum() / ((1 - ign).sum() * 2 + 1e-6), p
        w = (1 - pt).pow(gamma) * (1 - ign)
        return (w * bce).sum() / (w.sum().detach() + 1e-6), p  # normalised focal loss (RITM)

    def batches(idx, shuffle):
        idx = np.random.permutation(idx) if shuffle else idx
        for i in range(0, len(idx) - (batch - 1 if shuffle else 0), batch):
            j = np.sort(idx[i : i + batch])
            xb = torch.from_numpy(x[j].astype(np.float32) / 255)
            yb = torch.from_numpy(y[j].astype(np.float32) / 255)
            if shuffle and random.random() < 0.5:
                xb, yb = xb.flip(-1), yb.flip(-1)
            yield xb, yb

    t0 = time.time()
    for ep in range(epochs):
        net.train()
        tl = []
        for xb, yb in batches(tr, True):
            loss, _ = loss_of(xb, yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            tl.append(loss.item())
        net.eval()
        vl, probs = [], []
        with torch.no_grad():
            for xb, yb in batches(va, False):
                loss, p = loss_of(xb, yb)
                vl.append(loss.item())
                probs.append(p.numpy())
        msg = f"epoch {ep + 1}/{epochs}: train {np.mean(tl):.4f} val {np.mean(vl) if vl else float('nan'):.4f}"
        if probs:
            n, r = region_precision(np.concatenate(probs), y[va, :2].astype(np.float32) / 255)
            msg += f", val proposals {n}/{len(va)} right {r / max(n, 1):.2f}"
        log(msg + f", {time.time() - t0:.0f} s")
    torch.save(net.state_for_checkpoint(), out)
    log(f"wrote {out}")
    return net


def ship(src: str, net_file: str, dst: str, default: bool = False) -> None:
    import torch

    from ..engine.checkpoint import load_model, save_checkpoint
    from ..engine.error_net import ErrorNet

    entry = torch.load(net_file, map_location="cpu", weights_only=True)
    ErrorNet.from_checkpoint_entry(entry)  # it must load
    model, meta = load_model(src)
    meta.pop("path", None)
    meta["error_net"] = entry
    if default:
        meta["proposal_source"] = "errornet"
    save_checkpoint(model, dst, meta=meta)
    print(f"wrote {dst} ({Path(dst).stat().st_size / 1e6:.1f} MB)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("collect")
    c.add_argument("out_dir")
    c.add_argument("--checkpoint")
    c.add_argument("--set", action="append", required=True, metavar="DIR[:N]")
    c.add_argument("--exclude-dev", action="store_true")
    c.add_argument("--seed", type=int, default=1)
    c.add_argument("--accept", type=float, default=0.7)
    c.add_argument("--threads", type=int)
    f = sub.add_parser("fit")
    f.add_argument("dirs", nargs="+")
    f.add_argument("--out", required=True)
    f.add_argument("--val-set", default="humanseg_removebg")
    f.add_argument("--epochs", type=int, default=12)
    f.add_argument("--width", type=int, default=16)
    f.add_argument("--lr", type=float, default=2e-3)
    f.add_argument("--loss", choices=("nfl", "bce"), default="nfl")
    f.add_argument("--target-depth", type=float, default=0.0, help="learn only error pixels this deep (grid px)")
    f.add_argument("--threads", type=int)
    s = sub.add_parser("ship")
    s.add_argument("src")
    s.add_argument("net")
    s.add_argument("dst")
    s.add_argument("--default", action="store_true")
    args = ap.parse_args(argv)
    import torch

    if getattr(args, "threads", None):
        torch.set_num_threads(args.threads)
    if args.cmd == "collect":
        from ..engine.session import Session

        session = Session.from_checkpoint(args.checkpoint) if args.checkpoint else Session.from_default_checkpoint()
        n = collect(session, args.set, Path(args.out_dir), args.exclude_dev, args.seed, accept=args.accept,
                    log=lambda m: print(m, flush=True))
        print(f"stored {n} steps in {args.out_dir}")
    elif args.cmd == "fit":
        fit(args.dirs, Path(args.out), args.val_set, args.epochs, width=args.width, lr=args.lr, loss_kind=args.loss,
            target_depth=args.target_depth, log=lambda m: print(m, flush=True))
    else:
        ship(args.src, args.net, args.dst, args.default)
    return 0


if __name__ == "__main__":
    sys.exit(main())
