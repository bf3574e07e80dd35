import numpy as np
import pytest
import torch

from pseudoclick_gui.engine import Click, Session
from pseudoclick_gui.engine.network import PseudoClickNet
from pseudoclick_gui.errors import ImageLoadError, PseudoClickError


@pytest.fixture(scope="module")
def session():
    torch.set_num_threads(2)
    return Session.from_random(device="cpu", seed=0)


def _image(h=96, w=128):
    rng = np.random.default_rng(0)
    img = rng.integers(0, 60, (h, w, 3), dtype=np.uint8)
    img[30:70, 40:90] = 200
    return img


def _fake_step(monkeypatch, s, maps):
    """Make ``s.predict`` return a step whose crop maps (100 x 100 x 3: mask, FP, FN) are ``maps``, on a grid that
    is the whole 100 x 100 image."""
    from pseudoclick_gui.engine.types import Prediction
    from pseudoclick_gui.engine.zoom import CropTransform

    z = np.zeros((100, 100), np.float32)
    fake = Prediction(maps[..., 0], z, z, 0.5, 0.0, (0, 0, 100, 100),
                      {"crop_maps": maps, "transform": CropTransform((0, 0, 100, 100), 100, 100)})
    monkeypatch.setattr(s, "predict", lambda: fake)


def test_click_predict_propose_accept_flow(session):
    session.set_image(_image())
    assert session.clicks == []
    session.add_click(x=60, y=50, positive=True)
    r = session.predict()
    for m in (r.probability, r.fp, r.fn):
        assert m.shape == (96, 128) and m.dtype == np.float32
        assert 0 <= m.min() and m.max() <= 1
    assert r.mask.dtype == bool and r.mask.shape == (96, 128)
    assert session.predict() is r  # nothing changed: cached, not run again
    c = session.propose_pseudo_click()
    if c is None:  # an untrained net may have no error region: force one
        c = Click(10.0, 10.0, False, "pseudo", 0.6)
    assert c.kind == "pseudo" and 0 <= c.x < 128 and 0 <= c.y < 96
    session.accept_pseudo_click(c)
    assert [k.kind for k in session.clicks] == ["human", "pseudo"]
    r2 = session.predict()
    assert r2 is not r
    assert len(session.human_clicks) == 1 and len(session.pseudo_clicks) == 1


def test_undo_redo_and_reset(session):
    session.set_image(_image())
    a = session.add_click(60, 50, True)
    session.predict()
    b = session.add_click(20, 20, False)
    session.predict()
    assert session.undo() == b
    assert session.clicks == [a]
    assert session.redo() == b
    assert session.clicks == [a, b]
    assert session.undo() == b and session.undo() == a and session.undo() is None
    assert session.clicks == []
    session.add_click(60, 50, True)
    session.reset()
    assert session.clicks == [] and not session.predict().mask.any()


@pytest.mark.parametrize("lifetime", ["step", "object"])
def test_a_human_click_right_after_an_accepted_pseudo_click_builds_on_its_mask(lifetime):
    """The app coalesces a burst of operations into one prediction: Enter (accept) and a click before the
    worker predicted must give what accept, predict, click, predict gives, else (lifetime step) the accepted
    pseudo click leaves the inputs without ever having shaped the mask."""
    results = []
    for predict_between in (True, False):
        # the shipped network: a random one's output barely depends on its pseudo-click and previous-mask inputs
        s = Session.from_default_checkpoint(device="cpu", pseudo_lifetime=lifetime)
        s.set_image(_image())
        s.add_click(60, 50, True)
        s.predict()
        s.accept_pseudo_click(Click(45.0, 40.0, True, "pseudo", 0.7))
        if predict_between:
            s.predict()
        s.add_click(20, 20, False)
        results.append(s.predict().probability)
        s.undo()  # redo replays the two steps without a prediction between them
        s.undo()
        s.redo()
        s.redo()
        results.append(s.predict().probability)
    assert all(np.array_equal(results[0], r) for r in results[1:])


def test_withdrawn_proposal_is_not_proposed_again_at_that_spot(session):
    session.set_image(_image())
    session.add_click(60, 50, True)
    seen = []
    for _ in range(4):
        c = session.propose_pseudo_click()
        if c is None:
            break
        for s in seen:
            assert (c.x - s.x) ** 2 + (c.y - s.y) ** 2 > 15**2 - 1e-6
        seen.append(c)
        session.withdraw_pseudo_click(c)
    assert len(session.withdrawn_clicks) == len(seen)


def test_undo_of_withdrawal_restores_it(session):
    session.set_image(_image())
    session.add_click(60, 50, True)
    c = Click(5.0, 5.0, False, "pseudo", 0.7)
    session.withdraw_pseudo_click(c)
    assert session.withdrawn_clicks
    session.undo()
    assert not session.withdrawn_clicks


def test_refine_with_error_maps_is_the_papers_formula(session):
    session.set_image(_image())
    session.add_click(60, 50, True)
    p = session.predict()
    r = session.refine_with_error_maps()
    np.testing.assert_allclose(r.probability, np.clip(p.probability - p.fp + p.fn, 0, 1), atol=1e-6)
    assert session.predict() is p  # state unchanged


