import json

import pytest
import torch

from pseudoclick_gui.cli import main


def test_eval_cli_runs_every_mode_and_records_its_settings(tiny_dataset, tmp_path):
    from pseudoclick_gui.engine.checkpoint import save_checkpoint
    from pseudoclick_gui.engine.network import PseudoClickNet

    torch.manual_seed(0)
    save_checkpoint(PseudoClickNet(), tmp_path / "m.pt", meta={"proposal_source": "islands+errors", "error_threshold": 0.3})
    out = tmp_path / "ev"
    code = main(["eval", str(tiny_dataset), "--checkpoint", str(tmp_path / "m.pt"), "--modes",
                 "human,pseudo,postproc,oracle", "--max-clicks", "3", "--pseudo-chain", "2", "--quiet",
                 "--threads", "1", "--out", str(out)])
    assert code in (0, None)
    payload = json.loads((out / "summary.json").read_text())
    assert payload["pseudo_chain"] == 2
    assert payload["proposal_rule"]["proposal_source"] == "islands+errors"
    assert payload["proposal_rule"]["error_threshold"] == 0.3
    summary = payload["summary"]
    assert set(summary) == {"human", "pseudo", "postproc", "oracle"}
    assert all(s["samples"] == 6 for s in summary.values())
    assert all(1 <= s["NoC@90"] <= 3 for s in summary.values())
    assert summary["oracle"]["pseudo_precision"] == 1.0  # the true error maps are always right
    assert (out / "samples.csv").is_file() and (out / "miou.png").is_file()

    # the paper's rule instead of the checkpoint's
    main(["eval", str(tiny_dataset), "--checkpoint", str(tmp_path / "m.pt"), "--modes", "pseudo", "--max-clicks", "2",
          "--proposal-rule", "paper", "--quiet", "--threads", "1", "--out", str(out)])
    payload = json.loads((out / "summary.json").read_text())
    assert payload["proposal_rule"]["proposal_source"] == "errors" and payload["proposal_rule"]["error_threshold"] == 0.5


def test_eval_cli_refuses_modes_it_does_not_know(tiny_dataset, tmp_path, capsys):
    code = main(["eval", str(tiny_dataset), "--modes", "verified", "--quiet", "--out", str(tmp_path / "ev")])
    assert code != 0 and "unknown mode" in capsys.readouterr().err


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
