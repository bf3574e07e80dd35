import numpy as np
import pytest

from pseudoclick_gui.engine.pseudo import (
    colour_llr,
    interior_point,
    island_click,
    joins_held,
    largest_error_click,
    view_region_click,
)


def test_largest_region_over_both_maps_wins_and_fn_gives_positive():
    fp = np.zeros((100, 100), np.float32)
    fn = np.zeros((100, 100), np.float32)
    fp[10:20, 10:20] = 0.9  # 100 px
    fn[50:80, 50:80] = 0.8  # 900 px -> wins
    c = largest_error_click(fp, fn)
    assert c is not None and c.positive
    assert 50 <= c.row < 80 and 50 <= c.col < 80
    assert c.area == 900
    assert abs(c.confidence - 0.8) < 1e-6


def test_fp_region_gives_negative_click():
    fp = np.zeros((60, 60), np.float32)
    fn = np.zeros((60, 60), np.float32)
    fp[5:45, 5:45] = 0.7
    fn[50:55, 50:55] = 0.9
    c = largest_error_click(fp, fn)
    assert c is not None and not c.positive
    assert fp[c.row, c.col] > 0.5


def test_concave_region_click_lies_inside_it():
    # a U shape whose centroid is in the empty middle
    region = np.zeros((100, 100), bool)
    region[10:90, 10:25] = True
    region[10:90, 75:90] = True
    region[75:90, 10:90] = True
    ys, xs = np.nonzero(region)
    assert not region[int(ys.mean()), int(xs.mean())]  # the centroid would be outside
    c = largest_error_click(np.zeros((100, 100), np.float32), region.astype(np.float32))
    assert region[c.row, c.col]


def test_regions_below_min_area_are_ignored_and_nothing_gives_none():
    fp = np.zeros((50, 50), np.float32)
    fp[0:3, 0:3] = 1.0
    assert largest_error_click(fp, np.zeros_like(fp), min_area=20) is None
    assert largest_error_click(np.zeros_like(fp), np.zeros_like(fp)) is None


def test_threshold_is_half():
    fn = np.full((40, 40), 0.49, np.float32)
    assert largest_error_click(np.zeros_like(fn), fn) is None
    fn[:] = 0.5
    assert largest_error_click(np.zeros_like(fn), fn) is not None


def test_blocked_spot_moves_the_proposal_to_the_next_region():
    fn = np.zeros((100, 100), np.float32)
    fn[0:40, 0:40] = 1.0  # biggest
    fn[60:90, 60:90] = 1.0
    blocked = np.zeros((100, 100), bool)
    blocked[0:40, 0:40] = True
    c = largest_error_click(np.zeros_like(fn), fn, blocked=blocked)
    assert 60 <= c.row < 90 and 60 <= c.col < 90


def test_interior_point_of_square_is_its_centre_and_border_counts_as_boundary():
    r = np.zeros((50, 70), bool)
    r[10:31, 20:41] = True
    assert interior_point(r) == (20, 30)
    full = np.ones((21, 21), bool)  # touching the image border everywhere: still the centre
    assert interior_point(full) == (10, 10)


def test_depth_rank_prefers_a_compact_blob_over_a_larger_thin_band():
    fp = np.zeros((100, 100), np.float32)
    fn = np.zeros((100, 100), np.float32)
    fp[5:7, 0:100] = 0.9  # a 2-px band along a boundary: 200 px
    fn[60:72, 60:72] = 0.9  # a 12 x 12 blob: 144 px
    assert not largest_error_click(fp, fn).positive  # by area the band wins
    c = largest_error_click(fp, fn, rank="depth")
    assert c.positive and 60 <= c.row < 72 and 60 <= c.col < 72


def test_signs_switch_one_error_map_off():
    fp = np.zeros((100, 100), np.float32)
    fn = np.zeros((100, 100), np.float32)
    fp[10:20, 10:20] = 0.9  # small FP blob
    fn[50:80, 50:80] = 0.8  # large FN blob: wins with both maps
    assert largest_error_click(fp, fn).positive
    c = largest_error_click(fp, fn, signs="negative")
    assert c is not None and not c.positive and 10 <= c.row < 20
    assert largest_error_click(fp, np.zeros_like(fn), signs="positive") is None
    with pytest.raises(ValueError):
        largest_error_click(fp, fn, signs="neither")
    with pytest.raises(ValueError):  # an unknown ranking is an error, not silently "area"
        largest_error_click(fp, fn, rank="size")