def test_large_photo_never_goes_through_the_network_at_full_resolution(session, monkeypatch):
    seen = []
    forward = session.model.forward

    def spy(image, maps, pseudo=None):
        seen.append(tuple(image.shape[-2:]))
        return forward(image, maps, pseudo)

    monkeypatch.setattr(session.model, "forward", spy)
    big = np.zeros((2000, 3000, 3), np.uint8)
    session.set_image(big)
    session.add_click(1500, 1000, True)
    r = session.predict()
    session.add_click(1600, 1100, False)
    session.predict()
    assert r.probability.shape == (2000, 3000)
    assert seen and max(max(s) for s in seen) <= 480


def test_second_click_zooms_in(session):
    img = np.zeros((400, 600, 3), np.uint8)
    session.set_image(img)
    session.add_click(300, 200, True)
    r1 = session.predict()
    assert r1.roi == (0, 0, 600, 400)
    session.add_click(310, 210, True)
    r2 = session.predict()
    x0, y0, x1, y1 = r2.roi
    assert x1 - x0 >= 200 and y1 - y0 >= 200 and x0 <= 310 < x1 and y0 <= 210 < y1


def test_image_normalisation_and_bad_inputs(session):
    grey16 = (np.arange(64 * 80, dtype=np.uint16).reshape(64, 80) * 10)
    session.set_image(grey16)
    assert session.image.shape == (64, 80, 3) and session.image.dtype == np.uint8
    assert session.image[..., 0].max() == 255 and session.image[..., 0].min() == 0
    rgba = np.zeros((32, 32, 4), np.uint8)
    rgba[..., 3] = 255
    session.set_image(rgba)
    assert session.image.shape == (32, 32, 3)
    for bad in (np.zeros(10), np.zeros((10, 10, 5)), np.zeros((1, 50)), np.array([["a", "b"], ["c", "d"]])):
        with pytest.raises(ImageLoadError):
            session.set_image(bad)
    session.set_image(np.zeros((20, 20, 3), np.uint8))
    with pytest.raises(PseudoClickError):
        session.add_click(25, 5)


def test_previous_mask_seeds_the_object(session):
    session.set_image(_image())
    seed = np.zeros((96, 128), bool)
    seed[30:70, 40:90] = True
    session.set_previous_mask(seed)
    assert session.predict().mask.sum() == seed.sum()
    session.add_click(20, 20, False)
    r = session.predict()
    assert r.probability.shape == (96, 128)


def test_pseudo_click_pass_keeps_the_view_of_its_step(session):
    session.set_image(np.zeros((400, 600, 3), np.uint8))
    session.add_click(300, 200, True)
    r1 = session.predict()
    session.accept_pseudo_click(Click(100.0, 100.0, True, "pseudo", 0.6))
    r2 = session.predict()
    assert r1.roi == r2.roi == (0, 0, 600, 400)  # still the first step: the whole image, no zoom-in
    session.add_click(320, 210, False)
    r3 = session.predict()
    session.accept_pseudo_click(Click(310.0, 190.0, False, "pseudo", 0.6))
    assert session.predict().roi == r3.roi  # the pseudo pass reuses its step's zoom-in window


def test_proposal_policy_comes_from_the_checkpoint_and_is_applied(tmp_path, monkeypatch):
    from pseudoclick_gui.engine.checkpoint import save_checkpoint
    from pseudoclick_gui.engine.network import PseudoClickNet

    save_checkpoint(PseudoClickNet(), tmp_path / "m.pt", meta={"proposal_signs": "negative", "fn_reach": 0.1})
    s = Session.from_checkpoint(tmp_path / "m.pt", device="cpu")
    assert (s.proposal_signs, s.fn_reach) == ("negative", 0.1)
    assert (s.spawn().proposal_signs, s.spawn().fn_reach) == ("negative", 0.1)
    assert Session.from_checkpoint(tmp_path / "m.pt", device="cpu", proposal_signs="both").proposal_signs == "both"

    s.set_image(_image(100, 100))
    s.add_click(42, 42, True)  # proposals never land within a disk radius of a click
    maps = np.zeros((100, 100, 3), np.float32)
    maps[40:60, 40:60, 0] = 0.9  # mask
    maps[48:58, 48:58, 1] = 0.8  # FP blob inside it, 100 px
    maps[0:30, 70:100, 2] = 0.8  # far FN blob, 900 px
    _fake_step(monkeypatch, s, maps)
    assert not s.propose_pseudo_click().positive  # FP only
    s.proposal_signs = "both"
    assert not s.propose_pseudo_click().positive  # the FN blob lies > 0.1 x 100 px from the mask: out of reach
    s.fn_reach = None
    c = s.propose_pseudo_click()
    assert c.positive and c.y < 30 and c.x >= 70
    s.proposal_signs = "negative"
    s.proposal_min_fraction = 0.2  # the FP blob is 100 px, the mask 400 px: 25 %
    assert s.propose_pseudo_click() is not None
    s.proposal_min_fraction = 0.3
    assert s.propose_pseudo_click() is None


