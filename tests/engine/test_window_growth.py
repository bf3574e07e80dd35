"""The zoom-in window never clips a mask: when the mask runs into a side of the window that lies inside the image,
the window grows and the step runs again."""

import numpy as np

from pseudoclick_gui.engine import Click, Session
from pseudoclick_gui.engine.zoom import CropTransform, grow_roi


def _disk(h, w, cx, cy, r):
    yy, xx = np.mgrid[:h, :w]
    return (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r


def test_a_mask_larger_than_the_window_around_the_clicks_is_not_cut_off(monkeypatch):
    h = w = 400
    obj = _disk(h, w, 200, 200, 150)  # a large object
    s = Session.from_random(device="cpu")
    s.set_image(np.zeros((h, w, 3), np.uint8))

    def network(t, prev, human=None, pseudo=None, mirror=False, inputs=None):
        """A stand-in that sees the object only near the first click on the whole image (a part of it, as a
        network often answers a first click), and all of it that its zoom-in crop shows."""
        seen = obj & _disk(h, w, 200, 200, 40) if t.roi == (0, 0, w, h) and len(s.human_clicks) == 1 else obj
        out = np.zeros((t.out_h, t.out_w, 3), np.float32)
        out[..., 0] = t.forward_image(seen.astype(np.float32))
        return out

    monkeypatch.setattr(s, "_run", network)
    s.add_click(200, 200, True)
    assert s.predict().mask.sum() < obj.sum() / 10
    s.add_click(230, 200, True)  # RITM's window around that part and the clicks: 200 x 200, inside the object
    r = s.predict()
    x0, y0, x1, y1 = r.roi
    assert x0 <= 50 and y0 <= 50 and x1 >= 350 and y1 >= 350  # the window grew to hold the object
    assert np.count_nonzero(r.mask != obj) < 0.01 * obj.sum()  # no straight cut through it
    s.accept_pseudo_click(Click(100.0, 200.0, True, "pseudo", 0.5))
    assert s.predict().roi == r.roi  # the pseudo-click pass of that step keeps its grown window


def test_grow_roi_moves_only_the_inner_sides_the_mask_touches():
    m = np.zeros((50, 50), bool)
    m[10:40, 30:] = True  # touches the right side only
    assert grow_roi((100, 100, 200, 200), m, 400, 400) == (100, 100, 250, 200)
    assert grow_roi((100, 100, 400, 200), m, 400, 400) is None  # that side is the image border: nothing cut
    assert grow_roi((100, 100, 200, 200), np.zeros((50, 50), bool), 400, 400) is None
    t = CropTransform.fit((0, 0, 100, 100), 50)
    assert t.disks([]) is None and t.disks([(50, 50, 10)]).sum() > 0
