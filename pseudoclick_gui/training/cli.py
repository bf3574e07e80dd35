"""``pseudoclick train``: see ``pseudoclick_gui/training/loop.py`` for the recipe."""

from __future__ import annotations

import argparse

# every training set of ../shared/data that fits, weighted by how object-like its masks are
DEFAULT_DATA = [
    "../shared/data/coco_mval_train:2.0",
    "../shared/data/coco128_seg:1.5",
    "../shared/data/ccp_fashion_person:0.8",
    "../shared/data/bsds500_regions:1.0:min_area=300",
    "../shared/data/oxford_pets_sample:0.6",
    "../shared/data/weizmann_horse:0.4",
    "../shared/data/humanseg_removebg:0.4",
    "../shared/data/camvid_train:0.6:class=car|pedestrian|bicyclist|signsymbol|pole|tree|building|fence,min_area=300",
    "../shared/data/ph2_dermoscopy:0.3",
    "../shared/data/dsb2018_nuclei:0.15",
]


# recipe flags: (dest, type, help). Their defaults live in TrainConfig; given on the command line with --resume,
# they override the saved recipe from that step on (e.g. a new schedule length), and only then.
RECIPE = [
    ("batch", int, "samples per step and process (default 8)"),
    ("crop", int, "training crop side (default 256)"),
    ("lr", float, "Adam learning rate (default 5e-4; backbone x0.1)"),
    ("total_steps", int, "length of the cosine schedule (default 60000)"),
    ("seed", int, "random seed (default 0)"),
    ("max_iter", int, "iterative-training clicks, 0..N per batch (default 3)"),
    ("iter_pseudo_prob", float, "probability that an iterative step also runs the pseudo-click pass (default 0.6)"),
    ("pseudo_prob", float, "probability that the final pass gets a pseudo click (default 0.5)"),
    ("pseudo_lifetime", str, "object: pseudo clicks stay inputs for the later iterative steps; step: they leave at the next simulated human click, and only the previous mask keeps what they did, as the app does on colour images (default object)"),
    ("oracle_prob", float, "share of those pseudo clicks taken from the true error maps (default 0.3)"),
    ("pseudo_threshold", float, "FP/FN threshold for the model's own pseudo clicks in training (default 0.4)"),
    ("pseudo_signs", str, "which of the model's own error maps give it pseudo clicks: both, negative or positive (default both)"),
    ("pseudo_rank", str, "how the model's own proposals pick a region: area or depth (default area)"),
    ("pseudo_min_fraction", float, "no own proposal from a region smaller than this fraction of the mask (default 0)"),
    ("pseudo_source", str, "where the model's own pseudo clicks come from: errors or islands+errors (default errors)"),
    ("trainable", str, "all; pseudo: only the pseudo-click encoder and the error head learn; err: only the error head (default all)"),
    ("err_loss", str, "loss of the FP/FN heads: nfl or bce (calibrated probabilities) (default nfl)"),
    ("zoom_prob", float, "object-centred crop probability (default 0.6)"),
    ("paste_prob", float, "copy-paste augmentation probability (default 0.2)"),
    ("nest_prob", float, "nested paste: the object, shrunk, inside another training object, which becomes a distractor (default 0)"),
    ("synth_prob", float, "share of synthetic grey tissue crops: cells with membranes, a lesion inside an organ (default 0)"),
    ("grey_prob", float, "grey conversion probability (default 0.15)"),
    ("freeze_bn", str, "whose BatchNorm statistics stay fixed: backbone, or all (fine-tuning a shipped model) (default backbone)"),
]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", action="append", help="PATH[:WEIGHT][:col=a|b,min_area=N] (repeatable; default: the shared training sets)")
    p.add_argument("--out", required=True, help="run folder (checkpoints, log.csv)")
    p.add_argument("--resume", action="store_true", help="continue OUT/last.pt exactly (model, optimizer, step, RNG)")
    p.add_argument("--init", help="start from this engine checkpoint instead of ImageNet weights")
    for dest, typ, help_text in RECIPE:
        p.add_argument("--" + dest.replace("_", "-"), dest=dest, type=typ, help=help_text)
    p.add_argument("--lambdas", type=float, nargs=3, metavar=("SEG", "FP", "FN"), help="loss weights (default 1 1 1)")
    p.add_argument("--max-steps", type=int, help="stop at this step (default: --total-steps)")
    p.add_argument("--minutes", type=float, help="stop after this many minutes")
    p.add_argument("--checkpoint-minutes", type=float, default=5.0)
    p.add_argument("--workers", type=int, default=1, help="data-loading worker processes")
    p.add_argument("--threads", type=int, default=2, help="torch threads per process")
    p.add_argument("--amp", action="store_true", help="bfloat16 autocast of the forward passes (CUDA, or CPUs with AMX)")
    p.add_argument("--eval-data", default="../shared/data/grabcut", help="set for the periodic quick evaluation")
    p.add_argument("--eval-grey", default="../shared/data/isbi2012_em", help="grey cross-domain set whose mIoU@3 the quick evaluation also reports")
    p.add_argument("--eval-minutes", type=float, default=20.0)
    p.add_argument("--eval-samples", type=int, default=20)


def config_from_args(args: argparse.Namespace):
    """The TrainConfig the command line asks for, and the recipe names it gave (they override a resumed run's)."""
    from .loop import TrainConfig

    given = {dest: getattr(args, dest) for dest, _, _ in RECIPE if getattr(args, dest) is not None}
    if args.lambdas is not None:
        given["lambdas"] = tuple(args.lambdas)
    cfg = TrainConfig(
        data=args.data or DEFAULT_DATA, out=args.out, max_steps=args.max_steps, minutes=args.minutes,
        checkpoint_minutes=args.checkpoint_minutes, workers=args.workers, threads=args.threads, init=args.init,
        amp=args.amp, eval_data=args.eval_data, eval_grey=args.eval_grey, eval_minutes=args.eval_minutes,
        eval_samples=args.eval_samples, **given,
    )
    return cfg, set(given)


def run(args: argparse.Namespace) -> int:
    from .loop import Trainer

    cfg, given = config_from_args(args)
    return Trainer(cfg, resume=args.resume, overrides=given).run()