def test_proposal_source_islands_first_then_error_maps(tmp_path, monkeypatch):
    from pseudoclick_gui.engine.checkpoint import save_checkpoint
    from pseudoclick_gui.engine.network import PseudoClickNet

    save_checkpoint(PseudoClickNet(), tmp_path / "m.pt",
                    meta={"proposal_source": "islands+errors", "island_confidence": 0.8, "proposal_signs": "both"})
    s = Session.from_checkpoint(tmp_path / "m.pt", device="cpu")
    assert (s.proposal_source, s.island_confidence) == ("islands+errors", 0.8)
    assert s.spawn().proposal_source == "islands+errors"
    with pytest.raises(ValueError):
        Session.from_checkpoint(tmp_path / "m.pt", device="cpu", proposal_source="elsewhere")

    s.set_image(_image(100, 100))
    s.add_click(30, 30, True)
    maps = np.zeros((100, 100, 3), np.float32)
    maps[20:45, 20:45, 0] = 0.9  # the clicked part
    maps[70:90, 10:30, 0] = 0.9  # a second part, no click on it: 400 px
    maps[0:30, 60:100, 2] = 0.8  # a large FN blob
    _fake_step(monkeypatch, s, maps)
    c = s.propose_pseudo_click()
    assert not c.positive and 70 <= c.y < 90 and 10 <= c.x < 30 and c.confidence == 0.8
    s.proposal_source = "errors"  # the paper: the error maps' largest region
    c = s.propose_pseudo_click()
    assert c.positive and c.y < 30 and c.x >= 60
    s.proposal_source = "islands"
    s.add_click(20, 80, True)  # now the second part holds a positive click: no island left
    assert s.propose_pseudo_click() is None
    s.proposal_source = "islands+errors"
    assert s.propose_pseudo_click().positive  # falls back to the error maps


def test_island_colour_gate_from_checkpoint_and_off(tmp_path, monkeypatch):
    from pseudoclick_gui.engine.checkpoint import save_checkpoint
    from pseudoclick_gui.engine.network import PseudoClickNet

    save_checkpoint(PseudoClickNet(), tmp_path / "m.pt", meta={"proposal_source": "islands", "island_colour_llr": 0.0})
    s = Session.from_checkpoint(tmp_path / "m.pt", device="cpu")
    assert s.island_colour_llr == 0.0
    assert Session.from_checkpoint(tmp_path / "m.pt", device="cpu", island_colour_llr=float("inf")).island_colour_llr is None
    img = np.full((100, 100, 3), (30, 140, 40), np.uint8)  # green background
    img[20:45, 20:45] = (210, 30, 30)  # the clicked object, red
    img[70:90, 10:30] = (210, 30, 30)  # a second part, red as well
    s.set_image(img)
    s.add_click(30, 30, True)
    maps = np.zeros((100, 100, 3), np.float32)
    maps[20:45, 20:45, 0] = 0.9
    maps[70:90, 10:30, 0] = 0.9
    _fake_step(monkeypatch, s, maps)
    assert s.propose_pseudo_click() is None  # the red part looks like the object: no proposal
    s.island_colour_llr = None
    c = s.propose_pseudo_click()
    assert not c.positive and 70 <= c.y < 90 and 10 <= c.x < 30
    s.island_colour_llr = 0.0
    img[70:90, 10:30] = (30, 140, 40)  # the second part has the background's colour: proposed
    s.set_image(img)
    s.add_click(30, 30, True)
    c = s.propose_pseudo_click()
    assert not c.positive and 70 <= c.y < 90 and 10 <= c.x < 30


def test_island_trial_gate_and_confidence(monkeypatch):

    with pytest.raises(ValueError):
        Session.from_random(device="cpu", island_trial="sometimes")
    s = Session.from_random(device="cpu", proposal_source="islands", island_trial="gate", island_confidence=0.6,
                            island_trial_confidence=0.9)
    s.set_image(_image(100, 100))
    s.add_click(30, 30, True)
    maps = np.zeros((100, 100, 3), np.float32)
    maps[20:45, 20:45, 0] = 0.9  # the clicked part
    maps[60:90, 60:90, 0] = 0.9  # a large island: a piece of the object (the trial joins it)
    maps[70:85, 5:20, 0] = 0.9  # a small island: another object (the trial keeps it apart)
    _fake_step(monkeypatch, s, maps)
    trials = []

    def trial_run(t, prev, human=None, pseudo=None):
        trials.append(human[-1])
        out = maps.copy()
        if human[-1].x >= 60:  # a positive click on the large island bridges it to the clicked part
            out[40:65, 40:65, 0] = 0.9
        return out

    monkeypatch.setattr(s, "_run", trial_run)
    c = s.propose_pseudo_click()
    assert not c.positive and 70 <= c.y < 85 and 5 <= c.x < 20 and c.confidence == 0.9
    assert len(trials) == 2 and all(k.positive for k in trials)  # the large island was tried first and skipped
    s.island_trial = "confidence"  # keep the large island, with the rule's lower confidence
    c = s.propose_pseudo_click()
    assert 60 <= c.y < 90 and 60 <= c.x < 90 and c.confidence == 0.6
    s.island_trial = "off"
    trials.clear()
    assert s.propose_pseudo_click().confidence == 0.6 and not trials  # no trial pass at all


def _scorer(threshold=0.5, **weights):
    from pseudoclick_gui.engine.pseudo import PROPOSAL_FEATURES, ProposalScorer

    k = len(PROPOSAL_FEATURES)
    models = {}
    for src, (feature, w, bias) in weights.items():
        ws = [0.0] * k
        ws[PROPOSAL_FEATURES.index(feature)] = w
        models[src] = {"mean": [0.0] * k, "std": [1.0] * k, "weights": ws, "bias": bias}
    return ProposalScorer(models, threshold)