def _two_parts():
    seg = np.zeros((60, 80), np.float32)
    seg[10:30, 10:30] = 0.9  # held by the positive click: 400 px
    seg[35:55, 50:75] = 0.8  # 20 x 25 = 500 px, depth 10
    seg[5:9, 60:78] = 0.7  # a thin sliver, 72 px, depth 2
    return seg


def test_island_click_proposes_a_negative_click_in_a_part_no_positive_click_holds():
    seg = _two_parts()
    c = island_click(seg, [(20, 20)], min_area=20, rank="depth")
    assert c is not None and not c.positive and c.area == 500
    assert 35 <= c.row < 55 and 50 <= c.col < 75 and seg[c.row, c.col] >= 0.5
    assert c.confidence == 0.5
    # every part held: nothing to propose; no positive click at all: nothing either (the first click decides)
    assert island_click(seg, [(20, 20), (45, 60), (7, 70)]) is None
    assert island_click(seg, []) is None
    # a click just beside a part (within touch_radius) holds it; one farther away does not
    assert island_click(seg, [(20, 20), (45, 60), (10, 70)], touch_radius=2) is None
    assert island_click(seg, [(20, 20), (45, 60), (12, 70)], touch_radius=2).area == 72


def test_island_click_filters_rank_and_blocked():
    seg = _two_parts()
    by_area = island_click(seg, [(45, 60)], min_area=20, rank="area")
    assert by_area.area == 400  # the 400 px part beats the 72 px sliver
    assert island_click(seg, [(45, 60), (20, 20)], min_area=100) is None  # only the 72 px sliver is left
    assert island_click(seg, [(20, 20)], min_fraction=0.6) is None  # 500 of 972 px is 51 %
    assert island_click(seg, [(20, 20)], min_fraction=0.5).area == 500
    blocked = np.zeros(seg.shape, bool)
    blocked[30:60, 45:80] = True
    c = island_click(seg, [(20, 20)], blocked=blocked, rank="depth")
    assert c.area == 72 and c.row < 9  # the blocked part gives way to the sliver
    with pytest.raises(ValueError):
        island_click(seg, [(20, 20)], rank="biggest")


def test_colour_llr_says_which_histogram_a_part_looks_like():
    img = np.zeros((40, 40, 3), np.uint8)
    img[...] = (20, 40, 200)  # blue background
    img[5:20, 5:20] = (220, 30, 30)  # red object
    img[25:35, 25:35] = (220, 30, 30)  # red part
    img[25:35, 5:15] = (20, 40, 200)  # part of background colour (held in the mask below)
    labels = np.zeros((40, 40), np.int32)
    labels[5:20, 5:20] = 1
    labels[25:35, 25:35] = 2
    labels[25:35, 5:15] = 3
    llr = colour_llr(img, labels, labels == 1, labels == 0)
    assert llr.shape == (4,)
    assert llr[2] > 3 and llr[3] < -3  # about log(225 / 0.5) either way
    grey = colour_llr(img[..., 0], labels, labels == 1, labels == 0)  # a grey image works as it is
    assert grey[2] > 3 and grey[3] < -3


def test_joins_held_tells_whether_a_positive_click_makes_one_object_of_island_and_clicked_part():
    seg = np.zeros((60, 80), np.float32)
    seg[10:30, 10:30] = 0.9  # clicked part
    seg[10:30, 40:60] = 0.9  # island
    apart = seg.copy()
    apart[40:50, 40:50] = 0.9  # the trial grew elsewhere, still two parts
    bridged = seg.copy()
    bridged[15:25, 30:40] = 0.9  # the trial joined them
    assert not joins_held(apart, seg, 20, 50, [(20, 20)])
    assert joins_held(bridged, seg, 20, 50, [(20, 20)])
    assert not joins_held(bridged, seg, 45, 45, [(20, 20)])  # not a pixel of an island
    assert not joins_held(bridged, seg, 20, 50, [(50, 5)])  # no part is held
    lost = bridged.copy()
    lost[10:30, 40:60] = 0.0  # the trial dropped the island altogether
    assert not joins_held(lost, seg, 20, 50, [(20, 20)])


def _scene():
    """Crop maps with a clicked part, an island, an FP blob inside the clicked part and an FN blob beside it."""
    maps = np.zeros((100, 100, 3), np.float32)
    maps[20:50, 20:50, 0] = 0.9  # the clicked part (positive click at 30, 30)
    maps[70:90, 70:90, 0] = 0.9  # an island
    maps[40:50, 40:50, 1] = 0.8  # an FP region inside the clicked part
    maps[20:40, 52:62, 2] = 0.7  # an FN region beside it
    return maps


