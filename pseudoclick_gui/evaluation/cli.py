"""``pseudoclick eval DATASET_DIR``: the standard robot-user evaluation (RITM's protocol, ``noc.py``)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..errors import PseudoClickError

MIRRORED = "~mirrored"  # name suffix of a sample's left-right mirrored copy (--mirrored)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dataset", help="folder with images/, masks/ and optional ignore/")
    p.add_argument("--checkpoint", help="checkpoint to evaluate (default: the shipped model)")
    p.add_argument("--grey-checkpoint", help="a second checkpoint for grey images (default: the shipped one for grey images, only without --checkpoint)")
    p.add_argument("--no-grey", action="store_true", help="one network for every image: no grey-image checkpoint")
    p.add_argument("--modes", default="human,pseudo,postproc", help="comma list of human, pseudo, postproc, oracle (pseudo clicks from the true error maps: a diagnostic ceiling)")
    p.add_argument("--max-clicks", type=int, default=20)
    p.add_argument("--pseudo-chain", type=int, default=1, metavar="K", help="pseudo and oracle modes: after each human click accept up to K proposals in a row, as the app's auto-accept chain does (default 1: the paper's protocol)")
    p.add_argument("--chain-confidence", type=float, default=0.0, help="with --pseudo-chain: the second and later proposals only when their confidence reaches this")
    p.add_argument("--limit", type=int, help="evaluate only the first N samples")
    p.add_argument("--subsample", type=int, help="evaluate N samples drawn at random (seed 0) from the set")
    p.add_argument("--modality", default="flair", help="volume sets: the channel to segment (default FLAIR)")
    p.add_argument("--volume-slices", type=int, default=1, help="volume sets: evaluate this many axial slices per case, spread over the labelled extent (default 1: the largest, the BraTS protocol)")
    p.add_argument("--noc-only", action="store_true", help="stop each sample at IoU 0.95 (faster; mIoU@k then extrapolates)")
    p.add_argument("--out", help="output folder (default: eval_<dataset name>)")
    p.add_argument("--no-zoom", action="store_true", help="disable RITM zoom-in")
    p.add_argument("--mirrored", action="store_true", help="also run every sample mirrored left-right (named NAME~mirrored): the same objects, a second robot trajectory each. The summary adds each half's NoC@85/90 ('halves'): how far they differ is the chance in a NoC figure on this set")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--proposal-rule", choices=("default", "paper"), default="default", help="where pseudo clicks come from: the checkpoint's own rules (default), or the paper's (the largest region of the predicted error maps)")
    p.add_argument("--proposal-scorer", help="a scorer JSON (python -m pseudoclick_gui.training.proposals fit) that the scored rule uses instead of the checkpoint's")
    p.add_argument("--quiet", action="store_true")


def run(args: argparse.Namespace) -> int:
    import numpy as np
    import torch
    from tqdm import tqdm

    from ..engine.session import Session
    from .dataset import find_samples
    from .noc import MODES, evaluate_sample, summarize
    from .report import plot_curves, write_csv, write_json

    torch.set_num_threads(args.threads)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    bad = [m for m in modes if m not in MODES]
    if bad:
        raise PseudoClickError(f"unknown mode(s) {bad}; choose from {list(MODES)}")
    kw = {"zoom_in": not args.no_zoom}
    if args.checkpoint:
        grey = None if args.no_grey else args.grey_checkpoint
        session = Session.from_checkpoint(args.checkpoint, grey_checkpoint=grey, **kw)
    elif args.grey_checkpoint and not args.no_grey:
        from ..engine.session import find_default_checkpoint

        session = Session.from_checkpoint(find_default_checkpoint(), grey_checkpoint=args.grey_checkpoint, **kw)
    else:
        session = Session.from_default_checkpoint(grey=not args.no_grey, **kw)
    session.set_proposal_rule(args.proposal_rule)
    if args.proposal_scorer:
        from ..engine.pseudo import ProposalScorer

        try:
            scorer = ProposalScorer.from_file(args.proposal_scorer)
        except (OSError, ValueError) as e:
            raise PseudoClickError(f"{args.proposal_scorer}: not a usable proposal scorer ({e})") from None
        session.rule, session.grey_rule = (r.with_scorer(scorer) for r in (session.rule, session.grey_rule))
    samples = find_samples(Path(args.dataset), args.modality, args.volume_slices)
    if args.subsample and args.subsample < len(samples):
        import random

        samples = sorted(random.Random(0).sample(samples, args.subsample), key=lambda s: s.name)
    samples = samples[: args.limit]
    if not samples:
        raise PseudoClickError(f"{args.dataset}: no samples")
    out = Path(args.out or f"eval_{Path(args.dataset).resolve().name}")
    out.mkdir(parents=True, exist_ok=True)
    results, summary = [], {}
    names = [s.name for s in samples]
    loaded = [s.load() for s in samples]
    if args.mirrored:
        names += [n + MIRRORED for n in names]
        loaded += [tuple(None if a is None else np.ascontiguousarray(a[:, ::-1]) for a in sample) for sample in loaded]
    for mode in modes:
        mode_results = []
        bar = tqdm(zip(names, loaded), total=len(names), desc=mode, disable=args.quiet, file=sys.stderr)
        for name, (img, gt, ign) in bar:
            r = evaluate_sample(session, img, gt, ign, mode, args.max_clicks,
                                stop_at=0.95 if args.noc_only else None, name=name, chain=args.pseudo_chain,
                                chain_confidence=args.chain_confidence)
            mode_results.append(r)
            bar.set_postfix(noc90=f"{sum(x.noc(0.9, args.max_clicks) for x in mode_results) / len(mode_results):.2f}")
        summary[mode] = summarize(mode_results, args.max_clicks)
        if args.mirrored:
            summary[mode]["halves"] = {
                half: {k: v for k, v in summarize([r for r in mode_results if r.name.endswith(MIRRORED) == flipped],
                                                  args.max_clicks).items() if k in ("NoC@85", "NoC@90")}
                for half, flipped in (("as_is", False), ("mirrored", True))}
        results += mode_results
    payload = {"dataset": str(Path(args.dataset).resolve()), "checkpoint": session.meta.get("path"),
               "grey_checkpoint": session.meta.get("grey_checkpoint"),
               "checkpoint_meta": {k: v for k, v in session.meta.items() if k in ("step", "samples_seen", "cpu_hours")},
               "max_clicks": args.max_clicks, "pseudo_chain": args.pseudo_chain, "chain_confidence": args.chain_confidence,
               "zoom_in": not args.no_zoom, "mirrored": args.mirrored, "proposal_rule": session.rule.to_meta(),
               "grey_proposal_rule": session.grey_rule.to_meta(grey=True), "device": session.device_name,
               "summary": summary}
    write_json(out / "summary.json", payload)
    write_csv(out / "samples.csv", results, args.max_clicks)
    plot_curves(out / "miou.png", {m: summary[m]["mIoU@k"] for m in modes}, f"{Path(args.dataset).name}: mIoU vs clicks")
    for mode in modes:
        s = summary[mode]
        extra = f"  precision {s['pseudo_precision']:.2f}  gain {s['pseudo_mean_iou_gain']:+.4f}" if "pseudo_precision" in s else ""
        if s.get("pseudo_accepted_wrong"):
            extra += (f"  (right {s['pseudo_accepted_right']}: {s.get('pseudo_gain_right', 0):+.4f}, "
                      f"wrong {s['pseudo_accepted_wrong']}: {s['pseudo_gain_wrong']:+.4f})")
        print(f"{mode:9s} NoC@85 {s['NoC@85']:.2f}  NoC@90 {s['NoC@90']:.2f}  NoC@95 {s['NoC@95']:.2f}  "
              f">={args.max_clicks}@90 {s['>=' + str(args.max_clicks) + '@90']}  mIoU@3 {s.get('mIoU@3', 0):.3f}  "
              f"mIoU@5 {s.get('mIoU@5', 0):.3f}  SPC {s['seconds_per_click']:.3f}s{extra}")
        if "halves" in s:
            print("          " + "  ".join(f"{half} NoC@85 {h['NoC@85']:.2f} NoC@90 {h['NoC@90']:.2f}"
                                          for half, h in s["halves"].items()))
    print(f"wrote {out / 'summary.json'}, {out / 'samples.csv'}, {out / 'miou.png'}")
    print(json.dumps({m: {k: v for k, v in summary[m].items() if k != "mIoU@k"} for m in modes}))
    return 0