def test_scored_proposals_pick_the_likeliest_candidate_and_accepting_reuses_its_look_ahead(tmp_path, monkeypatch):
    from pseudoclick_gui.engine.checkpoint import save_checkpoint
    from pseudoclick_gui.engine.network import PseudoClickNet

    with pytest.raises(ValueError, match="scorer"):
        Session.from_random(device="cpu", proposal_source="scored")  # nothing to score with
    # the scorer travels in the checkpoint's metadata; a malformed one is a clear CheckpointError
    scorer = _scorer(0.0, island=("p_after", -4.0, 2.0), fn=("p_after", 4.0, -2.0), fp=("p_after", -4.0, 2.0))
    save_checkpoint(PseudoClickNet(), tmp_path / "m.pt",
                    meta={"proposal_source": "scored", "proposal_scorer": scorer.to_dict()})
    s = Session.from_checkpoint(tmp_path / "m.pt", device="cpu")
    assert s.proposal_scorer == scorer and s.spawn().proposal_scorer == scorer
    save_checkpoint(PseudoClickNet(), tmp_path / "bad.pt", meta={"proposal_scorer": {"models": {"fp": {}}}})
    from pseudoclick_gui.errors import CheckpointError

    with pytest.raises(CheckpointError, match="proposal scorer"):
        Session.from_checkpoint(tmp_path / "bad.pt", device="cpu")
    save_checkpoint(PseudoClickNet(), tmp_path / "bad2.pt", meta={"proposal_scorer": "fitted"})
    with pytest.raises(CheckpointError, match="proposal scorer"):
        Session.from_checkpoint(tmp_path / "bad2.pt", device="cpu")

    s.set_image(_image(100, 100))
    s.add_click(30, 30, True)
    s.predict()
    assert s.proposal_source == "scored"
    runs = []
    real_run = s._run

    def counting_run(t, prev, human=None, pseudo=None, inputs=None):
        runs.append(pseudo)
        return real_run(t, prev, human, pseudo, inputs=inputs)

    monkeypatch.setattr(s, "_run", counting_run)
    cands = s.scored_candidates()
    assert len(runs) == len(cands)  # one look-ahead pass per candidate
    assert all(pseudo and pseudo[-1] == click for (_, _, click, _), pseudo in zip(cands, runs))
    runs.clear()
    kind = cands[0][0].source
    only = s.scored_candidates(sources=(kind,))  # only those kinds get a look-ahead pass
    assert len(runs) == len(only) == sum(c.source == kind for c, *_ in cands) and {c.source for c, *_ in only} == {kind}
    expected = [(scorer.probability(c.source, f), click) for c, f, click, _ in cands]
    assert cands and all(p is not None for p, _ in expected)  # the random network leaves some error region
    from dataclasses import replace

    s.proposal_scorer = replace(scorer, rank="expected")  # the largest expected change instead
    by_change = [((2 * scorer.probability(c.source, f) - 1) * f["changed"], click) for c, f, click, _ in cands]
    c = s.propose_pseudo_click()
    best = max(by_change, key=lambda e: e[0])[1]
    assert (c.x, c.y, c.positive) == (best.x, best.y, best.positive)
    s.proposal_scorer = scorer
    runs.clear()
    c = s.propose_pseudo_click()
    p, best = max(expected, key=lambda e: e[0])
    assert (c.x, c.y, c.positive) == (best.x, best.y, best.positive) and c.confidence == pytest.approx(p)
    runs.clear()
    s.accept_pseudo_click(c)
    cached = s.predict()
    assert not runs  # the look-ahead pass is the accepted step: no new forward
    monkeypatch.setattr(s, "_run", real_run)
    s._last, s._dirty = None, True
    fresh = s.predict()
    np.testing.assert_allclose(cached.probability, fresh.probability, atol=1e-5)
    s.proposal_scorer = _scorer(threshold=1.01, island=("p_after", 0.0, 0.0))
    s.add_click(60, 60, False)
    assert s.propose_pseudo_click() is None  # nothing reaches the threshold


def test_scored_proposals_on_a_scene_with_an_island_and_error_regions(monkeypatch):

    s = Session.from_random(device="cpu", proposal_source="scored", error_threshold=0.3,
                            proposal_scorer=_scorer(island=("area_frac", 1.0, 3.0), fn=("area_frac", 1.0, 2.0)))
    s.set_image(_image(100, 100))
    s.add_click(30, 30, True)
    maps = np.zeros((100, 100, 3), np.float32)
    maps[20:50, 20:50, 0] = 0.9
    maps[70:90, 70:90, 0] = 0.9  # an island
    maps[20:40, 52:62, 2] = 0.7  # an FN region
    _fake_step(monkeypatch, s, maps)
    monkeypatch.setattr(s, "_run", lambda t, prev, human=None, pseudo=None, inputs=None: maps)
    c = s.propose_pseudo_click()  # island: sigmoid(log(400/1300) + 3) beats fn: sigmoid(log(200/1300) + 2)
    assert not c.positive and 70 <= c.y < 90 and 70 <= c.x < 90
    assert c.confidence == pytest.approx(1 / (1 + np.exp(-(np.log(400 / 1300) + 3))))
    s.proposal_scorer = _scorer(fn=("area_frac", 1.0, 2.0))  # no island model: islands are never proposed
    c = s.propose_pseudo_click()
    assert c.positive and 20 <= c.y < 40 and 52 <= c.x < 62


