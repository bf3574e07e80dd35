import pickle

import pytest
import torch

from pseudoclick_gui.engine import Session
from pseudoclick_gui.engine.backbone import EfficientNetLite0, load_imagenet_weights
from pseudoclick_gui.engine.checkpoint import load_model, read_checkpoint, save_checkpoint
from pseudoclick_gui.engine.network import PseudoClickNet
from pseudoclick_gui.errors import CheckpointError


def test_every_backbone_key_loads_from_the_imagenet_package():
    unused = load_imagenet_weights(EfficientNetLite0())
    assert all(k.startswith(("_conv_head", "_bn1", "_fc")) for k in unused)


@pytest.mark.parametrize("h,w", [(37, 53), (64, 64), (100, 131)])
def test_any_input_size_gives_full_resolution_outputs(h, w):
    net = PseudoClickNet().eval()
    with torch.inference_mode():
        out = net(torch.rand(1, 3, h, w), torch.zeros(1, 3, h, w), torch.zeros(1, 2, h, w))
    assert out["seg"].shape == (1, 1, h, w) and out["err"].shape == (1, 2, h, w)


def test_pseudo_click_maps_change_the_output():
    torch.manual_seed(0)
    net = PseudoClickNet().eval()
    for p in net.pseudo_encoder.parameters():
        torch.nn.init.normal_(p, std=0.5)
    x, maps = torch.rand(1, 3, 64, 64), torch.zeros(1, 3, 64, 64)
    pseudo = torch.zeros(1, 2, 64, 64)
    pseudo[0, 0, 28:36, 28:36] = 1
    with torch.inference_mode():
        a = net(x, maps, None)["seg"]
        b = net(x, maps, pseudo)["seg"]
    assert not torch.allclose(a, b)


def test_checkpoint_round_trip_fp16_keeps_outputs(tmp_path):
    torch.manual_seed(1)
    net = PseudoClickNet().eval()
    path = save_checkpoint(net, tmp_path / "m.pt", meta={"steps": 7})
    loaded, meta = load_model(path)
    assert meta["steps"] == 7
    x, maps = torch.rand(1, 3, 64, 64), torch.rand(1, 3, 64, 64)
    with torch.inference_mode():
        a = torch.sigmoid(net(x, maps)["seg"])
        b = torch.sigmoid(loaded(x, maps)["seg"])
    assert (a - b).abs().max() < 2e-2  # fp16 weights
    assert read_checkpoint(path)["state_dict"]["seg_head.out.weight"].dtype == torch.float16


def test_corrupt_truncated_and_foreign_checkpoints_give_clear_errors(tmp_path):
    good = save_checkpoint(PseudoClickNet(), tmp_path / "good.pt")
    truncated = tmp_path / "trunc.pt"
    truncated.write_bytes(good.read_bytes()[:5000])
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint at all")
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    for bad in (truncated, garbage, foreign, tmp_path / "missing.pt"):
        with pytest.raises(CheckpointError):
            load_model(bad)


class _Evil:
    def __reduce__(self):
        return (print, ("code ran",))


def test_checkpoint_with_code_is_refused(tmp_path, capsys):
    path = tmp_path / "evil.pt"
    with open(path, "wb") as f:
        pickle.dump({"format": "pseudoclick-gui/1", "x": _Evil()}, f)
    with pytest.raises(CheckpointError):
        load_model(path)
    assert "code ran" not in capsys.readouterr().out


def test_checkpoint_that_does_not_fit_the_network(tmp_path):
    path = tmp_path / "m.pt"
    save_checkpoint(PseudoClickNet(), path)
    payload = torch.load(path, weights_only=True)
    payload["state_dict"].pop("seg_head.out.weight")
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="does not fit"):
        load_model(path)


def test_default_checkpoint_missing_is_a_clear_error(monkeypatch, tmp_path):
    import pseudoclick_gui.paths as paths

    monkeypatch.setattr(paths, "models_dirs", lambda: [tmp_path])
    with pytest.raises(CheckpointError, match="no trained model"):
        Session.from_default_checkpoint(device="cpu")


def _two_checkpoints(folder):
    import pseudoclick_gui.engine.session as session_mod

    torch.manual_seed(0)
    save_checkpoint(PseudoClickNet(), folder / session_mod.DEFAULT_CHECKPOINT, meta={"error_threshold": 0.3,
                                                                                     "pseudo_lifetime": "step",
                                                                                     "grey_pseudo_lifetime": "object"})
    torch.manual_seed(1)
    save_checkpoint(PseudoClickNet(), folder / session_mod.GREY_CHECKPOINT, meta={"error_threshold": 0.9})


