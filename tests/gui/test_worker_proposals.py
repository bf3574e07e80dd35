"""A suggestion dropped because the user acted during its search is made by the next batch, even when that
batch's operations would not predict again."""

import numpy as np
from fakes import FakeSession

from pseudoclick_gui.gui.worker import _Worker


def test_a_dropped_proposal_is_made_by_the_next_batch(qapp):
    w = _Worker()
    s = FakeSession()
    s.set_image(np.zeros((120, 160, 3), np.uint8))
    w.state.sessions, w.state.token = {1: s}, 1
    results = []
    w.result.connect(results.append)
    real = s.propose_pseudo_click

    def user_acts_meanwhile(cancelled=None):
        w.enqueue(2, lambda st: False, False)  # e.g. a settings change: no new prediction of its own
        return real(cancelled)

    s.propose_pseudo_click = user_acts_meanwhile
    w.enqueue(1, lambda st: st.session.add_click(40, 40, True) or True, True)
    w._process()
    assert [r.proposal_only for r in results] == [False]  # the mask only: the proposal went stale
    s.propose_pseudo_click = real
    w._process()
    assert results[-1].proposal_only and results[-1].proposal is not None