def test_proposal_candidates_take_islands_and_the_deepest_region_of_each_error_map():
    from pseudoclick_gui.engine.pseudo import proposal_candidates

    maps = _scene()
    cands = proposal_candidates(maps, [(30.0, 30.0)], min_area=20, error_threshold=0.3)
    assert [c.source for c in cands] == ["island", "fp", "fn"]  # one island only: the second search finds none
    island, fp, fn = cands
    assert not island.click.positive and island.region[80, 80] and island.region.sum() == 400
    assert not fp.click.positive and fp.region.sum() == 100 and 40 <= fp.click.row < 50
    assert fn.click.positive and fn.region.sum() == 200 and 52 <= fn.click.col < 62
    blocked = np.zeros((100, 100), bool)
    blocked[70:90, 70:90] = True  # e.g. a withdrawn proposal there
    assert [c.source for c in proposal_candidates(maps, [(30.0, 30.0)], 20, blocked, 0.3)] == ["fp", "fn"]
    # regions below min_fraction of the mask are not candidates
    assert [c.source for c in proposal_candidates(maps, [(30.0, 30.0)], 20, None, 0.3, min_fraction=0.15)] == ["island", "fn"]


def test_a_second_view_adds_a_view_candidate_and_its_mean_over_each_region():
    from pseudoclick_gui.engine.pseudo import (
        PROPOSAL_FEATURES,
        ProposalScorer,
        candidate_features,
        proposal_candidates,
    )

    maps = _scene()
    view = maps[..., 0].copy()
    view[20:50, 50:66] = 0.95  # the mirrored view carries the clicked part 16 px further right
    view[70:90, 70:90] = 0.2  # and does not see the island
    cands = proposal_candidates(maps, [(30.0, 30.0)], 20, None, 0.3, view=view)
    assert [c.source for c in cands] == ["island", "fp", "fn", "view"]
    v = cands[-1]
    assert v.click.positive and 20 <= v.click.row < 50 and 50 <= v.click.col < 66 and v.region.sum() == 30 * 16
    f = candidate_features(cands[0], maps, maps, np.zeros((100, 100, 3), np.uint8), [(30.0, 30.0)], [(30.0, 30.0)],
                           view=view)
    assert f["pview"] == pytest.approx(0.2) and f["pseg"] == pytest.approx(0.9)
    no_view = candidate_features(cands[0], maps, maps, np.zeros((100, 100, 3), np.uint8), [(30.0, 30.0)], [(30.0, 30.0)])
    assert no_view["pview"] == no_view["pseg"]  # without a second view: the mask's own
    k = len(PROPOSAL_FEATURES)
    flat = {"mean": [0.0] * k, "std": [1.0] * k, "weights": [0.0] * k, "bias": 0.0}
    assert not ProposalScorer({"island": flat}).uses_view  # the mirrored pass is not run for such a scorer
    assert ProposalScorer({"view": flat}).uses_view
    weights = [0.0] * k
    weights[PROPOSAL_FEATURES.index("pview")] = 1.0
    weighted = dict(flat, weights=weights)
    assert ProposalScorer({"island": weighted}).uses_view


def test_candidate_features_describe_the_region_and_what_accepting_it_changed():
    from pseudoclick_gui.engine.pseudo import PROPOSAL_FEATURES, candidate_features, proposal_candidates

    maps = _scene()
    image = np.zeros((100, 100, 3), np.uint8)
    island = proposal_candidates(maps, [(30.0, 30.0)], 20)[0]
    after = maps.copy()
    after[70:90, 70:90, 0] = 0.1  # accepting the negative click removed the island
    after[20:30, 20:30, 0] = 0.1  # ... and, wrongly, a corner of the clicked part
    f = candidate_features(island, maps, after, image, [(30.0, 30.0)], [(30.0, 30.0)])
    assert set(f) == set(PROPOSAL_FEATURES)
    mask_area = 900 + 400
    assert f["area_frac"] == pytest.approx(400 / mask_area)
    assert f["changed"] == pytest.approx(500 / mask_area) and f["changed_out"] == pytest.approx(100 / mask_area)
    assert f["d_area"] == pytest.approx(-500 / mask_area)
    assert f["n_parts"] == 2 and f["nh"] == 1 and f["pseg"] == pytest.approx(0.9)
    assert f["p_after"] == pytest.approx(0.1)
    assert f["dclick"] == pytest.approx(np.hypot(island.click.row - 30, island.click.col - 30) / np.sqrt(mask_area))
    # the gap to the clicked part (corner to corner: 21 px each way); image context defaults to the grid
    assert f["gap"] == pytest.approx(np.hypot(21, 21) / np.sqrt(mask_area), rel=0.05)
    assert f["img_frac"] == pytest.approx(mask_area / 10000) and f["roi_frac"] == 1.0
    g = candidate_features(island, maps, after, image, [(30.0, 30.0)], [(30.0, 30.0)], image_px=40000, roi_frac=0.25)
    assert g["img_frac"] == pytest.approx(mask_area / 40000) and g["roi_frac"] == 0.25
    fp = proposal_candidates(maps, [(30.0, 30.0)], 20)[1]
    assert candidate_features(fp, maps, after, image, [(30.0, 30.0)], [(30.0, 30.0)])["gap"] == 0  # inside it