def test_pseudo_lifetime_step_keeps_a_pseudo_click_an_input_only_until_the_next_human_click(monkeypatch):
    with pytest.raises(ValueError):
        Session.from_random(device="cpu", pseudo_lifetime="forever")
    s = Session.from_random(device="cpu", pseudo_lifetime="step")
    s.set_image(_image(100, 100))
    s.add_click(30, 30, True)
    s.predict()
    seen = []
    real_run = s._run

    def spy(t, prev, human=None, pseudo=None):
        seen.append(list(s._live_pseudo()) if pseudo is None else list(pseudo))
        return real_run(t, prev, human, pseudo)

    monkeypatch.setattr(s, "_run", spy)
    p = s.accept_pseudo_click(Click(70, 70, False, "pseudo", 0.6))
    s.predict()
    assert seen[-1] == [p] and s.live_pseudo_clicks == [p]  # the step it was accepted in sees it
    s.add_click(40, 40, True)
    s.predict()
    assert seen[-1] == [] and s.live_pseudo_clicks == []  # the next human click's pass does not
    assert s.pseudo_clicks == [p] and p in s.clicks  # still listed, still undoable
    s.undo()  # back to the step it belongs to: it is an input again
    assert s.live_pseudo_clicks == [p]
    s.pseudo_lifetime = "object"
    s.add_click(40, 40, True)
    s.predict()
    assert seen[-1] == [p]  # the default: an input for the whole object


def test_pseudo_input_human_draws_an_accepted_pseudo_click_into_the_human_click_channels():
    with pytest.raises(ValueError):
        Session.from_random(device="cpu", pseudo_input="both")
    seen = {}
    for pseudo_input in ("pseudo", "human"):
        s = Session.from_random(device="cpu", seed=3, pseudo_input=pseudo_input)
        s.set_image(_image(100, 100))
        s.add_click(45, 50, True)
        s.predict()
        net = s.model
        calls = []
        s.model = lambda image, maps, pseudo, net=net, calls=calls: calls.append((maps, pseudo)) or net(image, maps, pseudo)
        p = s.accept_pseudo_click(Click(60, 40, True, "pseudo", 0.6))
        out = s.predict().probability
        maps, pseudo = (x.contiguous().numpy() for x in calls[-1])
        seen[pseudo_input] = maps, pseudo, out
        assert s.human_clicks == [Click(45, 50, True)] and s.pseudo_clicks == [p]  # still free in NoC
        assert s.spawn().pseudo_input == pseudo_input
    (maps_p, pseudo_p, out_p), (maps_h, pseudo_h, out_h) = seen["pseudo"], seen["human"]
    assert pseudo_p[0, 0].sum() > 10 and not pseudo_p[0, 1].any()  # the paper: a positive disk in its own channel
    assert not pseudo_h.any()  # "human": its own channels stay empty ...
    np.testing.assert_array_equal(maps_h[:, 0], maps_p[:, 0])  # same previous mask
    # ... and the human channels hold it beside the annotator's click, as if they had clicked there
    np.testing.assert_array_equal(maps_h[:, 1:], np.maximum(maps_p[:, 1:], pseudo_p))
    assert not np.array_equal(out_h, out_p)  # so the network answers differently
    torch.manual_seed(0)
    assert Session(PseudoClickNet(), "cpu", meta={"pseudo_input": "human"}).pseudo_input == "human"


def test_grey_images_may_keep_their_own_pseudo_lifetime():
    meta = {"pseudo_lifetime": "step", "grey_pseudo_lifetime": "object"}
    colour = _image(100, 100)
    grey = np.repeat(colour[..., :1], 3, axis=2)
    torch.manual_seed(0)
    net = PseudoClickNet()
    s = Session(net, "cpu", meta=meta)
    assert (s.pseudo_lifetime, s.grey_pseudo_lifetime) == ("step", "object")
    for image, lifetime in ((colour, "step"), (grey, "object")):
        for session in (s, s.spawn()):  # a spawned session keeps both settings
            session.set_image(image)
            assert session.image_pseudo_lifetime == lifetime
            session.add_click(30, 30, True)
            session.predict()
            p = session.accept_pseudo_click(Click(70, 70, False, "pseudo", 0.6))
            session.add_click(40, 40, True)
            session.predict()
            assert session.live_pseudo_clicks == ([] if lifetime == "step" else [p])
    # an explicit lifetime is for every image; the grey one alone may be given too
    assert Session(net, "cpu", meta=meta, pseudo_lifetime="step").grey_pseudo_lifetime == "step"
    assert Session(net, "cpu", meta=meta, grey_pseudo_lifetime="step").grey_pseudo_lifetime == "step"
    assert Session(net, "cpu", meta={"pseudo_lifetime": "step"}).grey_pseudo_lifetime == "step"
    with pytest.raises(ValueError):
        Session(net, "cpu", grey_pseudo_lifetime="forever")


def test_views_sources_propose_where_the_mirrored_pass_disagrees(tmp_path, monkeypatch):
    from pseudoclick_gui.engine.checkpoint import save_checkpoint

    save_checkpoint(PseudoClickNet(), tmp_path / "m.pt",
                    meta={"proposal_source": "islands+views", "view_threshold": 0.25, "view_confidence": 0.7})
    s = Session.from_checkpoint(tmp_path / "m.pt", device="cpu")
    assert (s.proposal_source, s.view_threshold, s.view_signs, s.view_confidence) == ("islands+views", 0.25, "positive", 0.7)
    assert s.spawn().view_threshold == 0.25
    with pytest.raises(ValueError):
        Session.from_random(device="cpu", view_signs="sideways")
    s.set_image(_image(100, 100))
    s.add_click(30, 30, True)
    maps = np.zeros((100, 100, 3), np.float32)
    maps[20:45, 20:45, 0] = 0.9  # the clicked part
    maps[70:90, 10:30, 0] = 0.9  # an island
    maps[0:30, 60:100, 2] = 0.8  # a large FN blob in the error map: the views rule ignores it
    _fake_step(monkeypatch, s, maps)
    passes = []

    def mirrored_run(t, prev, human=None, pseudo=None, mirror=False):
        passes.append(mirror)
        out = maps.copy()
        out[20:45, 45:60, 0] = 0.9  # the mirrored view extends the clicked part to the right
        return out

    monkeypatch.setattr(s, "_run", mirrored_run)
    c = s.propose_pseudo_click()
    assert not c.positive and 70 <= c.y < 90 and 10 <= c.x < 30 and not passes  # the island comes first
    s.add_click(20, 80, True)  # the island now holds a positive click
    c = s.propose_pseudo_click()
    assert c.positive and 20 <= c.y < 45 and 45 <= c.x < 60 and c.confidence == 0.7
    assert passes == [True]  # one mirrored pass
    s.proposal_source = "views"
    s.view_signs = "negative"  # the mirrored view drops nothing of the mask
    assert s.propose_pseudo_click() is None