def test_grey_images_go_to_the_grey_network_and_colour_images_to_the_default_one(monkeypatch, tmp_path):
    import numpy as np

    import pseudoclick_gui.paths as paths

    _two_checkpoints(tmp_path)
    monkeypatch.setattr(paths, "models_dirs", lambda: [tmp_path])
    s = Session.from_default_checkpoint(device="cpu")
    assert s.grey_model is not None and s.rule.error_threshold == s.grey_rule.error_threshold == 0.3  # the default checkpoint's
    rng = np.random.default_rng(0)
    grey = np.repeat(rng.integers(0, 255, (48, 64, 1), dtype=np.uint8), 3, axis=2)
    colour = grey.copy()
    colour[10:20, 10:20, 0] = 255
    outputs = {}
    for name, img in (("grey", grey), ("colour", colour), ("plain 2-D grey", grey[..., 0])):
        s.set_image(img)
        s.add_click(30, 24, True)
        outputs[name] = (s.model_kind, s.predict().probability)
        assert s.image_pseudo_lifetime == ("step" if name == "colour" else "object")  # the checkpoint's settings
    assert outputs["grey"][0] == "grey" and outputs["colour"][0] == "colour" and outputs["plain 2-D grey"][0] == "grey"
    # the two networks differ, so the same pixels through each give different masks
    assert not np.allclose(outputs["grey"][1][10:20, 10:20], outputs["colour"][1][10:20, 10:20], atol=1e-3)
    assert np.array_equal(outputs["grey"][1], outputs["plain 2-D grey"][1])
    s.set_image(grey)
    child = s.spawn()  # one session per object in the app: same networks, same choice
    assert child.model_kind == "grey" and child.grey_model is s.grey_model
    one = Session.from_default_checkpoint(device="cpu", grey=False)
    one.set_image(grey)
    assert one.grey_model is None and one.model_kind == "colour"
    monkeypatch.setenv("PSEUDOCLICK_GREY_NETWORK", "0")  # one network for every image
    assert Session.from_default_checkpoint(device="cpu").grey_model is None


def test_without_a_grey_checkpoint_one_network_serves_every_image(monkeypatch, tmp_path):
    import numpy as np

    import pseudoclick_gui.engine.session as session_mod
    import pseudoclick_gui.paths as paths

    _two_checkpoints(tmp_path)
    (tmp_path / session_mod.GREY_CHECKPOINT).unlink()
    monkeypatch.setattr(paths, "models_dirs", lambda: [tmp_path])
    s = Session.from_default_checkpoint(device="cpu")
    s.set_image(np.zeros((40, 40), np.uint8))
    assert s.grey_model is None and s.model_kind == "colour"


def test_a_corrupt_grey_checkpoint_is_left_out_with_a_reason_and_the_default_network_stays(monkeypatch, tmp_path):
    import numpy as np

    import pseudoclick_gui.engine.session as session_mod
    import pseudoclick_gui.paths as paths

    _two_checkpoints(tmp_path)
    (tmp_path / session_mod.GREY_CHECKPOINT).write_bytes(b"not a checkpoint")
    monkeypatch.setattr(paths, "models_dirs", lambda: [tmp_path])
    s = Session.from_default_checkpoint(device="cpu")
    assert s.grey_model is None and "not a readable checkpoint" in s.meta["grey_checkpoint_error"]
    s.set_image(np.zeros((40, 40), np.uint8))
    assert s.model_kind == "colour" and s.rule.error_threshold == 0.3
    with pytest.raises(CheckpointError):  # asked for by name, it is an error
        Session.from_checkpoint(tmp_path / session_mod.DEFAULT_CHECKPOINT, grey_checkpoint=tmp_path / session_mod.GREY_CHECKPOINT)



def test_the_shipped_model_follows_its_card():
    """models/MODEL.md: colour images take the scored rule (its scorer uses the mirrored view), grey images the
    grey network and the islands-then-error-maps rule; pseudo clicks expire on colour images only."""
    import numpy as np

    s = Session.from_default_checkpoint(device="cpu")
    assert s.rule.scorer is not None and s.rule.scorer.uses_view
    rng = np.random.default_rng(0)
    colour = rng.integers(0, 255, (60, 80, 3), dtype=np.uint8)
    grey = np.repeat(colour[..., :1], 3, axis=2)
    expected = {"colour": ("scored", "step", "colour"), "grey": ("islands+errors", "object", "grey")}
    for name, image in (("colour", colour), ("grey", grey)):
        s.set_image(image)
        assert (s.image_rule.source, s.image_pseudo_lifetime, s.model_kind) == expected[name]


@pytest.mark.parametrize("change, says", [
    (lambda p: p["state_dict"].__setitem__("seg_head.out.weight", p["state_dict"]["seg_head.out.weight"] * float("nan")), "NaN"),
    (lambda p: p.__setitem__("config", {"fpn_width": 10**7}), "fpn_width"),
    (lambda p: p.__setitem__("config", "wide"), "config"),
    (lambda p: p.__setitem__("meta", ["a", "list"]), "metadata"),
])
def test_a_checkpoint_with_broken_weights_config_or_metadata_is_refused_on_load(tmp_path, change, says):
    save_checkpoint(PseudoClickNet(), tmp_path / "m.pt")
    payload = torch.load(tmp_path / "m.pt", weights_only=True)
    change(payload)
    torch.save(payload, tmp_path / "bad.pt")
    with pytest.raises(CheckpointError, match=says):
        load_model(tmp_path / "bad.pt")


def test_an_unreadable_checkpoint_error_is_one_clean_line(tmp_path):
    (tmp_path / "x.pt").write_bytes(b"\x1b[31mnot a zip\x1b[0m" * 10)
    with pytest.raises(CheckpointError) as e:
        load_model(tmp_path / "x.pt")
    assert "\n" not in str(e.value) and "\x1b" not in str(e.value)


def test_float64_beyond_float32_range_is_clipped_with_a_warning():
    import numpy as np

    from pseudoclick_gui.engine.preprocess import to_rgb_uint8
    a = np.zeros((8, 8))
    a[:4] = 1e300
    with pytest.warns(UserWarning, match="float32"):
        out = to_rgb_uint8(a)
    assert out[0, 0, 0] == 255 and out[7, 7, 0] == 0


def test_a_saved_checkpoint_has_the_usual_file_mode(tmp_path):
    import os

    umask = os.umask(0o022)
    try:
        save_checkpoint(PseudoClickNet(), tmp_path / "m.pt")
    finally:
        os.umask(umask)
    assert (tmp_path / "m.pt").stat().st_mode & 0o777 == 0o644
