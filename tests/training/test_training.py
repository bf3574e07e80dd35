import csv
import os
import random
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from pseudoclick_gui.engine.checkpoint import load_model
from pseudoclick_gui.training.clicks import error_click, own_pseudo_clicks
from pseudoclick_gui.training.data import ClickSegStream, CropConfig, DatasetSpec, read_instances
from pseudoclick_gui.training.loop import TrainConfig, Trainer
from pseudoclick_gui.training.losses import error_loss, normalized_focal_loss

ROOT = Path(__file__).resolve().parents[2]


def test_spec_parsing_weights_and_filters(tiny_dataset):
    spec = DatasetSpec.parse(f"{tiny_dataset}:0.5:min_area=1500")
    assert spec.weight == 0.5 and spec.min_area == 1500
    all_inst = read_instances(DatasetSpec.parse(str(tiny_dataset)))
    assert len(all_inst) == 6
    assert 0 < len(read_instances(spec)) < 6
    two = [i for i in all_inst if i.siblings]
    assert two and all(s.exists() for i in two for s in i.siblings)


def test_stream_batches_are_consistent_and_deterministic(tiny_dataset):
    spec = [DatasetSpec.parse(str(tiny_dataset))]
    ds = ClickSegStream(spec, CropConfig(size=64), batch_size=3, seed=5)
    b = ds.batch(7)
    assert b["image"].shape == (3, 3, 64, 64) and b["image"].dtype == torch.uint8
    assert b["gt"].shape == (3, 1, 64, 64) and set(torch.unique(b["gt"]).tolist()) <= {-1.0, 0.0, 1.0}
    clicks = b["clicks"]
    for i in range(3):
        pos = clicks[i][clicks[i, :, 2] > 0]
        assert len(pos) >= 1
        for r, c, _ in pos.tolist():  # positives lie on the object
            assert b["gt"][i, 0, int(r), int(c)] == 1
        for r, c, _ in clicks[i][clicks[i, :, 2] < 0].tolist():
            assert b["gt"][i, 0, int(r), int(c)] != 1
    again = ds.batch(7)
    assert torch.equal(b["image"], again["image"]) and torch.equal(b["clicks"], again["clicks"])
    assert not torch.equal(b["image"], ds.batch(8)["image"])


def test_nfl_is_small_for_right_answers_and_ignores_ignore_pixels():
    target = torch.zeros(1, 1, 8, 8)
    target[..., :4] = 1
    good = torch.where(target > 0, 8.0, -8.0)
    bad = -good
    assert normalized_focal_loss(good, target) < 1e-3 < 1.0 < normalized_focal_loss(bad, target)
    all_background = torch.full_like(target, -8.0)  # wrong exactly on the object's pixels
    assert normalized_focal_loss(all_background, target) > 1.0
    ignored = target.clone()
    ignored[..., :4] = -1  # ... which are now ignored
    assert normalized_focal_loss(all_background, ignored) < 1e-3


def test_iterative_click_lands_in_the_larger_error():
    gt = np.zeros((40, 40), np.float32)
    gt[5:35, 5:35] = 1
    pred = np.zeros((40, 40), bool)
    pred[5:35, 5:20] = True  # right half missed -> FN
    r, c, sign = error_click(gt, pred, np.random.default_rng(0))
    assert sign == 1 and gt[r, c] == 1 and not pred[r, c]


def _cfg(data, out, **kw):
    base = dict(data=[str(data)], out=str(out), batch=2, crop=64, workers=0, threads=1, checkpoint_minutes=100,
                total_steps=20, warmup_steps=2, max_iter=2)
    base.update(kw)
    return TrainConfig(**base)


def test_resume_continues_exactly(tiny_dataset, tmp_path):
    straight = Trainer(_cfg(tiny_dataset, tmp_path / "a", max_steps=4))
    straight.run()
    first = Trainer(_cfg(tiny_dataset, tmp_path / "b", max_steps=2))
    first.run()
    resumed = Trainer(_cfg(tiny_dataset, tmp_path / "b", max_steps=4), resume=True)
    assert resumed.step == 2
    resumed.run()
    assert resumed.step == 4
    for (k, a), (_, b) in zip(straight.model.state_dict().items(), resumed.model.state_dict().items()):
        assert torch.equal(a, b), k
    model, meta = load_model(tmp_path / "b" / "model_step000004.pt")
    assert meta["step"] == 4 and meta["samples_seen"] == 8
    assert (tmp_path / "b" / "log.csv").read_text().startswith("step,")


