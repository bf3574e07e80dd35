import json

import pytest
import torch

from pseudoclick_gui.cli import main


def test_eval_cli_runs_every_mode_and_records_its_settings(tiny_dataset, tmp_path):
    from pseudoclick_gui.engine.checkpoint import save_checkpoint
    from pseudoclick_gui.engine.error_net import ErrorNet
    from pseudoclick_gui.engine.network import PseudoClickNet

    torch.manual_seed(0)
    save_checkpoint(PseudoClickNet(), tmp_path / "m.pt", meta={"proposal_source": "islands+errors", "error_threshold": 0.3})
    out = tmp_path / "ev"
    code = main(["eval", str(tiny_dataset), "--checkpoint", str(tmp_path / "m.pt"), "--modes",
                 "human,pseudo,oracle,candidates,verified", "--max-clicks", "3", "--pseudo-chain", "2",
                 "--verify-tries", "2", "--grey-proposal-source", "islands", "--quiet",
                 "--zoom-view-min-gain", "2.5", "--first-click-zoom", "2", "--pseudo-input", "human", "--threads", "1",
                 "--out", str(out)])
    assert code in (0, None)
    payload = json.loads((out / "summary.json").read_text())
    assert payload["pseudo_chain"] == 2 and payload["verify_tries"] == 2
    assert payload["grey_proposal_source"] == "islands" and payload["pseudo_input"] == "human"
    assert payload["zoom_view_min_gain"] == 2.5 and payload["first_click_zoom"] == 2.0
    assert payload["proposal_source"] == "islands+errors" and payload["error_net"] is False
    summary = payload["summary"]
    assert set(summary) == {"human", "pseudo", "oracle", "candidates", "verified"}
    assert all(s["samples"] == 6 for s in summary.values())
    assert all(1 <= s["NoC@90"] <= 3 for s in summary.values())
    assert summary["oracle"]["pseudo_precision"] == 1.0  # the true error maps are always right
    assert summary["candidates"].get("pseudo_mean_iou_gain", 1.0) > 0  # only candidates that raise the IoU
    v = summary["verified"]  # every proposal looked at is either accepted (and right) or withdrawn
    if "pseudo_proposals" in v:
        assert round(v["pseudo_precision"] * v["pseudo_proposals"]) == v["pseudo_proposals"] - v["pseudo_withdrawn"]
    assert (out / "samples.csv").is_file() and (out / "miou.png").is_file()

    # an error net from a file drives the errornet rule: one that sees a missed object everywhere always proposes
    net = ErrorNet(width=8)
    with torch.no_grad():
        net.head.weight.zero_()
        net.head.bias.copy_(torch.tensor([-6.0, 6.0]))
    torch.save(net.state_for_checkpoint(), tmp_path / "net.pt")
    main(["eval", str(tiny_dataset), "--checkpoint", str(tmp_path / "m.pt"), "--modes", "pseudo", "--max-clicks", "2",
          "--proposal-source", "errornet", "--error-net", str(tmp_path / "net.pt"), "--quiet", "--threads", "1",
          "--out", str(out)])
    payload = json.loads((out / "summary.json").read_text())
    assert payload["proposal_source"] == "errornet" and payload["error_net"] is True
    assert payload["summary"]["pseudo"]["pseudo_proposals"] >= 6  # at least one per object

    # a whole-object network beside a given checkpoint drives the whole rule
    main(["eval", str(tiny_dataset), "--checkpoint", str(tmp_path / "m.pt"), "--whole-checkpoint",
          str(tmp_path / "m.pt"), "--modes", "pseudo", "--max-clicks", "2", "--proposal-source", "whole", "--quiet",
          "--threads", "1", "--out", str(out)])
    payload = json.loads((out / "summary.json").read_text())
    assert payload["proposal_source"] == "whole" and payload["whole_checkpoint"] == str(tmp_path / "m.pt")
    assert payload["summary"]["pseudo"]["samples"] == 6


def test_eval_cli_refuses_a_verify_tries_below_one(tiny_dataset, tmp_path, capsys):
    code = main(["eval", str(tiny_dataset), "--modes", "verified", "--verify-tries", "0", "--quiet",
                 "--out", str(tmp_path / "ev")])
    assert code == 1 and "--verify-tries must be at least 1" in capsys.readouterr().err


