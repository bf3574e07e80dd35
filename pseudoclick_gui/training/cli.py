"""``pseudoclick train``: see ``pseudoclick_gui/training/loop.py`` for the recipe."""

from __future__ import annotations

import argparse

DEFAULT_DATA = [
    "../shared/data/coco_mval_train:2.0",
    "../shared/data/ccp_fashion_person:0.8",
    "../shared/data/bsds500_regions:1.0:min_area=300",
    "../shared/data/weizmann_horse:0.4",
    "../shared/data/humanseg_removebg:0.4",
    "../shared/data/camvid_train:0.6:class=car|pedestrian|bicyclist|signsymbol|pole|tree|building|fence,min_area=300",
    "../shared/data/ph2_dermoscopy:0.3",
]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", action="append", help="PATH[:WEIGHT][:col=a|b,min_area=N] (repeatable; default: the shared training sets)")
    p.add_argument("--out", required=True, help="run folder (checkpoints, log.csv)")
    p.add_argument("--resume", action="store_true", help="continue OUT/last.pt exactly (model, optimizer, step, RNG)")
    p.add_argument("--init", help="start from this engine checkpoint instead of ImageNet weights")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--crop", type=int, default=256)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--total-steps", type=int, help="length of the cosine schedule (default 60000; on --resume: as saved)")
    p.add_argument("--max-steps", type=int, help="stop at this step (default: --total-steps)")
    p.add_argument("--minutes", type=float, help="stop after this many minutes")
    p.add_argument("--checkpoint-minutes", type=float, default=5.0)
    p.add_argument("--workers", type=int, default=1, help="data-loading worker processes")
    p.add_argument("--threads", type=int, default=2, help="torch threads per process")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--lambdas", type=float, nargs=3, default=(1.0, 1.0, 1.0), metavar=("SEG", "FP", "FN"))
    p.add_argument("--max-iter", type=int, default=3, help="iterative-training clicks (0..N per batch)")
    p.add_argument("--pseudo-prob", type=float, default=0.5)
    p.add_argument("--oracle-prob", type=float, default=0.3)
    p.add_argument("--zoom-prob", type=float, default=0.6)
    p.add_argument("--paste-prob", type=float, default=0.2, help="copy-paste augmentation probability")
    p.add_argument("--eval-data", default="../shared/data/grabcut", help="set for the periodic quick evaluation")
    p.add_argument("--eval-minutes", type=float, default=20.0)
    p.add_argument("--eval-samples", type=int, default=20)


def run(args: argparse.Namespace) -> int:
    from .loop import TrainConfig, Trainer

    cfg = TrainConfig(
        data=args.data or DEFAULT_DATA, out=args.out, batch=args.batch, crop=args.crop, lr=args.lr,
        total_steps=args.total_steps or 60000, max_steps=args.max_steps, minutes=args.minutes,
        checkpoint_minutes=args.checkpoint_minutes, workers=args.workers, threads=args.threads, seed=args.seed,
        lambdas=tuple(args.lambdas), max_iter=args.max_iter, pseudo_prob=args.pseudo_prob,
        oracle_prob=args.oracle_prob, zoom_prob=args.zoom_prob, init=args.init, paste_prob=args.paste_prob,
        eval_data=args.eval_data, eval_minutes=args.eval_minutes, eval_samples=args.eval_samples,
    )
    overrides = {"total_steps"} if args.total_steps else set()
    return Trainer(cfg, resume=args.resume, overrides=overrides).run()
