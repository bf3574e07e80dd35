from dataclasses import replace

import numpy as np
import pytest
import torch

from pseudoclick_gui.engine import Click, Session
from pseudoclick_gui.engine.network import PseudoClickNet
from pseudoclick_gui.engine.rule import ProposalRule
from pseudoclick_gui.errors import CheckpointError, ImageLoadError, PseudoClickError


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
        s = Session.from_default_checkpoint(device="cpu")
        s.rule = replace(s.rule, lifetime=lifetime)
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


def test_proposal_rule_comes_from_the_checkpoint_and_is_applied(tmp_path, monkeypatch):
    from pseudoclick_gui.engine.checkpoint import save_checkpoint

    save_checkpoint(PseudoClickNet(), tmp_path / "m.pt", meta={"proposal_signs": "negative", "retired_key": 3})
    s = Session.from_checkpoint(tmp_path / "m.pt", device="cpu")  # keys it no longer knows are ignored
    assert s.rule.signs == s.grey_rule.signs == s.spawn().rule.signs == "negative"
    assert Session.from_checkpoint(tmp_path / "m.pt", device="cpu", rule=ProposalRule()).grey_rule.signs == "both"

    s.set_image(_image(100, 100))
    s.add_click(42, 42, True)  # proposals never land within a disk radius of a click
    maps = np.zeros((100, 100, 3), np.float32)
    maps[40:60, 40:60, 0] = 0.9  # mask
    maps[48:58, 48:58, 1] = 0.8  # FP blob inside it, 100 px
    maps[0:30, 70:100, 2] = 0.8  # far FN blob, 900 px
    _fake_step(monkeypatch, s, maps)
    assert not s.propose_pseudo_click().positive  # FP only
    s.rule = replace(s.rule, signs="both")
    c = s.propose_pseudo_click()
    assert c.positive and c.y < 30 and c.x >= 70  # the larger region
    s.rule = replace(s.rule, signs="negative", min_fraction=0.2)  # the FP blob is 100 px, the mask 400 px: 25 %
    assert s.propose_pseudo_click() is not None
    s.rule = replace(s.rule, min_fraction=0.3)
    assert s.propose_pseudo_click() is None
    s.set_proposal_rule("paper")  # the paper's: both maps at 0.5, the largest region
    assert s.rule == s.grey_rule == ProposalRule() and s.propose_pseudo_click().positive
    s.set_proposal_rule(None)
    assert s.rule.signs == "negative"
    with pytest.raises(ValueError):
        s.set_proposal_rule("islands")


@pytest.mark.parametrize("meta, says", [
    ({"pseudo_lifetime": "objct"}, "lifetime"), ({"error_threshold": "high"}, "error_threshold"),
    ({"error_threshold": 7}, "between 0 and 1"), ({"proposal_source": "views"}, "proposal source"),
    ({"proposal_source": "scored"}, "scorer"), ({"proposal_scorer": {"models": {"fp": {}}}}, "scorer"),
    ({"proposal_scorer": "fitted"}, "scorer"), ({"island_confidence": float("nan")}, "island_confidence"),
])
def test_a_checkpoint_with_a_bad_rule_is_a_clear_checkpoint_error(tmp_path, meta, says):
    from pseudoclick_gui.engine.checkpoint import save_checkpoint

    save_checkpoint(PseudoClickNet(), tmp_path / "m.pt", meta=meta)
    with pytest.raises(CheckpointError, match=says):
        Session.from_checkpoint(tmp_path / "m.pt", device="cpu")
    with pytest.raises(CheckpointError, match="not a dict"):
        Session(PseudoClickNet(), "cpu", meta=["not", "a", "dict"])


def test_a_rule_writes_the_metadata_it_reads():
    scorer = _scorer(0.4, fp=("p_after", -1.0, 0.5))
    rule = ProposalRule("scored", "step", 0.3, "depth", "negative", 0.1, 0.6, 0.93, scorer=scorer)
    grey = ProposalRule("islands+errors", "object", 0.3, "depth", "negative", 0.1, 0.6, 0.93)
    meta = {**rule.to_meta(), **grey.to_meta(grey=True)}
    assert ProposalRule.from_meta(meta) == rule and ProposalRule.from_meta(meta, grey=True) == replace(grey, scorer=scorer)
    assert ProposalRule.from_meta({}) == ProposalRule.paper()
def test_islands_first_then_error_maps(tmp_path, monkeypatch):
    from pseudoclick_gui.engine.checkpoint import save_checkpoint

    save_checkpoint(PseudoClickNet(), tmp_path / "m.pt",
                    meta={"proposal_source": "islands+errors", "island_confidence": 0.8, "proposal_signs": "both"})
    s = Session.from_checkpoint(tmp_path / "m.pt", device="cpu")
    assert (s.rule.source, s.rule.island_confidence) == ("islands+errors", 0.8)
    s.set_image(_image(100, 100))
    s.add_click(30, 30, True)
    maps = np.zeros((100, 100, 3), np.float32)
    maps[20:45, 20:45, 0] = 0.9  # the clicked part
    maps[70:90, 10:30, 0] = 0.9  # a second part, no click on it: 400 px
    maps[0:30, 60:100, 2] = 0.8  # a large FN blob
    _fake_step(monkeypatch, s, maps)
    c = s.propose_pseudo_click()
    assert not c.positive and 70 <= c.y < 90 and 10 <= c.x < 30 and c.confidence == 0.8
    s.rule = replace(s.rule, source="errors")  # the paper: the error maps' largest region
    c = s.propose_pseudo_click()
    assert c.positive and c.y < 30 and c.x >= 60
    s.rule = replace(s.rule, source="islands+errors")
    s.add_click(20, 80, True)  # now the second part holds a positive click: no island left
    assert s.propose_pseudo_click().positive  # falls back to the error maps