@pytest.mark.parametrize("workers,group", [(0, False), (1, True)])
def test_sigterm_saves_a_checkpoint(tiny_dataset, tmp_path, workers, group):
    # group: the signal reaches the data-loading worker too (a process-group kill, Ctrl+C in a terminal)
    kill = "os.killpg(os.getpgid(0), signal.SIGTERM)" if group else "os.kill(os.getpid(), signal.SIGTERM)"
    code = (
        "import os, signal, sys\n"
        "from pseudoclick_gui.training.loop import Trainer, TrainConfig\n"
        f"cfg = TrainConfig(data=[{str(tiny_dataset)!r}], out={str(tmp_path / 'r')!r}, batch=2, crop=64, workers={workers},"
        " threads=1, checkpoint_minutes=100, total_steps=1000, warmup_steps=2, max_iter=1)\n"
        "t = Trainer(cfg)\n"
        "orig = t.train_step\n"
        "def step(b):\n"
        "    out = orig(b)\n"
        f"    if t.step == 2: {kill}\n"
        "    return out\n"
        "t.train_step = step\n"
        "sys.exit(t.run())\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, timeout=300, start_new_session=group)
    state = torch.load(tmp_path / "r" / "last.pt", weights_only=True)
    assert 3 <= state["step"] < 1000


@pytest.mark.slow
def test_two_process_ddp_training_on_cpu(tiny_dataset, tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    # --standalone: torchrun's own rendezvous on a port it picks itself (no free-port race with other jobs)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "pseudoclick_gui.cli", "train", "--data", str(tiny_dataset), "--out",
           str(tmp_path / "ddp"), "--batch", "2", "--crop", "64", "--workers", "0", "--threads", "1",
           "--max-steps", "3", "--total-steps", "10", "--max-iter", "1"]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    model, meta = load_model(tmp_path / "ddp" / "model_step000003.pt")
    assert meta["step"] == 3 and meta["samples_seen"] == 3 * 2 * 2  # two processes, batch 2 each


def test_copy_paste_keeps_the_object_and_replaces_the_background(tiny_dataset):
    spec = [DatasetSpec.parse(str(tiny_dataset))]
    plain = ClickSegStream(spec, CropConfig(size=64, paste_prob=0.0, grey_prob=0.0), batch_size=1, seed=3)
    pasted = ClickSegStream(spec, CropConfig(size=64, paste_prob=1.0, grey_prob=0.0), batch_size=1, seed=3)
    b = pasted.batch(0)
    assert (b["gt"] >= 0).all()  # the pasted background fills the whole crop: nothing to ignore
    assert (b["gt"] == 1).sum() >= 60
    assert not torch.equal(plain.batch(0)["image"], b["image"])


def test_nested_paste_puts_a_small_object_inside_a_host_that_becomes_a_distractor(tiny_dataset):
    spec = [DatasetSpec.parse(str(tiny_dataset))]
    stream = ClickSegStream(spec, CropConfig(size=96, nest_prob=1.0, paste_prob=0.0, grey_prob=0.0), batch_size=1)
    img = np.zeros((96, 96, 3), np.uint8)
    tmask = np.zeros((96, 96), bool)
    tmask[8:88, 20:76] = True
    img[tmask] = (10, 250, 10)  # a green object the tiny images do not contain
    done = 0
    for seed in range(20):
        out = stream.paste_inside_other_object(img, tmask, random.Random(seed))
        if out is None:
            continue
        done += 1
        nimg, obj, (host,), valid = out
        assert 30 <= obj.sum() < tmask.sum() / 2  # shrunk
        assert not (host & obj).any() and host.sum() >= 3 * obj.sum()
        ys, xs = np.nonzero(obj)
        ring = np.zeros_like(obj)
        ring[max(0, ys.min() - 3) : ys.max() + 4, max(0, xs.min() - 3) : xs.max() + 4] = True
        assert (host[ring & ~obj]).mean() > 0.5  # the host surrounds it
        inner = cv2.erode(obj.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
        assert (nimg[inner][:, 1] > 200).all() and (nimg[inner][:, 0] < 60).all()  # the object's own pixels
    assert done >= 5
    b = stream.batch(0)  # and through the stream: the target is the small pasted object, clicks on it
    assert 30 <= (b["gt"] == 1).sum() < 0.2 * 96 * 96


def test_quick_eval_writes_a_learning_curve_row(tiny_dataset, tmp_path):
    t = Trainer(_cfg(tiny_dataset, tmp_path / "q", eval_data=str(tiny_dataset), eval_samples=2))
    row = t.quick_eval()
    assert set(row) >= {"step", "human_noc90", "pseudo_noc90", "pseudo_precision"}
    assert 1 <= row["human_noc90"] <= 20
    assert (tmp_path / "q" / "eval.csv").read_text().startswith("step,")


def test_quick_eval_reports_the_grey_set_and_widens_an_older_log(tiny_dataset, tmp_path):
    import csv

    out = tmp_path / "g"
    out.mkdir()
    (out / "eval.csv").write_text("step,train_hours,human_noc85\n7,0.1,3.5\n")  # a log from before the column
    t = Trainer(_cfg(tiny_dataset, out, eval_data=str(tiny_dataset), eval_grey=str(tiny_dataset), eval_samples=2))
    row = t.quick_eval()
    assert 0.0 <= row["grey_miou3"] <= 1.0
    with open(out / "eval.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["step"] for r in rows] == ["7", "0"]
    assert rows[0]["grey_miou3"] == "" and float(rows[1]["grey_miou3"]) == row["grey_miou3"]
    assert rows[1]["human_noc90"] != ""
    t.quick_eval()  # same columns now: a plain append
    assert (out / "eval.csv").read_text().count("\n") == 4


def test_ship_averages_checkpoints_and_writes_metadata(tmp_path):
    from pseudoclick_gui.engine.checkpoint import save_checkpoint
    from pseudoclick_gui.engine.network import PseudoClickNet
    from pseudoclick_gui.training.ship import main as ship

    torch.manual_seed(0)
    a, b = PseudoClickNet(), PseudoClickNet()
    save_checkpoint(a, tmp_path / "a.pt", meta={"step": 1})
    save_checkpoint(b, tmp_path / "b.pt", meta={"step": 2})
    ship([str(tmp_path / "a.pt"), str(tmp_path / "b.pt"), str(tmp_path / "out.pt"), "--meta", "error_threshold=0.4"])
    model, meta = load_model(tmp_path / "out.pt")
    assert meta["step"] == 2 and meta["error_threshold"] == 0.4 and meta["averaged_from"] == ["a.pt", "b.pt"]
    k = "seg_head.out.weight"
    expected = (a.state_dict()[k].half().float() + b.state_dict()[k].half().float()) / 2
    assert torch.allclose(model.state_dict()[k], expected, atol=2e-3)


def test_ship_rules_from_copies_the_proposal_rule_and_nothing_else(tmp_path):
    from pseudoclick_gui.engine.checkpoint import save_checkpoint
    from pseudoclick_gui.engine.network import PseudoClickNet
    from pseudoclick_gui.engine.session import Session
    from pseudoclick_gui.training.ship import main as ship

    rule = {"proposal_source": "islands+errors", "error_threshold": 0.3, "pseudo_lifetime": "step",
            "grey_pseudo_lifetime": "object"}
    save_checkpoint(PseudoClickNet(), tmp_path / "shipped.pt", meta={**rule, "step": 9, "cpu_hours": 5.0})
    save_checkpoint(PseudoClickNet(), tmp_path / "run.pt", meta={"step": 3})
    ship([str(tmp_path / "run.pt"), str(tmp_path / "out.pt"), "--rules-from", str(tmp_path / "shipped.pt")])
    model, meta = load_model(tmp_path / "out.pt")
    assert {k: meta[k] for k in rule} == rule and meta["step"] == 3 and "cpu_hours" not in meta
    s = Session(model, "cpu", meta=meta)
    assert (s.rule.source, s.rule.error_threshold, s.rule.lifetime, s.grey_rule.lifetime) == (
        "islands+errors", 0.3, "step", "object")
    # a rule the engine would refuse is not written
    with pytest.raises(SystemExit):
        ship([str(tmp_path / "run.pt"), str(tmp_path / "bad.pt"), "--meta", "pseudo_lifetime=objct"])
    assert not (tmp_path / "bad.pt").exists()


def test_ship_interpolates_with_weights_and_keeps_one_sources_batchnorm_statistics(tmp_path):
    from pseudoclick_gui.engine.checkpoint import save_checkpoint
    from pseudoclick_gui.engine.network import PseudoClickNet
    from pseudoclick_gui.training.ship import main as ship

    torch.manual_seed(1)
    a, b = PseudoClickNet(), PseudoClickNet()
    with torch.no_grad():
        for m in b.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.fill_(0.5)
                m.running_var.fill_(3.0)
    save_checkpoint(a, tmp_path / "a.pt")
    save_checkpoint(b, tmp_path / "b.pt")
    out = tmp_path / "mix.pt"
    ship([str(tmp_path / "a.pt"), str(tmp_path / "b.pt"), str(out), "--weights", "3", "1", "--stats-from", "0"])
    model, meta = load_model(out)
    k = "seg_head.out.weight"
    expected = 0.75 * a.state_dict()[k].half().float() + 0.25 * b.state_dict()[k].half().float()
    assert torch.allclose(model.state_dict()[k], expected, atol=2e-3)
    bn = [n for n, _ in model.named_buffers() if n.endswith("running_var")]
    assert bn and all(torch.allclose(model.state_dict()[n], a.state_dict()[n].half().float()) for n in bn)
    assert meta["averaged_weights"] == [0.75, 0.25] and meta["batchnorm_statistics_from"] == "a.pt"
    with pytest.raises(SystemExit):  # one weight per source
        ship([str(tmp_path / "a.pt"), str(tmp_path / "b.pt"), str(out), "--weights", "1"])


def _own(err, seg=None, clicks=None, **rule):
    from pseudoclick_gui.engine.rule import ProposalRule

    n, _, h, w = err.shape
    seg = torch.zeros(n, 1, h, w) if seg is None else seg
    clicks = torch.zeros(n, 0, 3) if clicks is None else clicks
    return own_pseudo_clicks(seg, err, clicks, ProposalRule(**rule))


def test_own_pseudo_clicks_follow_the_inference_rule_and_its_signs():
    from pseudoclick_gui.training.loop import TrainConfig

    err = torch.zeros(2, 2, 40, 40)
    err[0, 0, 5:10, 5:10] = 0.9  # sample 0: a small FP blob ...
    err[0, 1, 20:35, 20:35] = 0.9  # ... and a large FN blob
    both = _own(err)
    assert both[0, 0, 2] == 1.0 and 20 <= both[0, 0, 0] < 35  # the FN blob: positive
    assert both[1, 0].abs().sum() == 0  # sample 1 has no error region: an empty (padding) click
    neg = _own(err, signs="negative")
    assert neg[0, 0, 2] == -1.0 and 5 <= neg[0, 0, 0] < 10
    with pytest.raises(ValueError):
        TrainConfig(data=[], out="x", pseudo_signs="all")
@pytest.mark.parametrize("trainable,learning", [("pseudo", ("pseudo_encoder.", "err_head.")), ("err", ("err_head.",))])
def test_partial_training_changes_only_what_it_names(tiny_dataset, tmp_path, trainable, learning):
    cfg = TrainConfig(data=[str(tiny_dataset)], out=str(tmp_path / "r"), batch=2, crop=64, workers=0, threads=1,
                      total_steps=100, warmup_steps=1, max_iter=1, trainable=trainable, err_loss="bce", pseudo_prob=1.0)
    t = Trainer(cfg)
    before = {k: v.clone() for k, v in t.model.state_dict().items()}
    for i in range(3):
        stats = t.train_step(t.stream.batch(i))
        t.step += 1
    assert np.isfinite(stats["loss"])
    after = t.model.state_dict()
    frozen_changed = [k for k in before if not k.startswith(learning) and not torch.equal(before[k], after[k])]
    assert frozen_changed == []  # weights and BatchNorm statistics alike
    assert not torch.equal(before["err_head.out.weight"], after["err_head.out.weight"])
    if "pseudo_encoder." in learning:
        assert not torch.equal(before["pseudo_encoder.conv1.weight"], after["pseudo_encoder.conv1.weight"])
    n_opt = sum(p.numel() for g in t.opt.param_groups for p in g["params"])
    n_learn = sum(p.numel() for n, p in t.model.named_parameters() if n.startswith(learning))
    assert n_opt == n_learn < sum(p.numel() for p in t.model.parameters()) / 10


@pytest.mark.parametrize("freeze_bn", ["backbone", "all"])
def test_freeze_bn_all_keeps_every_batchnorm_statistic_while_the_weights_learn(tiny_dataset, tmp_path, freeze_bn):
    cfg = TrainConfig(data=[str(tiny_dataset)], out=str(tmp_path / "r"), batch=2, crop=64, workers=0, threads=1,
                      total_steps=100, warmup_steps=1, max_iter=1, freeze_bn=freeze_bn)
    t = Trainer(cfg)
    before = {k: v.clone() for k, v in t.model.state_dict().items()}
    for i in range(2):
        t.train_step(t.stream.batch(i))
        t.step += 1
    after = t.model.state_dict()
    stats = [k for k in before if k.endswith(("running_mean", "running_var"))]
    moved = [k for k in stats if not torch.equal(before[k], after[k])]
    assert not [k for k in moved if k.startswith("backbone.")]
    if freeze_bn == "all":
        assert moved == []
    else:  # the decoder's statistics follow the training batches
        assert any(k.startswith("seg_head.") for k in moved)
    assert not torch.equal(before["seg_head.out.weight"], after["seg_head.out.weight"])


@pytest.mark.parametrize("lifetime,final", [("object", 3), ("step", 0)])
def test_pseudo_lifetime_step_drops_pseudo_clicks_at_the_next_simulated_click(tiny_dataset, tmp_path, lifetime, final):
    cfg = TrainConfig(data=[str(tiny_dataset)], out=str(tmp_path / "r"), batch=2, crop=64, workers=0, threads=1,
                      total_steps=100, warmup_steps=1, max_iter=3, iter_pseudo_prob=1.0, pseudo_prob=0.0,
                      pseudo_lifetime=lifetime)
    t = Trainer(cfg)
    t.prng.randint = lambda a, b: b  # three iterative steps, each with its pseudo pass
    seen = []
    forward = t.forward

    def spy(net, image, prev, clicks, pseudo_clicks):
        seen.append((int((clicks[..., 2] != 0).sum()), pseudo_clicks.shape[1]))
        return forward(net, image, prev, clicks, pseudo_clicks)

    t.forward = spy
    t.train_step(t.stream.batch(0))
    assert len(seen) == 7  # (plain pass + pseudo pass) x 3, then the final pass with gradients
    assert [p for _, p in seen[1::2]] == [1, 1, 1] if lifetime == "step" else [1, 2, 3]
    assert seen[-1][1] == final
    assert seen[-1][0] > seen[0][0]  # the simulated clicks were added


def test_recipe_names_are_checked(tmp_path):
    for bad in ({"trainable": "head"}, {"err_loss": "mse"}, {"pseudo_rank": "size"}, {"pseudo_signs": "all"},
                {"freeze_bn": "decoder"}, {"pseudo_lifetime": "contradicted"}):
        with pytest.raises(ValueError):
            TrainConfig(data=[], out=str(tmp_path), **bad)


def test_bce_error_loss_is_calibrated_and_ignores_ignore_pixels():
    target = torch.zeros(1, 1, 8, 8)
    target[..., :2] = 1
    half = torch.zeros_like(target)  # p = 0.5 everywhere: BCE = ln 2 whatever the target
    assert float(error_loss(half, target, "bce")) == pytest.approx(np.log(2), rel=1e-5)
    # the constant that minimises BCE is the error rate (2/8 here): calibrated, unlike NFL
    rate = torch.full_like(target, float(np.log(0.25 / 0.75)))
    assert error_loss(rate, target, "bce") < error_loss(half, target, "bce")
    assert error_loss(rate, target, "bce") < error_loss(rate + 0.3, target, "bce")
    assert error_loss(rate, target, "bce") < error_loss(rate - 0.3, target, "bce")
    ignored = target.clone()
    ignored[..., :2] = -1  # the errors are ignored: all-"no error" is then right
    assert float(error_loss(torch.full_like(target, -9.0), ignored, "bce")) < 1e-3


def test_own_pseudo_clicks_skip_regions_smaller_than_a_fraction_of_the_mask():
    err = torch.zeros(1, 2, 40, 40)
    err[0, 0, 5:10, 5:10] = 0.9  # a 25-px FP region
    seg = torch.zeros(1, 1, 40, 40)
    seg[0, 0, :, :20] = 1.0  # an 800-px mask
    c = _own(err, seg, min_fraction=0.03)  # 25 >= 24: proposed, negative
    assert c[0, 0, 2] == -1 and 5 <= c[0, 0, 0] < 10 and 5 <= c[0, 0, 1] < 10
    assert _own(err, seg, min_fraction=0.05)[0, 0, 2] == 0  # 25 < 40: none
    assert _own(err, signs="positive")[0, 0, 2] == 0  # the FN map is empty


def test_own_pseudo_clicks_from_islands_as_at_inference():
    seg = torch.zeros(2, 1, 64, 64)
    seg[:, 0, 5:25, 5:25] = 0.9  # the clicked part
    seg[:, 0, 40:60, 40:60] = 0.9  # a part no positive click holds
    err = torch.zeros(2, 2, 64, 64)
    err[:, 1, 0:30, 35:64] = 0.9  # a large FN region
    clicks = torch.tensor([[[15.0, 15.0, 1.0], [0.0, 0.0, 0.0]],
                           [[15.0, 15.0, 1.0], [50.0, 50.0, 1.0]]])  # sample 1: both parts are held
    c = _own(err, seg, clicks, source="islands+errors")
    assert c[0, 0, 2] == -1 and 40 <= c[0, 0, 0] < 60 and 40 <= c[0, 0, 1] < 60  # island first, negative
    assert c[1, 0, 2] == 1 and c[1, 0, 0] < 30  # no island: the error maps
    assert _own(err, seg, clicks, source="errors")[0, 0, 2] == 1
    with pytest.raises(ValueError):
        TrainConfig(data=[], out="x", pseudo_source="anywhere")


def test_proposal_scorer_collect_labels_candidates_with_what_accepting_them_does(tiny_dataset, tmp_path):
    import json

    from pseudoclick_gui.engine.pseudo import CANDIDATE_SOURCES, PROPOSAL_FEATURES

    # the shipped network (a random one hardly reads its previous-mask input), pseudo clicks living one step
    from pseudoclick_gui.engine.rule import ProposalRule
    from pseudoclick_gui.engine.session import Session
    from pseudoclick_gui.evaluation.clicker import iou
    from pseudoclick_gui.evaluation.dataset import find_samples
    from pseudoclick_gui.training.proposals import collect

    # a low error threshold, so that even the well-segmented tiny ellipses leave candidates to label
    s = Session.from_default_checkpoint(device="cpu", rule=ProposalRule(error_threshold=0.02, lifetime="step"))
    out = tmp_path / "rows.jsonl"
    n = collect(s, [f"{tiny_dataset}:2"], out, exclude_dev=False, max_clicks=3, target=0.999, log=lambda m: None)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert n == len(rows) > 0
    assert {r["source"] for r in rows} <= set(CANDIDATE_SOURCES)
    assert all(set(PROPOSAL_FEATURES) | {"gain", "gain_next", "iou"} <= set(r) and r["set"] == "tiny" for r in rows)
    assert all(-1 <= r["gain_next"] <= 1 and 0 <= r["iou"] <= 1 for r in rows)
    # re-play the first labelled step by hand: accepting the candidate changes the IoU by the recorded gain
    first = rows[0]
    sample = next(x for x in find_samples(tiny_dataset) if x.name == first["sample"])
    image, gt, ign = sample.load()
    from pseudoclick_gui.evaluation.clicker import RobotClicker

    s.set_image(image)
    robot, pred = RobotClicker(gt, ign), np.zeros_like(gt, bool)
    assert first["step"] == 0
    c = robot.next_click(pred)
    s.add_click(c.x, c.y, c.positive)
    before = iou(s.predict().probability > 0.49, gt, ign)
    cand = next(k for k in s.scored_candidates(views=True) if k[0].source == first["source"])
    s.accept_pseudo_click(cand[2])
    after = s.predict().probability > 0.49
    assert iou(after, gt, ign) - before == pytest.approx(first["gain"], abs=1e-9)
    # ... and the robot's next click, made on that mask and building on it, gives the recorded gain_next
    r2 = RobotClicker(gt, ign)
    r2.not_clicked, r2.clicks = robot.not_clicked.copy(), list(robot.clicks)
    c2 = r2.next_click(after)
    s.add_click(c2.x, c2.y, c2.positive)
    later = iou(s.predict().probability > 0.49, gt, ign)
    s.undo()
    s.undo()
    plain = s.predict().probability > 0.49
    c3 = robot.next_click(plain)
    s.add_click(c3.x, c3.y, c3.positive)
    assert later - iou(s.predict().probability > 0.49, gt, ign) == pytest.approx(first["gain_next"], abs=1e-9)


def test_proposal_scorer_fit_learns_which_way_a_feature_points():
    from pseudoclick_gui.engine.pseudo import PROPOSAL_FEATURES
    from pseudoclick_gui.training.proposals import auc, fit

    rng = np.random.default_rng(0)
    rows = []
    for i in range(400):
        f = {k: float(rng.uniform(0.01, 1)) for k in PROPOSAL_FEATURES}
        # islands help when the look-ahead keeps the clicked spot off (p_after low); FN the other way round
        for source, sign in (("island", -1), ("fn", 1)):
            good = rng.uniform() < (0.9 if sign * (f["p_after"] - 0.5) > 0 else 0.1)
            rows.append({"set": f"set{i % 3}", "source": source, "gain": 0.05 if good else -0.05, **f})
    logs = []
    scorer = fit(rows, threshold=0.6, label="gain", log=logs.append)
    assert set(scorer.models) == {"island", "fn"} and any("fp: 0 candidates" in m for m in logs)
    low, high = dict(rows[0], p_after=0.1), dict(rows[0], p_after=0.9)
    assert scorer.probability("island", low) > 0.7 > 0.3 > scorer.probability("island", high)
    assert scorer.probability("fn", high) > 0.7 > 0.3 > scorer.probability("fn", low)
    assert auc(np.array([1, 1, 0, 0]), np.array([0.9, 0.8, 0.2, 0.8])) == pytest.approx(0.875)
    assert np.isnan(auc(np.array([1, 1]), np.array([0.1, 0.2])))


def test_proposal_scorer_fit_uses_the_features_every_row_has_and_keeps_other_sources(tmp_path):
    import json

    from pseudoclick_gui.engine.pseudo import PROPOSAL_FEATURES, ProposalScorer
    from pseudoclick_gui.training.proposals import main

    rng = np.random.default_rng(1)
    rows = []
    for i in range(300):
        f = {k: float(rng.uniform(0.01, 1)) for k in PROPOSAL_FEATURES}
        good = rng.uniform() < (0.9 if f["pview"] > 0.5 else 0.1)
        rows.append({"set": f"set{i % 3}", "source": "view", "gain": 0.05 if good else -0.05, **f})
        old = {k: v for k, v in f.items() if k not in ("pview", "gap")}  # a row of an older collection
        rows.append({"set": f"set{i % 3}", "source": "fn", "gain": 0.05 if f["p_after"] > 0.5 else -0.05, **old})
    (tmp_path / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    base = ProposalScorer({"island": {"mean": [0.0], "std": [1.0], "weights": [1.0], "bias": 0.0,
                                      "features": ["p_after"]}}, 0.6)
    (tmp_path / "base.json").write_text(json.dumps(base.to_dict()))
    out = tmp_path / "scorer.json"
    assert main(["fit", str(tmp_path / "rows.jsonl"), "--out", str(out), "--keep", str(tmp_path / "base.json")]) == 0
    scorer = ProposalScorer.from_file(out)
    assert set(scorer.models) == {"view", "fn", "island"} and scorer.models["island"] == base.models["island"]
    assert "pview" in scorer.model_features("view") and "pview" not in scorer.model_features("fn")
    f = dict(rows[0], pview=0.9)
    assert scorer.probability("view", f) > 0.6 > scorer.probability("view", dict(f, pview=0.1))
    assert scorer.uses_view


def _parts_dataset(root: Path) -> Path:
    """Two images, each with one object (a tall ellipse, level=object) and one part of it (its top, level=part)."""
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    rows = []
    for i in range(2):
        img = np.full((96, 128, 3), 30, np.uint8)
        obj = np.zeros((96, 128), np.uint8)
        cv2.ellipse(obj, (60 + 5 * i, 48), (22, 40), 0, 0, 360, 255, -1)
        part = obj.copy()
        part[40:] = 0
        img[obj > 0] = (200, 140, 60)
        img[part > 0] = (60, 140, 200)
        cv2.imwrite(str(root / "images" / f"{i}.png"), img)
        for k, (m, level) in enumerate(((obj, "object"), (part, "part"))):
            cv2.imwrite(str(root / "masks" / f"{i}_{k}.png"), m)
            rows.append({"image": f"images/{i}.png", "mask": f"masks/{i}_{k}.png", "level": level,
                         "area_px": int((m > 0).sum())})
    with open(root / "instances.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["image", "mask", "level", "area_px"])
        w.writeheader()
        w.writerows(rows)
    return root


def test_parts_to_whole_clicks_inside_the_part_and_targets_the_object_that_holds_it(tmp_path):
    root = _parts_dataset(tmp_path / "parts")
    with pytest.raises(ValueError):
        DatasetSpec.parse(f"{root}:1:parts=everything")
    spec = DatasetSpec.parse(f"{root}:1:parts=whole,level=part")
    assert spec.parts_to_whole
    (inst,) = [i for i in read_instances(spec) if i.mask.name == "0_1.png"]
    assert [p.name for p in inst.wholes] == ["0_0.png"]
    assert all(not i.wholes for i in read_instances(DatasetSpec.parse(f"{root}:1:level=part")))
    stream = ClickSegStream([spec], CropConfig(size=96, zoom_prob=1.0, paste_prob=0.0, grey_prob=0.0), batch_size=6)
    stream.color = lambda img, prng: img  # no photometric jitter: the part and the rest keep their colours
    batch = stream.batch(0)
    for k in range(6):
        gt = batch["gt"][k, 0].numpy()
        img = batch["image"][k].numpy().transpose(1, 2, 0).astype(int)
        part = np.abs(img - (200, 140, 60)).max(2) < 20  # written as BGR (60, 140, 200)
        rest = np.abs(img - (60, 140, 200)).max(2) < 20
        assert (gt[rest] > 0.5).mean() > 0.95 and (gt[part] > 0.5).mean() > 0.95  # the target is the whole object
        clicks = batch["clicks"][k].numpy()
        for r, c, sign in clicks:
            if sign > 0:
                assert part[int(r), int(c)] or not rest[int(r), int(c)]  # positives start inside the part
            elif sign < 0:
                assert gt[int(r), int(c)] <= 0.5  # no negative click on the rest of the whole
    nested = ClickSegStream([spec, DatasetSpec.parse(f"{root}:1")],
                            CropConfig(size=96, nest_prob=1.0, paste_prob=0.0, grey_prob=0.0), batch_size=6)
    batch = nested.batch(0)
    for k in range(6):  # a part pasted, shrunk, into a host: its clicks follow the pasted object, not the old part
        gt = batch["gt"][k, 0].numpy()
        assert all(gt[int(r), int(c)] > 0.5 for r, c, sign in batch["clicks"][k].numpy() if sign > 0)