def test_mirrored_pass_is_the_network_on_the_mirrored_inputs(session):
    s = session.spawn()
    img = _image(64, 96)
    s.set_image(img)
    s.add_click(50, 40, True)
    s.predict()
    t = s.last_prediction.extra["transform"]
    prev = np.zeros(img.shape[:2], np.float32)
    mirrored = s._run(t, prev, mirror=True)
    s.set_image(np.ascontiguousarray(img[:, ::-1]))
    s.add_click(img.shape[1] - 1 - 50, 40, True)
    s.predict()
    direct = s._run(t, prev)
    np.testing.assert_allclose(mirrored, direct[:, ::-1], atol=1e-5)


def test_zoom_view_is_the_closer_pass_on_the_first_click_mapped_onto_the_step_grid():
    from pseudoclick_gui.engine.zoom import CropTransform, expand_roi

    s = Session.from_random(device="cpu", seed=1, zoom_view_min_gain=1.0)
    img = np.random.default_rng(1).integers(0, 60, (240, 320, 3), dtype=np.uint8)
    img[100:130, 140:180] = 220  # a small object: its zoom-in window shows it ~2x larger than the whole image
    s.set_image(img)
    s.add_click(160, 115, True)
    p = s.predict()
    t = p.extra["transform"]
    assert t.roi == (0, 0, 320, 240)
    blob = np.zeros((240, 320), np.float32)
    blob[100:130, 140:180] = 0.9  # what a trained network would answer (the random one's mask is arbitrary)
    from dataclasses import replace

    s._last = replace(p, probability=blob)
    view = s.zoom_view(t, s._step_prev())
    roi = expand_roi(blob > 0.5, [(160.0, 115.0)])
    tz = CropTransform.fit(roi, s.zoom_side)
    assert tz.scale > 1.5 * t.scale
    # the same pass mapped through the image: equal up to resampling
    ref = t.forward_image(tz.inverse_map(s._run(tz, s._step_prev())[..., 0], 240, 320))
    assert view.shape == ref.shape == (t.out_h, t.out_w) and view.dtype == np.float32
    assert np.abs(view - ref).mean() < 0.01
    # pixel-exact: a closer pass that answers exactly the object lands exactly on it in the step's grid
    real_run = s._run
    s._run = lambda tt, prev, *a, **k: np.repeat(tt.forward_image(blob / 0.9)[..., None], 3, axis=2)
    sharp = s.zoom_view(t, s._step_prev())
    s._run = real_run
    assert sharp[101:129, 141:179].min() > 0.9 and sharp[100:130, 140:180].mean() > 0.9
    for edge in (sharp[98], sharp[131], sharp[:, 138], sharp[:, 181]):
        assert edge.max() < 0.1
    gx0, gy0 = int(roi[0] * t.scale) - 2, int(roi[1] * t.scale) - 2
    assert not view[:, :max(gx0, 0)].any() and not view[:max(gy0, 0)].any()  # nothing outside the window
    s.zoom_view_min_gain = 100.0  # the window would not show the object that much larger
    assert s.zoom_view(t, s._step_prev()) is None
    s.zoom_view_min_gain = 1.0
    s.add_click(100, 60, False)  # from the second click the step itself is zoomed in: no closer view
    p2 = s.predict()
    assert p2.extra["transform"].roi != (0, 0, 320, 240)
    assert s.zoom_view(p2.extra["transform"], s._step_prev()) is None
    assert s.spawn().zoom_view_min_gain == 1.0
    off = Session.from_random(device="cpu", seed=1, zoom_in=False, zoom_view_min_gain=1.0)
    off.set_image(img)
    off.add_click(160, 115, True)
    assert off.zoom_view(off.predict().extra["transform"], off._step_prev()) is None


