import numpy as np
import pytest
import torch

from pseudoclick_gui.engine import Session
from pseudoclick_gui.engine.error_net import GRID, PLANES, ErrorNet, build_inputs, click_planes
from pseudoclick_gui.engine.network import PseudoClickNet
from pseudoclick_gui.errors import CheckpointError


def _constant_net(fp: float, fn: float) -> ErrorNet:
    """An error net whose maps are the same everywhere: sigmoid(fp), sigmoid(fn)."""
    net = ErrorNet(width=8)
    with torch.no_grad():
        net.head.weight.zero_()
        net.head.bias.copy_(torch.tensor([fp, fn]))
    return net.eval()


def _image(h=100, w=100):
    rng = np.random.default_rng(0)
    img = rng.integers(0, 60, (h, w, 3), dtype=np.uint8)
    img[30:70, 40:90] = 200
    return img


def test_inputs_hold_the_crop_maps_view_and_clicks_on_the_grid():
    h, w = 200, 100
    image = np.zeros((h, w, 3), np.uint8)
    image[:, :, 1] = 255
    maps = np.zeros((h, w, 3), np.float32)
    maps[:100, :, 0] = 1.0  # the mask: the top half
    maps[:, :, 2] = 0.25
    view = np.ones((h, w), np.float32)
    x = build_inputs(image, maps, view, [(25.0, 150.0, True), (75.0, 50.0, False)], [(50.0, 100.0, False)])
    assert x.shape == (len(PLANES), GRID, GRID) and x.dtype == np.float32
    planes = dict(zip(PLANES, x))
    assert planes["g"].min() == pytest.approx(1.0) and planes["r"].max() == 0.0
    assert planes["seg"][: GRID // 2 - 1].min() == pytest.approx(1.0) and planes["seg"][GRID // 2 + 1 :].max() == 0.0
    assert np.allclose(planes["fn"], 0.25) and planes["view"].min() == pytest.approx(1.0)
    # each click is a disk at its place on the grid (x scaled by GRID / w, y by GRID / h)
    r, c = np.unravel_index(np.argmax(planes["human_pos"]), (GRID, GRID))
    assert planes["human_pos"].sum() > 5 and abs(r - 71.5) <= 3 and abs(c - 24) <= 3
    r, c = np.argwhere(planes["human_neg"] > 0).mean(0)
    assert abs(r - 23.75) < 1 and abs(c - 71.75) < 1
    r, c = np.argwhere(planes["pseudo_neg"] > 0).mean(0)
    assert abs(r - 47.75) < 1 and abs(c - 47.75) < 1 and planes["pseudo_pos"].max() == 0.0
    assert click_planes([], 10, 10).max() == 0.0


def test_error_net_shapes_and_checkpoint_entry_round_trip():
    torch.manual_seed(0)
    net = ErrorNet(width=8).eval()
    x = torch.rand(2, len(PLANES), GRID, GRID)
    with torch.no_grad():
        out = net(x)
    assert out.shape == (2, 2, GRID, GRID)
    entry = net.state_for_checkpoint()
    assert all(v.dtype == torch.float16 for k, v in entry["state_dict"].items() if "running_" not in k and v.is_floating_point())
    again = ErrorNet.from_checkpoint_entry(entry)
    with torch.no_grad():
        assert torch.allclose(torch.sigmoid(again(x)), torch.sigmoid(out), atol=5e-3)
    p = again.predict(x[0].numpy(), 50, 70)
    assert p.shape == (50, 70, 2) and 0 <= p.min() and p.max() <= 1
    with pytest.raises(ValueError):
        ErrorNet.from_checkpoint_entry({"width": 8})
    with pytest.raises(ValueError):
        ErrorNet.from_checkpoint_entry({**entry, "planes": ["r", "g", "b"]})
    with pytest.raises(ValueError):
        ErrorNet.from_checkpoint_entry({**entry, "width": 16})  # the weights do not fit


def test_errornet_source_proposes_from_the_error_nets_maps(tmp_path, monkeypatch):
    from pseudoclick_gui.engine.checkpoint import save_checkpoint

    torch.manual_seed(0)
    # without an error net the rule is refused, at construction and when switched to
    with pytest.raises(ValueError):
        Session(PseudoClickNet(), "cpu", proposal_source="errornet")
    plain = Session(PseudoClickNet(), "cpu")
    with pytest.raises(ValueError):
        plain.set_proposal_source("errornet")
    assert plain.proposal_source == "errors"

    save_checkpoint(PseudoClickNet(), tmp_path / "m.pt", meta={"proposal_source": "errornet",
                                                                 "error_net": _constant_net(-6, 6).state_for_checkpoint(),
                                                                 "errornet_threshold": 0.4})
    s = Session.from_checkpoint(tmp_path / "m.pt", device="cpu")
    assert s.proposal_source == "errornet" and s.errornet_threshold == 0.4 and s.error_net is not None
    assert s.spawn().error_net is s.error_net
    s.set_image(_image())
    assert s.propose_pseudo_click() is None and s.error_net_maps() is None  # no click yet
    seen = []
    real = s._run

    def spy(t, prev, human=None, pseudo=None, mirror=False, inputs=None):
        seen.append(mirror)
        return real(t, prev, human, pseudo, mirror, inputs)

    monkeypatch.setattr(s, "_run", spy)
    s.add_click(50, 50, True)
    c = s.propose_pseudo_click()
    # the net says "missed object" everywhere: one positive click, deep inside the crop, its confidence the map's
    assert c.positive and c.kind == "pseudo" and c.confidence == pytest.approx(1 / (1 + np.exp(-6)), abs=1e-3)
    assert seen == [False, True]  # the step's pass, then one mirrored pass for the net's input
    s.error_net = _constant_net(6, -6)
    c = s.propose_pseudo_click()
    assert not c.positive
    s.error_net = _constant_net(-6, -6)  # no error anywhere: nothing to propose
    assert s.propose_pseudo_click() is None
    s.errornet_threshold = 0.001
    assert s.propose_pseudo_click() is not None

    # an unusable entry is a clear checkpoint error
    save_checkpoint(PseudoClickNet(), tmp_path / "bad.pt", meta={"error_net": {"width": 8}})
    with pytest.raises(CheckpointError, match="error net"):
        Session.from_checkpoint(tmp_path / "bad.pt", device="cpu")


def test_grey_images_may_follow_their_own_proposal_rule(monkeypatch):
    from pseudoclick_gui.engine.types import Prediction
    from pseudoclick_gui.engine.zoom import CropTransform

    torch.manual_seed(0)
    net = PseudoClickNet()
    meta = {"proposal_source": "errors", "grey_proposal_source": "islands"}
    colour = _image()
    grey = np.repeat(colour[..., :1], 3, axis=2)
    s = Session(net, "cpu", meta=meta)
    assert (s.proposal_source, s.grey_proposal_source) == ("errors", "islands")
    maps = np.zeros((100, 100, 3), np.float32)
    maps[20:45, 20:45, 0] = 0.9  # the clicked part
    maps[70:90, 10:30, 0] = 0.9  # an island: the islands rule's proposal
    maps[0:40, 55:100, 2] = 0.9  # a large FN region: the error maps' proposal
    z = np.zeros((100, 100), np.float32)
    fake = Prediction(maps[..., 0], z, z, 0.5, 0.0, (0, 0, 100, 100),
                      {"crop_maps": maps, "transform": CropTransform((0, 0, 100, 100), 100, 100)})
    for session in (s, s.spawn()):  # a spawned session keeps both rules
        monkeypatch.setattr(session, "predict", lambda: fake)
        for image, rule, positive in ((colour, "errors", True), (grey, "islands", False)):
            session.set_image(image)
            assert session.image_proposal_source == rule
            session.add_click(30, 30, True)
            assert session.propose_pseudo_click().positive is positive
    # a rule chosen by name is for every image; None brings back the checkpoint's two
    s.set_proposal_source("islands")
    assert (s.proposal_source, s.grey_proposal_source) == ("islands", "islands")
    s.set_proposal_source(None)
    assert (s.proposal_source, s.grey_proposal_source) == ("errors", "islands")
    # switching to differing rules after the image was set still tells a grey image apart
    plain = Session(net, "cpu")
    plain.set_image(grey)
    assert plain.image_proposal_source == "errors"
    plain.meta.update(meta)
    plain.set_proposal_source(None)
    assert plain.image_proposal_source == "islands"
    # an explicit rule is for every image; the grey one alone may be given too
    assert Session(net, "cpu", meta=meta, proposal_source="views").grey_proposal_source == "views"
    assert Session(net, "cpu", meta=meta, grey_proposal_source="errors").grey_proposal_source == "errors"
    with pytest.raises(ValueError):
        Session(net, "cpu", grey_proposal_source="guess")
    with pytest.raises(ValueError):
        Session(net, "cpu", grey_proposal_source="scored")  # no scorer
