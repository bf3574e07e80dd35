"""Fit the scored rule's ``ProposalScorer`` (engine/pseudo.py) from robot-user trajectories.

    python -m pseudoclick_gui.training.proposals collect OUT.jsonl --checkpoint models/pseudoclick-lite0.pt \\
        --set ../shared/data/coco_mval_train:200 --set ../shared/data/bsds500_regions:120 ... [--exclude-dev]
    python -m pseudoclick_gui.training.proposals fit OUT.jsonl [MORE.jsonl ...] --out scorer.json
    python -m pseudoclick_gui.training.ship models/pseudoclick-lite0.pt models/pseudoclick-lite0.pt \\
        --meta proposal_scorer="$(cat scorer.json)"      # add --meta proposal_source=scored to make it the default

``collect`` runs the standard robot user (RITM's protocol) on each object until IoU 0.9 or ``--max-clicks``
(10; 1 collects first clicks only). After every human click it takes the scored rule's candidates
(``Session.scored_candidates``, every source: their features and the look-ahead pass) and labels each with what accepting it does to the IoU against the ground truth, at once and after the
robot's next click; then it follows the checkpoint's own proposal rule (accepting its proposal, as
``pseudoclick eval --modes pseudo`` does), so the states seen are those the rule meets. One JSON line per candidate. ``--exclude-dev`` leaves out the objects the
development evaluations draw (``--subsample`` with seed 0 of the sizes in ``DEV_SUBSAMPLE``), so the scorer is
never scored on what it was fitted to. ``--sources`` labels only some kinds of candidate.

``fit``: per candidate source, an L2-regularised logistic regression (Newton's method, numpy) of "the IoU went
up" (``--label gain``; ``gain_next``: up after the robot's next click) on the standardised ``feature_vector``.
It prints each source's leave-one-set-out AUC so a reader sees how well it carries over to data it was not
fitted on. Each model reads the features every one of its rows has (rows of older collections lack the newer
ones) and stores their names; ``--keep S.json`` carries another scorer's models over for the sources the rows
lack.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import numpy as np

from ..engine.pseudo import (
    CANDIDATE_SOURCES,
    PROPOSAL_FEATURES,
    ProposalScorer,
    feature_vector,
)

# the development subsamples (pseudoclick eval --subsample N, seed 0; models/MODEL.md)
DEV_SUBSAMPLE = {"coco_mval_train": 60, "bsds500_regions": 40, "ccp_fashion_person": 40, "weizmann_horse": 40,
                 "humanseg_removebg": 40, "ph2_dermoscopy": 60, "camvid_train": 40}


def _samples(spec: str, exclude_dev: bool, seed: int):
    from ..evaluation.dataset import find_samples

    folder, _, n = spec.rpartition(":") if ":" in spec else (spec, "", "")
    folder = Path(folder)
    samples = find_samples(folder)
    if exclude_dev and folder.name in DEV_SUBSAMPLE and DEV_SUBSAMPLE[folder.name] < len(samples):
        dev = {s.name for s in random.Random(0).sample(samples, DEV_SUBSAMPLE[folder.name])}
        samples = [s for s in samples if s.name not in dev]
    if n and int(n) < len(samples):
        samples = sorted(random.Random(seed).sample(samples, int(n)), key=lambda s: s.name)
    return folder.name, samples


def collect(session, specs: list[str], out: Path, exclude_dev: bool = True, seed: int = 1, max_clicks: int = 10,
            target: float = 0.9, threshold: float = 0.49, log=print, sources: tuple[str, ...] = CANDIDATE_SOURCES) -> int:
    """Append one JSON line per candidate to ``out``; returns how many were written. ``sources``: label only
    these kinds of candidate (each costs two more passes)."""
    from ..evaluation.clicker import RobotClicker, iou

    written = 0
    t0 = time.time()
    with open(out, "a", encoding="utf-8") as fh:
        for spec in specs:
            set_name, samples = _samples(spec, exclude_dev, seed)
            for si, sample in enumerate(samples):
                image, gt, ignore = sample.load()
                session.set_image(image)
                robot = RobotClicker(gt, ignore)
                pred = np.zeros_like(gt, bool)
                h, w = gt.shape
                for step in range(max_clicks):
                    click = robot.next_click(pred)
                    if click is None:
                        break
                    session.add_click(click.x, click.y, click.positive)
                    p = session.predict()
                    pred = p.probability > threshold
                    before = iou(pred, gt, ignore)
                    if before >= target:
                        break
                    t = p.extra.get("transform")
                    cands = session.scored_candidates(views=True, sources=sources)
                    base_next = _after_next_click(session, robot, pred, gt, ignore, threshold) if cands else 0.0
                    for cand, feats, pc, after in cands:
                        prob = t.inverse_planes(after[..., :1], h, w)[0]
                        r, c = pc.rc
                        ok = ignore is None or not ignore[r, c]
                        correct = ok and (bool(gt[r, c] and not pred[r, c]) if pc.positive else bool(pred[r, c] and not gt[r, c]))
                        now = iou(prob > threshold, gt, ignore)
                        session.accept_pseudo_click(pc)
                        later = _after_next_click(session, robot, prob > threshold, gt, ignore, threshold)
                        session.undo()
                        row = {"set": set_name, "sample": sample.name, "step": step, "source": cand.source,
                               "iou": before, "gain": now - before, "gain_next": later - base_next,
                               "correct": bool(correct), **feats}
                        fh.write(json.dumps(row) + "\n")
                        written += 1
                    proposal = session.propose_pseudo_click()
                    if proposal is not None:
                        session.accept_pseudo_click(proposal)
                        pred = session.predict().probability > threshold
                fh.flush()
                log(f"{set_name} {si + 1}/{len(samples)}: {written} candidates, {time.time() - t0:.0f} s")
    return written


def _after_next_click(session, robot, pred, gt, ignore, threshold) -> float:
    """The IoU after the robot's next click on ``pred`` (the session's state is restored)."""
    from ..evaluation.clicker import iou

    saved = robot.not_clicked.copy(), list(robot.clicks)
    click = robot.next_click(pred)
    robot.not_clicked, robot.clicks = saved
    if click is None:
        return iou(pred, gt, ignore)
    session.add_click(click.x, click.y, click.positive)
    out = iou(session.predict().probability > threshold, gt, ignore)
    session.undo()
    return out


def _fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1.0, iters: int = 50) -> dict:
    mean, std = x.mean(0), x.std(0) + 1e-6
    z = np.c_[(x - mean) / std, np.ones(len(x))]
    w = np.zeros(z.shape[1])
    reg = l2 * np.r_[np.ones(len(w) - 1), 0.0]
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-np.clip(z @ w, -50, 50)))
        grad = z.T @ (p - y) + reg * w
        hess = (z * (p * (1 - p))[:, None]).T @ z + np.diag(reg) + 1e-6 * np.eye(len(w))
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return {"mean": mean.tolist(), "std": std.tolist(), "weights": w[:-1].tolist(), "bias": float(w[-1])}


def auc(y: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve (ties count half); nan when one class is missing."""
    y = np.asarray(y, bool)
    pos, neg = score[y], score[~y]
    if not len(pos) or not len(neg):
        return float("nan")
    order = np.argsort(np.r_[pos, neg], kind="mergesort")
    values = np.r_[pos, neg][order]
    ranks = np.empty(len(values))
    i = 0
    while i < len(values):  # average ranks over ties
        j = i
        while j + 1 < len(values) and values[j + 1] == values[i]:
            j += 1
        ranks[i : j + 1] = (i + j) / 2 + 1
        i = j + 1
    r = np.empty(len(values))
    r[order] = ranks
    return float((r[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


LABELS = ("gain", "gain_next")


def fit(rows: list[dict], threshold: float = 0.6, l2: float = 1.0, label: str = "gain", log=print) -> ProposalScorer:
    """One logistic model per candidate source of ``rows`` (collect's lines). ``label``: what counts as a good
    candidate — ``"gain"`` (the shipped scorer's): accepting it raises the IoU at once; ``"gain_next"``: the IoU
    after the robot's next click is higher with it accepted than without (closer to what NoC counts, but
    little of it is predictable: docs/experiments.md)."""
    if label not in LABELS:
        raise ValueError(f"label must be one of {LABELS}, not {label!r}")
    models = {}
    for source in CANDIDATE_SOURCES:
        sub = [r for r in rows if r["source"] == source]
        if len(sub) < 30:
            log(f"{source}: {len(sub)} candidates, too few to fit; never proposed")
            continue
        names = tuple(k for k in PROPOSAL_FEATURES if all(k in r for r in sub))  # rows of older collections lack new ones
        x = np.stack([feature_vector(r, names) for r in sub])
        y = np.array([r[label] > 0 for r in sub], float)
        sets = np.array([r["set"] for r in sub])
        held_out = []
        for name in sorted(set(sets)):
            train = sets != name
            if train.all() or len(set(y[train])) < 2 or (~train).sum() < 10:
                continue
            m = ProposalScorer({source: _fit_logistic(x[train], y[train], l2)}, threshold, names)
            scores = np.array([m.probability(source, r) for r in np.array(sub, dtype=object)[~train]])
            held_out.append(f"{name} {auc(y[~train], scores):.2f}")
        models[source] = {**_fit_logistic(x, y, l2), "features": list(names)}
        log(f"{source}: {len(sub)} candidates, {y.mean():.2f} with {label} > 0; leave-one-set-out AUC: " + ", ".join(held_out))
    return ProposalScorer(models, threshold, PROPOSAL_FEATURES)


def _read(paths: list[str]) -> list[dict]:
    rows = []
    for p in paths:
        with open(p, encoding="utf-8") as fh:
            rows.extend(json.loads(line) for line in fh if line.strip())
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("collect", help="label the scored rule's candidates along robot-user trajectories")
    c.add_argument("out", help="JSON-lines file (appended to)")
    c.add_argument("--set", action="append", required=True, metavar="FOLDER[:N]", help="a dataset, N objects drawn")
    c.add_argument("--checkpoint", help="default: the shipped model")
    c.add_argument("--exclude-dev", action="store_true", help="leave out the development subsamples")
    c.add_argument("--seed", type=int, default=1)
    c.add_argument("--threads", type=int, default=1)
    c.add_argument("--max-clicks", type=int, default=10, help="human clicks per object (1: first clicks only)")
    c.add_argument("--sources", default=",".join(CANDIDATE_SOURCES),
                   help=f"the kinds of candidate to label, comma-separated (default: all of {CANDIDATE_SOURCES})")
    f = sub.add_parser("fit", help="fit the scorer")
    f.add_argument("rows", nargs="+")
    f.add_argument("--out", required=True, help="scorer JSON (ship it as meta proposal_scorer)")
    f.add_argument("--threshold", type=float, default=0.6, help="propose when the probability reaches this")
    f.add_argument("--l2", type=float, default=1.0)
    f.add_argument("--label", choices=LABELS, default="gain", help="what a good candidate is (see fit)")
    f.add_argument("--keep", metavar="SCORER", help="a scorer JSON whose models are kept for the sources the rows lack")
    args = ap.parse_args(argv)
    if args.cmd == "collect":
        import torch

        from ..engine.session import Session

        torch.set_num_threads(args.threads)
        sources = tuple(x.strip() for x in args.sources.split(",") if x.strip())
        if set(sources) - set(CANDIDATE_SOURCES) or not sources:
            ap.error(f"--sources must name some of {CANDIDATE_SOURCES}")
        s = Session.from_checkpoint(args.checkpoint) if args.checkpoint else Session.from_default_checkpoint()
        n = collect(s, args.set, Path(args.out), args.exclude_dev, args.seed, args.max_clicks,
                    log=lambda m: print(m, file=sys.stderr, flush=True), sources=sources)
        print(f"wrote {n} candidates to {args.out}")
        return 0
    scorer = fit(_read(args.rows), args.threshold, args.l2, args.label)
    if args.keep:
        base = ProposalScorer.from_file(args.keep)
        kept = {src: {**m, "features": list(base.model_features(src))} for src, m in base.models.items()
                if src not in scorer.models}
        scorer = ProposalScorer({**kept, **scorer.models}, args.threshold, PROPOSAL_FEATURES)
        print(f"kept {sorted(kept)} from {args.keep}")
    Path(args.out).write_text(json.dumps(scorer.to_dict()))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