def test_scored_rule_weighs_the_closer_view_candidate_when_its_scorer_has_a_zoom_model(monkeypatch):

    scorer = _scorer(fn=("area_frac", 1.0, 0.0), zoom=("pview", 4.0, -1.0))
    assert scorer.uses_zoom and not _scorer(fn=("area_frac", 1.0, 0.0)).uses_zoom
    s = Session.from_random(device="cpu", proposal_source="scored", error_threshold=0.3, proposal_scorer=scorer)
    s.set_image(_image(100, 100))
    s.add_click(30, 30, True)
    maps = np.zeros((100, 100, 3), np.float32)
    maps[20:50, 20:50, 0] = 0.9
    _fake_step(monkeypatch, s, maps)
    monkeypatch.setattr(s, "_run", lambda t, prev, human=None, pseudo=None, inputs=None, mirror=False: maps)
    closer = maps[..., 0].copy()
    closer[20:50, 50:70] = 0.95  # the closer view puts the object's other half in
    closer[40:50, 20:50] = 0.05  # and takes a strip of the mask out, less deep
    monkeypatch.setattr(s, "zoom_view", lambda t, prev: closer)
    cands = s.scored_candidates()
    zoom = [(c, f) for c, f, _, _ in cands if c.source == "zoom"]
    assert len(zoom) == 1
    cand, feats = zoom[0]
    assert cand.click.positive and 20 <= cand.click.row < 50 and 50 <= cand.click.col < 70
    assert cand.region.sum() == 30 * 20 and feats["pview"] == pytest.approx(0.95)  # the closer view's mean
    c = s.propose_pseudo_click()  # zoom: sigmoid(4 * 0.95 - 1) = 0.94 beats every other candidate
    assert c.positive and 20 <= c.y < 50 and 50 <= c.x < 70
    assert c.confidence == pytest.approx(1 / (1 + np.exp(-(4 * 0.95 - 1))))
    monkeypatch.setattr(s, "zoom_view", lambda t, prev: None)  # no closer view (zoomed already, or too little gain)
    assert not [c for c, *_ in s.scored_candidates() if c.source == "zoom"]
    s.proposal_scorer = _scorer(fn=("area_frac", 1.0, 0.0))  # a scorer without a zoom model never asks for it
    monkeypatch.setattr(s, "zoom_view", lambda t, prev: pytest.fail("zoom_view ran"))
    s.scored_candidates()


def test_first_click_zoom_answers_a_small_objects_first_click_from_its_zoom_in_window(monkeypatch):
    torch.manual_seed(0)
    net = PseudoClickNet()
    with pytest.raises(ValueError):
        Session(net, "cpu", first_click_zoom=0.5)
    s = Session(net, "cpu", meta={"first_click_zoom": 1.5})
    assert s.first_click_zoom == 1.5 and s.spawn().first_click_zoom == 1.5
    assert Session(net, "cpu").first_click_zoom == 0.0  # RITM's rule unless the checkpoint says otherwise
    assert Session(net, "cpu", meta={"first_click_zoom": 1.5}, first_click_zoom=0).first_click_zoom == 0.0
    blob = np.zeros((480, 640), np.float32)
    blob[200:240, 280:340] = 0.9  # a small object: the network's answer in any view
    views = []

    def fake_run(t, prev, human=None, pseudo=None, mirror=False, inputs=None):
        views.append(t)
        out = np.zeros((t.out_h, t.out_w, 3), np.float32)
        out[..., 0] = t.forward_image(blob)
        return out

    monkeypatch.setattr(s, "_run", fake_run)
    s.set_image(_image(480, 640))
    s.add_click(310, 220, True)
    p = s.predict()
    full, window = views
    assert full.roi == (0, 0, 640, 480) and window.scale >= 1.5 * full.scale  # whole image first, then the window
    x0, y0, x1, y1 = window.roi
    assert x0 <= 280 and y0 <= 200 and x1 >= 340 and y1 >= 240 and (x1 - x0) * (y1 - y0) < 640 * 480 / 4
    assert p.extra["transform"] == window and p.roi == window.roi
    assert p.mask[201:239, 281:339].all() and not p.mask[:, :x0].any()  # pasted back from the window
    views.clear()
    s.accept_pseudo_click(Click(300, 210, True, "pseudo", 0.8))
    s.predict()
    assert views == [window]  # the first click's pseudo pass keeps its view
    views.clear()
    s.undo()
    s.undo()  # back to no click at all: the next first click starts from the whole image again
    s.add_click(310, 220, True)
    s.predict()
    assert [v.roi for v in views] == [(0, 0, 640, 480), window.roi]
    views.clear()
    s.add_click(250, 220, False)  # the second click carries on from the window (RITM's rule)
    s.predict()
    assert views[0].roi == window.roi
    s.first_click_zoom = 100.0  # the window would not magnify that much: RITM's rule, one pass
    s.reset()
    views.clear()
    s.add_click(310, 220, True)
    assert s.predict().extra["transform"].roi == (0, 0, 640, 480) and len(views) == 1
    s.first_click_zoom = 0.0  # off
    s.reset()
    views.clear()
    s.add_click(310, 220, True)
    assert s.predict().extra["transform"].roi == (0, 0, 640, 480) and len(views) == 1


def test_whole_source_with_a_second_whole_object_network(tmp_path, monkeypatch):
    from pseudoclick_gui.engine.checkpoint import save_checkpoint

    with pytest.raises(ValueError, match="whole-object network"):
        Session.from_random(device="cpu", proposal_source="whole")
    torch.manual_seed(0)
    whole = PseudoClickNet()
    with torch.no_grad():
        whole.seg_head.out.bias.fill_(12.0)  # a whole-object network that says "all of it is the object"
    save_checkpoint(PseudoClickNet(), tmp_path / "m.pt")
    save_checkpoint(whole, tmp_path / "w.pt")
    s = Session.from_checkpoint(tmp_path / "m.pt", device="cpu", whole_checkpoint=tmp_path / "w.pt",
                                grey_checkpoint=tmp_path / "m.pt", proposal_source="whole")
    assert s.meta["whole_checkpoint"].endswith("w.pt") and s.spawn().whole_model is s.whole_model
    s.set_image(_image(100, 100))
    s.add_click(30, 30, True)
    maps = np.zeros((100, 100, 3), np.float32)
    maps[10:50, 10:50, 0] = 0.9
    _fake_step(monkeypatch, s, maps)
    c = s.propose_pseudo_click()
    assert c.positive and not (10 <= c.x < 50 and 10 <= c.y < 50)  # outside the mask, where the second net adds
    assert c.y > 60 or c.x > 60  # the deepest point of what it adds
    s.set_image(np.repeat(_image(100, 100)[..., :1], 3, axis=2))  # the grey network has no whole-object counterpart
    s.add_click(30, 30, True)
    assert s.propose_pseudo_click() is None


