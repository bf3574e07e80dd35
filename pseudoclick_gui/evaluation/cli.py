"""``pseudoclick eval DATASET_DIR``: the standard robot-user evaluation (FACTS §3)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..engine.pseudo import (  # numpy and OpenCV only
    ISLAND_TRIALS,
    PROPOSAL_SOURCES,
    PSEUDO_INPUTS,
    PSEUDO_LIFETIMES,
    RANKS,
    SCORER_RANKS,
    SIGNS,
)
from ..errors import PseudoClickError

MIRRORED = "~mirrored"  # name suffix of a sample's left-right mirrored copy (--mirrored)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dataset", help="folder with images/, masks/ and optional ignore/")
    p.add_argument("--checkpoint", help="checkpoint to evaluate (default: the shipped model)")
    p.add_argument("--grey-checkpoint", help="a second checkpoint for grey images (default: the shipped one for grey images, only without --checkpoint)")
    p.add_argument("--whole-checkpoint", help="a whole-object network for --proposal-source whole, or for the whole candidates of a --proposal-scorer that weighs them (a second network fine-tuned on whole objects: pseudoclick train --data SET:W:parts=whole ...)")
    p.add_argument("--no-grey", action="store_true", help="one network for every image: no grey-image checkpoint")
    p.add_argument("--modes", default="human,pseudo,postproc", help="comma list of human, pseudo, postproc, oracle (pseudo clicks from the true error maps: a diagnostic ceiling), candidates (the scored rule's candidate that raises the IoU most: the ceiling for any scorer), verified (the app's annotator: a proposal is accepted when it lands in a true error region of its sign, else withdrawn; not the paper's protocol)")
    p.add_argument("--max-clicks", type=int, default=20)
    p.add_argument("--pseudo-chain", type=int, default=1, metavar="K", help="pseudo/oracle/candidates modes: after each human click accept up to K proposals in a row, as the app's auto-accept chain does (default 1: the paper's protocol)")
    p.add_argument("--verify-tries", type=int, default=1, metavar="T", help="verified mode: proposals the annotator looks at (withdrawing the wrong ones) per human click before clicking on (default 1)")
    p.add_argument("--chain-confidence", type=float, default=0.0, help="with --pseudo-chain: the second and later proposals only when their confidence reaches this")
    p.add_argument("--limit", type=int, help="evaluate only the first N samples")
    p.add_argument("--subsample", type=int, help="evaluate N samples drawn at random (seed 0) from the set")
    p.add_argument("--modality", default="flair", help="volume sets: the channel to segment (default FLAIR)")
    p.add_argument("--volume-slices", type=int, default=1, help="volume sets: evaluate this many axial slices per case, spread over the labelled extent (default 1: the largest, the BraTS protocol)")
    p.add_argument("--noc-only", action="store_true", help="stop each sample at IoU 0.95 (faster; mIoU@k then extrapolates)")
    p.add_argument("--out", help="output folder (default: eval_<dataset name>)")
    p.add_argument("--no-zoom", action="store_true", help="disable RITM zoom-in")
    p.add_argument("--first-click-zoom", type=float, metavar="G", help="zoom in from the first click when the window around its mask shows the object at least G times larger (0: from the second click, RITM's rule; default: the checkpoint's, else 0)")
    p.add_argument("--flip", action="store_true", help="test-time horizontal flip averaging")
    p.add_argument("--mirrored", action="store_true", help="also run every sample mirrored left-right (named NAME~mirrored): the same objects, a second robot trajectory each. The summary adds each half's NoC@85/90 ('halves'): how far they differ is the chance in a NoC figure on this set")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--proposal-rank", choices=RANKS, help="which error region a proposal comes from (default: the checkpoint's, else area)")
    p.add_argument("--proposal-signs", choices=SIGNS, help="which error maps may propose (default: the checkpoint's, else both)")
    p.add_argument("--fn-reach", type=float, help="positive proposals only this far from the mask, as a fraction of the network grid's long side (default: the checkpoint's, else unlimited)")
    p.add_argument("--proposal-min-fraction", type=float, help="no proposal for an error region smaller than this fraction of the mask (default: the checkpoint's, else 0)")
    p.add_argument("--proposal-source", choices=PROPOSAL_SOURCES, help="where proposals come from: the error maps (the paper), mask parts no positive click holds, islands first, where the mirrored view disagrees with the mask (views, islands+views), or all of them weighed by the fitted scorer, or the error net's maps (default: the checkpoint's, else errors)")
    p.add_argument("--grey-proposal-source", choices=PROPOSAL_SOURCES, help="the same for grey images (default: the checkpoint's grey_proposal_source, else --proposal-source's value)")
    p.add_argument("--error-net", help="an error net file (training/error_net.py fit) for --proposal-source errornet (default: the checkpoint's)")
    p.add_argument("--errornet-threshold", type=float, help="errornet source: the probability above which the error net's maps count as an error (default: the checkpoint's, else 0.5)")
    p.add_argument("--proposal-scorer", help="a scorer JSON (training/proposals.py fit) for --proposal-source scored (default: the checkpoint's)")
    p.add_argument("--scorer-rank", choices=SCORER_RANKS, help="the scored rule's choice among candidates at or above the threshold: the most probable (the shipped rule), or the largest expected change, (2p - 1) x the share of the mask its look-ahead flips (session 16; default: the scorer's)")
    p.add_argument("--scorer-threshold", type=float, help="the scored rule proposes when its probability reaches this (default: the scorer's)")
    p.add_argument("--island-min-fraction", type=float, help="no island proposal for a part smaller than this fraction of the mask (default: the checkpoint's, else 0)")
    p.add_argument("--island-min-gap", type=float, help="no island proposal for a part closer to the clicked parts than this times the square root of their area (default: the checkpoint's, else 0)")
    p.add_argument("--island-colour-llr", type=_llr, help="no island proposal for a part whose colours are not more likely background than clicked object by this log-ratio (e.g. 0); 'off' for none (default: the checkpoint's, else off)")
    p.add_argument("--error-colour-llr", type=_llr, help="no error-map proposal for an FP region that does not look more like background than mask by this log-ratio, or an FN region the other way; 'off' for none (default: the checkpoint's, else off)")
    p.add_argument("--island-trial", choices=ISLAND_TRIALS, help="the 'same object?' trial pass for island proposals: a positive click on the island; if the network then joins it to the clicked parts, 'gate' skips the island and 'confidence' keeps the lower confidence (default: the checkpoint's, else off)")
    p.add_argument("--pseudo-lifetime", choices=PSEUDO_LIFETIMES, help="an accepted pseudo click stays an input for the whole object, only until the next human click, or until a human click undoes what it changed (contradicted: that click then builds on the mask from before it) (default: the checkpoint's, else object)")
    p.add_argument("--grey-pseudo-lifetime", choices=PSEUDO_LIFETIMES, help="the same for grey images (default: the checkpoint's grey_pseudo_lifetime, else --pseudo-lifetime's value)")
    p.add_argument("--pseudo-input", choices=PSEUDO_INPUTS, help="the click channels an accepted pseudo click is drawn into: its own (the paper) or the human ones, as if the annotator had clicked there (default: the checkpoint's, else pseudo)")
    p.add_argument("--error-threshold", type=float, help="FP/FN threshold for proposals (default: the checkpoint's, else 0.5)")
    p.add_argument("--view-threshold", type=float, help="views sources: a proposal where the mirrored view says the mask is wrong with at least 1 - this (default: the checkpoint's, else 0.3)")
    p.add_argument("--view-signs", choices=SIGNS, help="views sources: which signs the mirrored view may propose (default: the checkpoint's, else positive)")
    p.add_argument("--view-min-depth", type=float, help="views sources: the least depth of a proposal's region, in network-grid pixels (default: the checkpoint's, else 2)")
    p.add_argument("--zoom-view-min-gain", type=float, help="scored rule: look for the closer view's candidate on a first click only when the zoom-in window would show the object at least this many times larger (default: the checkpoint's, else 1.5)")
    p.add_argument("--quiet", action="store_true")


def _llr(text: str) -> float:
    return float("inf") if text.strip().lower() in ("off", "none", "inf") else float(text)


def run(args: argparse.Namespace) -> int:
    import numpy as np
    import torch
    from tqdm import tqdm

    from ..engine.session import PROPOSAL_DEFAULTS, Session
    from .dataset import find_samples
    from .noc import MODES, evaluate_sample, summarize
    from .report import plot_curves, write_csv, write_json

    torch.set_num_threads(args.threads)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    bad = [m for m in modes if m not in MODES]
    if bad:
        raise PseudoClickError(f"unknown mode(s) {bad}; choose from {list(MODES)}")
    if args.verify_tries < 1:
        raise PseudoClickError(f"--verify-tries must be at least 1, not {args.verify_tries}")
    # every proposal setting with a flag of the same name; None: the checkpoint's value
    kw = {"zoom_in": not args.no_zoom, "flip": args.flip, "first_click_zoom": args.first_click_zoom,
          "grey_pseudo_lifetime": args.grey_pseudo_lifetime, "grey_proposal_source": args.grey_proposal_source,
          **{k: getattr(args, k) for k in PROPOSAL_DEFAULTS if hasattr(args, k)}}
    if args.proposal_scorer:
        from ..engine.pseudo import ProposalScorer

        try:
            kw["proposal_scorer"] = ProposalScorer.from_file(args.proposal_scorer)
        except (OSError, ValueError) as e:
            raise PseudoClickError(f"{args.proposal_scorer}: not a usable proposal scorer ({e})") from None
    if args.error_net:
        try:
            kw["error_net"] = torch.load(args.error_net, map_location="cpu", weights_only=True)
        except Exception as e:  # a missing or unreadable file
            raise PseudoClickError(f"{args.error_net}: not a readable error net ({type(e).__name__})") from None
    if args.whole_checkpoint:
        from ..engine.checkpoint import load_model

        kw["whole_model"] = load_model(args.whole_checkpoint)[0]
    if args.checkpoint:
        grey = None if args.no_grey else args.grey_checkpoint
        session = Session.from_checkpoint(args.checkpoint, grey_checkpoint=grey, **kw)
    elif args.grey_checkpoint and not args.no_grey:
        from ..engine.session import find_default_checkpoint

        session = Session.from_checkpoint(find_default_checkpoint(), grey_checkpoint=args.grey_checkpoint, **kw)
    else:
        session = Session.from_default_checkpoint(grey=not args.no_grey, **kw)
    scorer_changes = {k: v for k, v in (("threshold", args.scorer_threshold), ("rank", args.scorer_rank))
                      if v is not None}
    if scorer_changes:
        if session.proposal_scorer is None:
            flag = "--scorer-" + next(iter(scorer_changes))
            raise PseudoClickError(f"{flag}: no proposal scorer (give --proposal-scorer)")
        from dataclasses import replace

        session.proposal_scorer = replace(session.proposal_scorer, **scorer_changes)
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
                                chain_confidence=args.chain_confidence, verify_tries=args.verify_tries)
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
               "grey_checkpoint": session.meta.get("grey_checkpoint"), "whole_checkpoint": args.whole_checkpoint,
               "checkpoint_meta": {k: v for k, v in session.meta.items() if k in ("step", "samples_seen", "cpu_hours")},
               "max_clicks": args.max_clicks, "pseudo_chain": args.pseudo_chain,
               "verify_tries": args.verify_tries, "chain_confidence": args.chain_confidence,
               "zoom_in": not args.no_zoom, "flip": args.flip, "mirrored": args.mirrored,
               "first_click_zoom": session.first_click_zoom,
               **{k: getattr(session, k) for k in PROPOSAL_DEFAULTS},
               "grey_proposal_source": session.grey_proposal_source,
               "grey_pseudo_lifetime": session.grey_pseudo_lifetime, "error_net": session.error_net is not None,
               "proposal_scorer": None if session.proposal_scorer is None else session.proposal_scorer.to_dict(),
               "device": session.device_name, "summary": summary}
    write_json(out / "summary.json", payload)
    write_csv(out / "samples.csv", results, args.max_clicks)
    plot_curves(out / "miou.png", {m: summary[m]["mIoU@k"] for m in modes}, f"{Path(args.dataset).name}: mIoU vs clicks")
    for mode in modes:
        s = summary[mode]
        extra = f"  precision {s['pseudo_precision']:.2f}  gain {s['pseudo_mean_iou_gain']:+.4f}" if "pseudo_precision" in s else ""
        if s.get("pseudo_accepted_wrong"):
            extra += (f"  (right {s['pseudo_accepted_right']}: {s.get('pseudo_gain_right', 0):+.4f}, "
                      f"wrong {s['pseudo_accepted_wrong']}: {s['pseudo_gain_wrong']:+.4f})")
        if "pseudo_withdrawn" in s:
            extra += f"  withdrawn {s['pseudo_withdrawn']} ({s['withdrawn_per_click']:.2f} per click)"
        print(f"{mode:9s} NoC@85 {s['NoC@85']:.2f}  NoC@90 {s['NoC@90']:.2f}  NoC@95 {s['NoC@95']:.2f}  "
              f">={args.max_clicks}@90 {s['>=' + str(args.max_clicks) + '@90']}  mIoU@3 {s.get('mIoU@3', 0):.3f}  "
              f"mIoU@5 {s.get('mIoU@5', 0):.3f}  SPC {s['seconds_per_click']:.3f}s{extra}")
        if "halves" in s:
            print("          " + "  ".join(f"{half} NoC@85 {h['NoC@85']:.2f} NoC@90 {h['NoC@90']:.2f}"
                                          for half, h in s["halves"].items()))
    print(f"wrote {out / 'summary.json'}, {out / 'samples.csv'}, {out / 'miou.png'}")
    print(json.dumps({m: {k: v for k, v in summary[m].items() if k != "mIoU@k"} for m in modes}))
    return 0
