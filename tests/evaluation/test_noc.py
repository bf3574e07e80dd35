import numpy as np
import pytest

from pseudoclick_gui.engine.types import Click, Prediction
from pseudoclick_gui.evaluation.clicker import RobotClicker, iou
from pseudoclick_gui.evaluation.noc import evaluate_sample, summarize


def _disk(h, w, r, c, rad):
    yy, xx = np.ogrid[:h, :w]
    return (yy - r) ** 2 + (xx - c) ** 2 <= rad * rad


class FakeSession:
    """Known behaviour: the mask is the ground truth once ``perfect_at`` human clicks are made, before that
    an empty mask. Its proposal is a fixed click; accepting it makes the mask perfect one click earlier."""

    def __init__(self, gt, perfect_at, proposal=None):
        self.gt, self.perfect_at, self.proposal = gt, perfect_at, proposal

    def set_image(self, image):
        self.n, self.accepted = 0, 0

    def add_click(self, x, y, positive=True):
        self.n += 1

    def _pred(self):
        ok = self.n + self.accepted >= self.perfect_at
        p = self.gt.astype(np.float32) if ok else np.zeros(self.gt.shape, np.float32)
        z = np.zeros_like(p)
        return Prediction(p, z, z)

    def predict(self):
        return self._pred()

    def propose_pseudo_click(self):
        return self.proposal

    def accept_pseudo_click(self, c):
        self.accepted += 1

    def refine_with_error_maps(self):
        return self._pred()


GT = _disk(60, 80, 30, 40, 15)


@pytest.mark.parametrize("k", [1, 3, 7])
def test_noc_equals_the_click_where_the_fake_becomes_perfect(k):
    r = evaluate_sample(FakeSession(GT, k), np.zeros((60, 80, 3), np.uint8), GT, None, "human")
    assert r.noc(0.85, 20) == k and r.noc(0.90, 20) == k
    assert len(r.ious) == 20 and r.ious[k - 1] == 1.0 and r.ious[k - 2 if k > 1 else 0] in (0.0, 1.0)


def test_never_reaching_the_target_counts_max_clicks():
    res = [evaluate_sample(FakeSession(GT, 99), np.zeros((60, 80, 3), np.uint8), GT, None, "human")]
    s = summarize(res)
    assert s["NoC@90"] == 20 and s[">=20@90"] == 1 and s["mIoU@5"] == 0.0


def test_accepted_pseudo_clicks_are_free_and_precision_is_measured():
    good = Click(40.0, 30.0, True, "pseudo", 0.9)  # inside the object, which is missed -> a true FN
    r = evaluate_sample(FakeSession(GT, 4, good), np.zeros((60, 80, 3), np.uint8), GT, None, "pseudo")
    assert r.noc(0.9, 20) == 2  # 2 human clicks + 2 accepted pseudo clicks reach 4
    s = summarize([r])
    assert s["pseudo_proposals"] == 2 and s["pseudo_precision"] == 1.0  # the mask was empty at both proposals
    assert s["pseudo_mean_iou_gain"] == pytest.approx(0.5)  # 0 after the first, 0 -> 1 after the second
    assert s["pseudo_accepted_right"] == 2 and s["pseudo_accepted_wrong"] == 0 and "pseudo_gain_wrong" not in s
    bad = Click(0.0, 0.0, True, "pseudo", 0.9)  # background: not a FN
    s2 = summarize([evaluate_sample(FakeSession(GT, 4, bad), np.zeros((60, 80, 3), np.uint8), GT, None, "pseudo")])
    assert s2["pseudo_precision"] == 0.0
    # the fake's masks do not care where the click lands: the wrong ones bring the same gain as right ones would
    assert s2["pseudo_accepted_wrong"] == 2 and s2["pseudo_gain_wrong"] == pytest.approx(0.5)