def test_scored_rule_weighs_a_whole_candidate_with_its_own_features(tmp_path, monkeypatch):
    from pseudoclick_gui.engine.checkpoint import save_checkpoint
    from pseudoclick_gui.engine.pseudo import ProposalScorer

    torch.manual_seed(0)
    whole = PseudoClickNet()
    with torch.no_grad():
        whole.seg_head.out.bias.fill_(12.0)  # "all of it is the object"
    save_checkpoint(PseudoClickNet(), tmp_path / "m.pt")
    save_checkpoint(whole, tmp_path / "w.pt")
    names = ["pwhole", "border"]  # a model of its own features only, beside the scorer's default list
    says = {"mean": [0.0, 0.0], "std": [1.0, 1.0], "weights": [4.0, 0.0], "bias": -2.0, "features": names}
    scorer = ProposalScorer.from_dict({"models": {"whole": says}, "threshold": 0.5})
    assert scorer.uses_whole and not scorer.uses_view and scorer.model_features("whole") == tuple(names)
    assert ProposalScorer.from_dict(scorer.to_dict()) == scorer
    with pytest.raises(ValueError, match="features"):
        ProposalScorer.from_dict({"models": {"whole": dict(says, features=["pwhole", "colour"])}})
    s = Session.from_checkpoint(tmp_path / "m.pt", device="cpu", whole_checkpoint=tmp_path / "w.pt",
                                proposal_source="scored", proposal_scorer=scorer)
    s.set_image(_image(100, 100))
    s.add_click(30, 30, True)
    maps = np.zeros((100, 100, 3), np.float32)
    maps[10:50, 10:50, 0] = 0.9
    _fake_step(monkeypatch, s, maps)
    passes = []
    run = s._run
    monkeypatch.setattr(s, "_run", lambda *a, **k: passes.append(k.get("model")) or run(*a, **k))
    cands = s.scored_candidates()
    w = [(c, f) for c, f, _, _ in cands if c.source == "whole"]
    assert len(w) == 1 and passes.count(s.whole_model) == 1  # one pass of the second network per step
    cand, feats = w[0]
    assert feats["pwhole"] > 0.99 and feats["border"] > 0.9  # it adds everything outside the mask, edges too
    assert not cand.region[10:50, 10:50].any() and cand.click.positive
    c = s.propose_pseudo_click()
    assert c.positive and not (10 <= c.x < 50 and 10 <= c.y < 50) and c.confidence > 0.5
    # a scorer that does not weigh it: no whole-object pass, no whole candidate
    other = {"mean": [0.0], "std": [1.0], "weights": [1.0], "bias": 0.0, "features": ["p_after"]}
    s.proposal_scorer = ProposalScorer.from_dict({"models": {"fn": other}, "threshold": 0.5})
    passes.clear()
    assert all(c.source != "whole" for c, *_ in s.scored_candidates()) and s.whole_model not in passes


def _disk_network(session):
    """A stand-in for the network: the mask is a disk of radius 10 around every positive click it sees (human
    and live pseudo), minus disks around negative ones."""

    def run(t, prev, human=None, pseudo=None, mirror=False, inputs=None, model=None):
        human = session._human if human is None else human
        pseudo = session._live_pseudo() if pseudo is None else pseudo
        h, w = t.out_h, t.out_w
        yy, xx = np.mgrid[:h, :w]
        out = np.zeros((h, w, 3), np.float32)
        for positive in (True, False):
            for c in human + pseudo:
                if c.positive == positive:
                    cx, cy = t.forward_point(c.x, c.y)
                    out[(xx - cx) ** 2 + (yy - cy) ** 2 <= 100, 0] = 0.9 if positive else 0.0
        return out

    return run


def test_contradicted_lifetime_drops_a_pseudo_click_a_human_click_undoes_and_rolls_the_mask_back(monkeypatch):
    s = Session.from_random(device="cpu", pseudo_lifetime="contradicted")
    monkeypatch.setattr(s, "_run", _disk_network(s))
    s.set_image(_image(100, 100))
    s.add_click(30, 30, True)
    before = s.predict().probability.copy()
    p = s.accept_pseudo_click(Click(70, 70, True, "pseudo", 0.8))
    assert s.predict().probability[70, 70] > 0.5
    s.add_click(90, 10, False)  # a human click elsewhere: the pseudo click stays an input (lifetime "step" would drop it)
    assert s.live_pseudo_clicks == [p]
    assert s.predict().probability[70, 70] > 0.5
    s.undo()
    s.add_click(72, 70, False)  # a negative click on what the pseudo click added: it was wrong
    assert s.live_pseudo_clicks == []
    np.testing.assert_array_equal(s._step_prev(), before)  # the mask from before that pseudo click
    assert s.predict().probability[70, 70] < 0.5
    s.undo()
    assert s.live_pseudo_clicks == [p] and s.predict().probability[70, 70] > 0.5
    s.add_click(30, 30, True)  # a positive click on what it left alone does not contradict it
    assert s.live_pseudo_clicks == [p]
