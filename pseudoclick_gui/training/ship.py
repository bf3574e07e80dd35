"""Turn training checkpoint(s) into the shipped one: fp16 weights, config, and metadata (scores, calibrated
error threshold, training summary). Several sources are averaged weight by weight (the last checkpoints of a
run at a constant learning rate: a cheap, often better, smoother model); the metadata is the last one's.
``--weights`` makes it a weighted average (weight interpolation between two runs), and ``--stats-from I``
takes every BatchNorm running statistic from source I instead of averaging them (statistics are not weights:
a mix of two runs' statistics describes neither network).

    python -m pseudoclick_gui.training.ship RUN/model_step001234.pt [MORE.pt ...] models/pseudoclick-lite0.pt \\
        --meta error_threshold=0.4 --meta-json eval_grabcut=eval_grabcut/summary.json

``--rules-from C`` copies the proposal rules (``engine.rule.ProposalRule``, colour and grey) from C's metadata
onto the new checkpoint, so a continued training is measured with the shipped rules, not the paper's. The
rules of the file written are checked first: a value the engine would refuse is refused here.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..engine.checkpoint import load_model, save_checkpoint
from ..engine.rule import ProposalRule
from ..errors import PseudoClickError


def _value(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("src", nargs="+", help="one checkpoint, or several to average")
    ap.add_argument("dst")
    ap.add_argument("--weights", type=float, nargs="+", metavar="W", help="one weight per source (default: equal)")
    ap.add_argument("--stats-from", type=int, metavar="I", help="BatchNorm running statistics from source I (0-based)")
    ap.add_argument("--rules-from", metavar="C", help="copy the proposal rule from checkpoint C's metadata")
    ap.add_argument("--meta", action="append", default=[], metavar="KEY=VALUE", help="JSON or plain string value")
    ap.add_argument("--meta-json", action="append", default=[], metavar="KEY=FILE", help="a JSON file's summary")
    args = ap.parse_args(argv)
    model, meta = load_model(args.src[-1])
    meta.pop("path", None)
    weights = args.weights or [1.0] * len(args.src)
    if len(weights) != len(args.src) or sum(weights) <= 0:
        ap.error("--weights needs one weight per source, with a positive sum")
    if args.stats_from is not None and not 0 <= args.stats_from < len(args.src):
        ap.error(f"--stats-from must be 0..{len(args.src) - 1}")
    if len(args.src) > 1:
        states = [load_model(p)[0].state_dict() for p in args.src]
        total = sum(weights)
        avg = {}
        for k, v in states[-1].items():
            if not v.is_floating_point():
                avg[k] = v
            elif args.stats_from is not None and k.rsplit(".", 1)[-1] in ("running_mean", "running_var"):
                avg[k] = states[args.stats_from][k].float()
            else:
                avg[k] = sum(w * st[k].float() for w, st in zip(weights, states)) / total
        model.load_state_dict(avg)
        meta["averaged_from"] = [Path(p).name for p in args.src]
        if args.weights:
            meta["averaged_weights"] = [w / total for w in weights]
        if args.stats_from is not None:
            meta["batchnorm_statistics_from"] = Path(args.src[args.stats_from]).name
    if args.rules_from:
        rules = load_model(args.rules_from)[1]
        meta.update(ProposalRule.from_meta(rules).to_meta())
        meta.update(ProposalRule.from_meta(rules, grey=True).to_meta(grey=True))
        meta["rules_from"] = Path(args.rules_from).name
    for item in args.meta:
        k, _, v = item.partition("=")
        meta[k] = _value(v)
    for item in args.meta_json:
        k, _, f = item.partition("=")
        payload = json.loads(Path(f).read_text())
        summary = payload.get("summary", payload)
        meta[k] = {mode: {m: v for m, v in s.items() if m != "mIoU@k"} for mode, s in summary.items()}
    try:
        ProposalRule.from_meta(meta), ProposalRule.from_meta(meta, grey=True)
    except PseudoClickError as e:
        ap.exit(2, f"not written: {e}\n")
    save_checkpoint(model, args.dst, meta=meta)
    print(f"wrote {args.dst} ({Path(args.dst).stat().st_size / 1e6:.1f} MB) with meta keys {sorted(meta)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