def test_eval_cli_scorer_rank_needs_a_scorer_and_is_recorded(tiny_dataset, tmp_path, capsys):
    from pseudoclick_gui.engine.checkpoint import save_checkpoint
    from pseudoclick_gui.engine.network import PseudoClickNet
    from pseudoclick_gui.engine.pseudo import PROPOSAL_FEATURES

    torch.manual_seed(0)
    save_checkpoint(PseudoClickNet(), tmp_path / "plain.pt")
    code = main(["eval", str(tiny_dataset), "--checkpoint", str(tmp_path / "plain.pt"), "--modes", "human",
                 "--scorer-rank", "expected", "--quiet", "--out", str(tmp_path / "ev")])
    assert code == 1 and "--scorer-rank: no proposal scorer" in capsys.readouterr().err
    k = len(PROPOSAL_FEATURES)
    m = {"mean": [0.0] * k, "std": [1.0] * k, "weights": [0.0] * k, "bias": 0.0}
    save_checkpoint(PseudoClickNet(), tmp_path / "scored.pt",
                    meta={"proposal_source": "scored", "proposal_scorer": {"models": {"fp": m}, "threshold": 0.5}})
    main(["eval", str(tiny_dataset), "--checkpoint", str(tmp_path / "scored.pt"), "--modes", "pseudo", "--max-clicks",
          "2", "--scorer-rank", "expected", "--quiet", "--threads", "1", "--out", str(tmp_path / "ev")])
    payload = json.loads((tmp_path / "ev" / "summary.json").read_text())
    assert payload["proposal_scorer"]["rank"] == "expected"


def test_eval_cli_refuses_an_unreadable_error_net_with_a_message(tiny_dataset, tmp_path, capsys):
    (tmp_path / "net.pt").write_bytes(b"not a net")
    code = main(["eval", str(tiny_dataset), "--modes", "pseudo", "--proposal-source", "errornet", "--error-net",
                 str(tmp_path / "net.pt"), "--quiet", "--out", str(tmp_path / "ev")])
    assert code == 1 and "not a readable error net" in capsys.readouterr().err


def test_eval_cli_mirrored_adds_each_sample_mirrored_and_reports_both_halves(tiny_dataset, tmp_path):
    import csv

    import cv2

    flipped = tmp_path / "flipped"  # the same set mirrored on disk
    for sub in ("images", "masks"):
        (flipped / sub).mkdir(parents=True)
        for f in (tiny_dataset / sub).iterdir():
            cv2.imwrite(str(flipped / sub / f.name), cv2.imread(str(f), cv2.IMREAD_UNCHANGED)[:, ::-1])
    (flipped / "instances.csv").write_text((tiny_dataset / "instances.csv").read_text())

    def run(dataset, out, *extra):  # the shipped network: trajectories that differ from object to object
        main(["eval", str(dataset), "--modes", "human", "--max-clicks", "3", "--quiet", "--threads", "1",
              "--out", str(tmp_path / out), *extra])
        payload = json.loads((tmp_path / out / "summary.json").read_text())
        with open(tmp_path / out / "samples.csv") as f:
            rows = {row["sample"]: [float(row[f"iou@{k}"]) for k in (1, 2, 3)] for row in csv.DictReader(f)}
        return payload, rows

    both, rows = run(tiny_dataset, "both", "--mirrored")
    plain, plain_rows = run(tiny_dataset, "plain")
    mirror, mirror_rows = run(flipped, "mirror")
    assert both["mirrored"] is True and both["summary"]["human"]["samples"] == 12
    expected = {**plain_rows, **{n + "~mirrored": v for n, v in mirror_rows.items()}}
    assert rows.keys() == expected.keys()

    def gap(a, b):
        return max(abs(x - y) for n in a for x, y in zip(a[n], b[n]))

    # CPU convolutions are not bit-reproducible from run to run (a pixel at the threshold may flip: < 0.001 IoU
    # here), while an object and its mirror image differ by far more
    assert gap(rows, expected) < 0.003
    assert gap({n: rows[n + "~mirrored"] for n in plain_rows}, plain_rows) > 0.01
    halves = both["summary"]["human"]["halves"]
    assert halves["as_is"]["NoC@90"] == plain["summary"]["human"]["NoC@90"]
    assert halves["mirrored"]["NoC@90"] == mirror["summary"]["human"]["NoC@90"]
    assert both["summary"]["human"]["NoC@90"] == pytest.approx((halves["as_is"]["NoC@90"] + halves["mirrored"]["NoC@90"]) / 2)