def test_proposal_scorer_is_a_logistic_model_per_source_and_rejects_malformed_descriptions():
    from pseudoclick_gui.engine.pseudo import PROPOSAL_FEATURES, ProposalScorer, feature_vector

    k = len(PROPOSAL_FEATURES)
    weights = [0.0] * k
    weights[PROPOSAL_FEATURES.index("p_after")] = 2.0
    m = {"mean": [0.0] * k, "std": [1.0] * k, "weights": weights, "bias": -1.0}
    scorer = ProposalScorer.from_dict({"models": {"fn": m}, "threshold": 0.7})
    feats = dict.fromkeys(PROPOSAL_FEATURES, 0.5)
    assert scorer.probability("fn", feats) == pytest.approx(0.5)  # 2 * 0.5 - 1 = 0
    feats["p_after"] = 1.0
    assert scorer.probability("fn", feats) == pytest.approx(1 / (1 + np.exp(-1.0)))
    assert scorer.probability("island", feats) is None  # no model: never proposed
    assert ProposalScorer.from_dict(scorer.to_dict()) == ProposalScorer({"fn": m}, 0.7)
    v = feature_vector(dict.fromkeys(PROPOSAL_FEATURES, 0.0))
    assert v[PROPOSAL_FEATURES.index("area_frac")] == pytest.approx(np.log(1e-4))  # logs are floored
    for bad in ({"models": {"fn": {**m, "weights": [1.0]}}}, {"models": {"elsewhere": m}}, {"thresholds": 1},
                {"models": {"fn": {**m, "std": [0.0] * k}}}, {"models": {"fn": m}, "features": ["colour"]},
                {"models": {"fn": {**m, "bias": float("nan")}}}, {"models": {"fn": m}, "threshold": 7}):
        with pytest.raises(ValueError):
            ProposalScorer.from_dict(bad)


def test_view_region_click_goes_where_the_second_view_confidently_disagrees_with_the_mask():
    seg = np.zeros((80, 80), np.float32)
    seg[20:60, 20:50] = 0.9  # the mask
    view = seg.copy()
    view[20:60, 50:70] = 0.85  # the second view also takes a 40 x 20 strip to the right: a missing part?
    view[30:40, 25:35] = 0.1  # and drops a 10 x 10 patch inside the mask
    c, region = view_region_click(seg, view, threshold=0.3, signs="positive")
    assert c is not None and c.positive
    assert 20 <= c.row < 60 and 50 <= c.col < 70 and seg[c.row, c.col] < 0.5
    assert c.area == 40 * 20 == region.sum() and abs(c.confidence - 0.85) < 1e-5  # its mean agreement
    c, _ = view_region_click(seg, view, threshold=0.3, signs="negative")
    assert not c.positive and 30 <= c.row < 40 and 25 <= c.col < 35 and abs(c.confidence - 0.9) < 1e-5
    c, _ = view_region_click(seg, view, threshold=0.3, signs="both")
    assert c.positive  # the deeper region wins
    # the view must be confident: 0.85 is not >= 1 - 0.1
    assert view_region_click(seg, view, threshold=0.1, signs="positive") is None
    # too thin to be worth a click: a 3 px strip is 2 px deep at most
    thin = seg.copy()
    thin[20:60, 50:53] = 0.9
    assert view_region_click(seg, thin, 0.3, "positive", min_depth=2.5) is None
    assert view_region_click(seg, thin, 0.3, "positive", min_depth=1.5) is not None
    # blocked pixels are never candidates; agreement gives nothing
    assert view_region_click(seg, view, 0.3, "positive", blocked=np.ones_like(seg, bool)) is None
    assert view_region_click(seg, seg, 0.3, "both") is None
    with pytest.raises(ValueError):
        view_region_click(seg, view, signs="sideways")