def test_a_pseudo_chain_accepts_several_proposals_per_human_click_while_they_are_confident():
    good = Click(40.0, 30.0, True, "pseudo", 0.9)
    img = np.zeros((60, 80, 3), np.uint8)
    # up to 3 proposals after each human click: the first human click plus 3 accepted ones reach 4
    r = evaluate_sample(FakeSession(GT, 4, good), img, GT, None, "pseudo", chain=3)
    assert r.noc(0.9, 20) == 1 and r.proposals == 3
    # later links need the chain confidence; the first proposal never does
    r = evaluate_sample(FakeSession(GT, 4, good), img, GT, None, "pseudo", chain=3, chain_confidence=0.95)
    assert r.noc(0.9, 20) == 2 and r.proposals == 2
    # the human mode never asks for proposals, whatever the chain
    r = evaluate_sample(FakeSession(GT, 4, good), img, GT, None, "human", chain=3)
    assert r.noc(0.9, 20) == 4 and r.proposals == 0


class RecordingSession(FakeSession):
    """Records the pseudo clicks it is given; its own proposal is always a wrong one (background)."""

    def __init__(self, gt, perfect_at):
        super().__init__(gt, perfect_at, Click(0.0, 0.0, True, "pseudo", 0.9))
        self.given = []

    def accept_pseudo_click(self, c):
        self.given.append(c)
        super().accept_pseudo_click(c)


def test_oracle_mode_takes_pseudo_clicks_from_the_true_error_maps():
    s = RecordingSession(GT, 4)
    r = evaluate_sample(s, np.zeros((60, 80, 3), np.uint8), GT, None, "oracle")
    assert r.noc(0.9, 20) == 2 and r.proposals == r.proposals_correct == 2
    # the mask was empty: the only error is the whole object (a FN), clicked at its most interior point
    assert all(c.positive and c.rc == (30, 40) for c in s.given)
    assert summarize([r])["pseudo_precision"] == 1.0
    # a perfect mask has no error region: nothing is proposed
    s = RecordingSession(GT, 1)
    r = evaluate_sample(s, np.zeros((60, 80, 3), np.uint8), GT, None, "oracle")
    assert r.proposals == 0 and not s.given


def test_robot_first_click_is_the_most_interior_point_and_ties_go_negative():
    robot = RobotClicker(GT)
    c = robot.next_click(np.zeros_like(GT))
    assert c.positive and (c.y, c.x) == (30, 40)
    gt = np.zeros((20, 20), bool)
    gt[2:8, 2:8] = True
    pred = np.zeros_like(gt)
    pred[12:18, 12:18] = True  # FP of the same size as the FN
    c = RobotClicker(gt).next_click(pred)
    assert not c.positive


def test_ignore_pixels_do_not_count():
    gt = np.zeros((10, 10), bool)
    gt[2:5, 2:5] = True
    ignore = np.zeros_like(gt)
    ignore[6:, 6:] = True
    pred = gt.copy()
    pred[6:, 6:] = True
    assert iou(pred, gt, ignore) == 1.0 and iou(pred, gt) < 1.0


def test_the_robots_first_click_is_the_first_deepest_pixel_by_exact_integer_distances():
    # a tilted ellipse has many pixels equally deep in exact arithmetic; OpenCV's float distances differ in the
    # last bits between calls, which once moved the first click from run to run
    import cv2

    gt = np.zeros((96, 128), np.uint8)
    cv2.ellipse(gt, (40, 48), (20, 26), 45, 0, 360, 255, -1)
    gt = gt > 0
    bg = np.argwhere(np.pad(~gt, 1))  # the border counts as background
    inside = np.argwhere(gt)
    d2 = (((inside[:, None, :] + 1 - bg[None, :, :]) ** 2).sum(-1)).min(1)  # brute-force squared distances
    best = inside[d2 == d2.max()]
    r, c = min(map(tuple, best))  # first in row-major order
    assert len(best) > 1  # the case in question: a tie
    click = RobotClicker(gt).next_click(np.zeros_like(gt))
    assert (click.y, click.x) == (r, c) and click.positive