def test_island_trial_sets_the_confidence(monkeypatch):
    s = Session.from_random(device="cpu", rule=ProposalRule("islands+errors", island_confidence=0.6,
                                                            island_trial_confidence=0.9))
    s.set_image(_image(100, 100))
    s.add_click(30, 30, True)
    maps = np.zeros((100, 100, 3), np.float32)
    maps[20:45, 20:45, 0] = 0.9  # the clicked part
    maps[60:90, 60:90, 0] = 0.9  # a large island: a piece of the object (the trial joins it)
    maps[70:85, 5:20, 0] = 0.9  # a small island: another object (the trial keeps it apart)
    _fake_step(monkeypatch, s, maps)
    trials, joins = [], [True]

    def trial_run(t, prev, human=None, pseudo=None):
        trials.append(human[-1])
        out = maps.copy()
        if human[-1].x >= 60 and joins[0]:  # a positive click on the large island bridges it to the clicked part
            out[40:65, 40:65, 0] = 0.9
        return out

    monkeypatch.setattr(s, "_run", trial_run)
    c = s.propose_pseudo_click()  # the large island first; joined by the trial: the low confidence
    assert 60 <= c.y < 90 and 60 <= c.x < 90 and c.confidence == 0.6 and len(trials) == 1 and trials[0].positive
    joins[0] = False
    c = s.propose_pseudo_click()  # the island stays apart: the high confidence
    assert not c.positive and 60 <= c.y < 90 and 60 <= c.x < 90 and c.confidence == 0.9
    s.rule = replace(s.rule, island_trial_confidence=None)
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
        ProposalRule("scored")  # nothing to score with
    # the scorer travels in the checkpoint's metadata
    scorer = _scorer(0.0, island=("p_after", -4.0, 2.0), fn=("p_after", 4.0, -2.0), fp=("p_after", -4.0, 2.0))
    save_checkpoint(PseudoClickNet(), tmp_path / "m.pt",
                    meta={"proposal_source": "scored", "proposal_scorer": scorer.to_dict()})
    s = Session.from_checkpoint(tmp_path / "m.pt", device="cpu")
    assert s.rule.scorer == scorer and s.spawn().rule.scorer == scorer

    s.set_image(_image(100, 100))
    s.add_click(30, 30, True)
    s.predict()
    assert s.image_rule.source == "scored"
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
    s.rule = s.rule.with_scorer(_scorer(threshold=1.0, island=("p_after", -50.0, 0.0)))
    s.add_click(60, 60, False)
    assert s.propose_pseudo_click() is None  # nothing reaches the threshold


def test_scored_proposals_on_a_scene_with_an_island_and_error_regions(monkeypatch):

    rule = ProposalRule("scored", error_threshold=0.3,
                        scorer=_scorer(island=("area_frac", 1.0, 3.0), fn=("area_frac", 1.0, 2.0)))
    s = Session.from_random(device="cpu", rule=rule)
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
    s.rule = rule.with_scorer(_scorer(fn=("area_frac", 1.0, 2.0)))  # no island model: islands are never proposed
    c = s.propose_pseudo_click()
    assert c.positive and 20 <= c.y < 40 and 52 <= c.x < 62


def test_pseudo_lifetime_step_keeps_a_pseudo_click_an_input_only_until_the_next_human_click(monkeypatch):
    with pytest.raises(ValueError):
        ProposalRule(lifetime="forever")
    s = Session.from_random(device="cpu", rule=ProposalRule(lifetime="step"))
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
    s.rule = ProposalRule(lifetime="object")
    s.add_click(40, 40, True)
    s.predict()
    assert seen[-1] == [p]  # the default: an input for the whole object


def test_grey_images_may_keep_their_own_pseudo_lifetime():
    meta = {"pseudo_lifetime": "step", "grey_pseudo_lifetime": "object"}
    colour = _image(100, 100)
    grey = np.repeat(colour[..., :1], 3, axis=2)
    torch.manual_seed(0)
    net = PseudoClickNet()
    s = Session(net, "cpu", meta=meta)
    assert (s.rule.lifetime, s.grey_rule.lifetime) == ("step", "object")
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
    # an explicit rule is for every image; the grey one alone may be given too
    step = ProposalRule(lifetime="step")
    assert Session(net, "cpu", meta=meta, rule=step).grey_rule.lifetime == "step"
    assert Session(net, "cpu", meta=meta, grey_rule=step).grey_rule.lifetime == "step"
    assert Session(net, "cpu", meta={"pseudo_lifetime": "step"}).grey_rule.lifetime == "step"


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




def test_a_cancelled_proposal_stops_between_network_passes(monkeypatch):
    rule = ProposalRule("scored", error_threshold=0.3, scorer=_scorer(0.0, island=("area_frac", 1.0, 3.0),
                                                                       fn=("area_frac", 1.0, 2.0)))
    s = Session.from_random(device="cpu", rule=rule)
    s.set_image(_image(100, 100))
    s.add_click(30, 30, True)
    maps = np.zeros((100, 100, 3), np.float32)
    maps[20:50, 20:50, 0] = 0.9
    maps[70:90, 70:90, 0] = 0.9  # an island
    maps[20:40, 52:62, 2] = 0.7  # an FN region
    _fake_step(monkeypatch, s, maps)
    passes = []
    monkeypatch.setattr(s, "_run", lambda *a, **k: passes.append(1) or maps)
    assert s.propose_pseudo_click() is not None and len(passes) == 2  # one look-ahead per candidate
    passes.clear()
    asked = []
    assert s.propose_pseudo_click(cancelled=lambda: asked.append(1) or len(asked) > 1) is None
    assert len(passes) == 1  # the user clicked again after the first look-ahead: no second pass
