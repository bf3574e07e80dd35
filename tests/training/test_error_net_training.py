import numpy as np
import pytest
import torch

from pseudoclick_gui.engine.error_net import GRID, PLANES


def test_collect_stores_inputs_and_the_true_error_maps_of_each_step(tiny_dataset, tmp_path):
    from pseudoclick_gui.engine.error_net import build_inputs
    from pseudoclick_gui.engine.session import Session
    from pseudoclick_gui.evaluation.clicker import RobotClicker
    from pseudoclick_gui.evaluation.dataset import find_samples
    from pseudoclick_gui.training.error_net import collect, load_shards

    torch.manual_seed(0)
    s = Session.from_random(device="cpu", seed=3, proposal_source="errors", error_threshold=0.3)
    n = collect(s, [f"{tiny_dataset}:2"], tmp_path / "en", exclude_dev=False, max_clicks=3, shard_size=2,
                log=lambda m: None)
    x, y, names = load_shards([str(tmp_path / "en")])
    assert n == len(x) == len(y) == len(names) > 0 and len(list((tmp_path / "en").glob("shard_*.npz"))) >= n // 2
    assert x.shape[1:] == (len(PLANES), GRID, GRID) and y.shape[1:] == (3, GRID, GRID) and x.dtype == np.uint8
    assert all(name.startswith("tiny/") for name in names)
    # re-play the first step by hand: the stored input and the true error maps of that mask
    set_name, sample_name, step = names[0].split("/")
    assert step == "0"
    sample = next(k for k in find_samples(tiny_dataset) if k.name == sample_name)
    image, gt, _ = sample.load()
    s.set_image(image)
    c = RobotClicker(gt, None).next_click(np.zeros_like(gt, bool))
    s.add_click(c.x, c.y, c.positive)
    p = s.predict()
    t, maps = p.extra["transform"], p.extra["crop_maps"]
    view = s._run(t, s._step_prev(), mirror=True)[..., 0]
    expect = build_inputs(t.forward_image(image), maps, view, [(*t.forward_point(c.x, c.y), c.positive)], [])
    assert np.abs(x[0] / 255.0 - expect).max() <= 0.6 / 255
    pred = maps[..., 0] >= 0.5
    obj = t.forward_image(gt.astype(np.float32)) >= 0.5
    fn_true = (obj & ~pred).mean()
    assert y[0, 1].mean() / 255 == pytest.approx(fn_true, abs=0.01)
    assert y[0, 0].mean() / 255 == pytest.approx((pred & ~obj).mean(), abs=0.01)
    assert y[0, 2].max() == 0  # nothing ignored in this set


def test_fit_learns_a_rule_the_maps_can_tell_and_ship_puts_it_in_a_checkpoint(tmp_path):
    """Synthetic steps where the true FN region is exactly where the mirrored view sees object and the mask
    does not: the fitted net must find it, and its region proposals must be right."""
    from pseudoclick_gui.engine.checkpoint import save_checkpoint
    from pseudoclick_gui.engine.network import PseudoClickNet
    from pseudoclick_gui.engine.session import Session
    from pseudoclick_gui.training.error_net import fit, region_precision, ship

    rng = np.random.default_rng(0)
    n = 96
    x = np.zeros((n, len(PLANES), GRID, GRID), np.uint8)
    y = np.zeros((n, 3, GRID, GRID), np.uint8)
    names = []
    yy, xx = np.mgrid[0:GRID, 0:GRID]
    for i in range(n):
        cy, cx, r = rng.integers(25, 70), rng.integers(25, 70), rng.integers(10, 20)
        seg = ((yy - cy) ** 2 + (xx - cx) ** 2 <= r * r)
        view = seg.copy()
        dy, dx = rng.integers(-15, 16, 2)
        view |= (yy - cy - dy) ** 2 + (xx - cx - dx) ** 2 <= (r * 0.8) ** 2  # the view sees more of the object
        x[i, PLANES.index("seg")] = seg * 255
        x[i, PLANES.index("view")] = view * 255
        x[i, :3] = rng.integers(0, 255, (3, GRID, GRID))  # colours say nothing here
        y[i, 1] = (view & ~seg) * 255
        names.append(f"{'val' if i % 4 == 0 else 'train'}/{i}/0")
    (tmp_path / "d").mkdir()
    np.savez(tmp_path / "d" / "shard_000.npz", x=x, y=y, name=np.array(names))
    logs = []
    torch.manual_seed(0)
    net = fit([str(tmp_path / "d")], tmp_path / "net.pt", val_set="val", epochs=15, batch=8, lr=1e-2, width=8,
              log=logs.append)
    assert any("val proposals" in m for m in logs) and (tmp_path / "net.pt").is_file()
    with torch.no_grad():
        prob = torch.sigmoid(net(torch.from_numpy(x[::4].astype(np.float32) / 255))).numpy()
    proposals, right = region_precision(prob, y[::4, :2].astype(np.float32) / 255)
    assert proposals >= 0.8 * len(prob) and right >= 0.8 * proposals
    # ship: the weights go into a checkpoint's metadata, the rule switches only when asked
    save_checkpoint(PseudoClickNet(), tmp_path / "m.pt")
    ship(str(tmp_path / "m.pt"), str(tmp_path / "net.pt"), str(tmp_path / "a.pt"))
    ship(str(tmp_path / "m.pt"), str(tmp_path / "net.pt"), str(tmp_path / "b.pt"), default=True)
    a = Session.from_checkpoint(tmp_path / "a.pt", device="cpu")
    b = Session.from_checkpoint(tmp_path / "b.pt", device="cpu")
    assert a.error_net is not None and a.proposal_source == "errors" and b.proposal_source == "errornet"
