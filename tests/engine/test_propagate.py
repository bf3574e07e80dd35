"""Which clicks seed the neighbouring slice, and when propagation stops."""

from __future__ import annotations

import numpy as np
import pytest

from pseudoclick_gui.engine.propagate import derive_clicks, mask_vanished


def _disk(h, w, cy, cx, r):
    yy, xx = np.mgrid[:h, :w]
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r


def test_one_positive_click_at_the_centre_of_a_disk_and_a_negative_one_outside():
    m = _disk(64, 80, 30, 40, 10)
    pos, neg = derive_clicks(m)
    assert pos.positive and pos.kind == "human"
    assert (pos.x, pos.y) == (40, 30)  # x is the column, y the row
    assert not neg.positive
    r, c = int(neg.y), int(neg.x)
    assert not m[r, c]
    d = np.hypot(r - 30, c - 40) - 10
    assert 2 < d <= 2 + 5 + 1  # in the band: gap = band = radius / 2 = 5


def test_concave_mask_click_lies_inside_and_parts_get_one_click_each():
    m = np.zeros((60, 90), bool)
    m[10:50, 10:20] = True  # an L shape: its centroid would be outside
    m[40:50, 10:45] = True
    m |= _disk(60, 90, 25, 70, 9)  # a second, smaller part
    m[2:4, 85:87] = True  # a speck: ignored (below a quarter of the largest part)
    clicks = derive_clicks(m, negative=False)
    assert [c.positive for c in clicks] == [True, True]
    for c in clicks:
        assert m[int(c.y), int(c.x)]
    assert clicks[0].x < 45 and clicks[1].x > 60  # largest part (the L, 750 px) first
    assert len(derive_clicks(m, negative=False, max_positive=1)) == 1


def test_empty_mask_gives_no_clicks_and_full_mask_no_negative():
    assert derive_clicks(np.zeros((20, 30), bool)) == []
    full = derive_clicks(np.ones((20, 30), bool))
    assert [c.positive for c in full] == [True]
    with pytest.raises(ValueError):
        derive_clicks(np.zeros((2, 3, 4), bool))


def test_mask_vanished():
    seed = _disk(64, 64, 32, 32, 12)
    area = int(seed.sum())
    assert mask_vanished(None, area)
    assert mask_vanished(np.zeros_like(seed), area)
    tiny = np.zeros_like(seed)
    tiny[5, 5:7] = True
    assert mask_vanished(tiny, area)
    assert not mask_vanished(_disk(64, 64, 32, 32, 4), area)
    assert not mask_vanished(seed, area)
