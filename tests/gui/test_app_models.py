import torch

from pseudoclick_gui.engine.checkpoint import save_checkpoint
from pseudoclick_gui.engine.network import PseudoClickNet


def test_the_app_warns_when_the_grey_network_is_unreadable(monkeypatch, tmp_path):
    import pseudoclick_gui.engine.session as session_mod
    import pseudoclick_gui.paths as paths
    from pseudoclick_gui.gui.app import session_factory

    torch.manual_seed(0)
    save_checkpoint(PseudoClickNet(), tmp_path / session_mod.DEFAULT_CHECKPOINT)
    save_checkpoint(PseudoClickNet(), tmp_path / session_mod.GREY_CHECKPOINT)
    monkeypatch.setattr(paths, "models_dirs", lambda: [tmp_path])
    session, warning = session_factory()()
    assert warning == "" and session.grey_model is not None
    (tmp_path / session_mod.GREY_CHECKPOINT).write_bytes(b"\x00" * 10)
    session, warning = session_factory()()
    assert "grey images could not be read" in warning and session.grey_model is None


def test_the_grey_network_switch_reaches_every_session_and_persists(make_window, tmp_path, qtbot):
    import numpy as np
    from conftest import click_pixel, wait_idle
    from PIL import Image

    from pseudoclick_gui.engine.session import Session
    from pseudoclick_gui.gui.settings import AppSettings

    def factory():
        torch.manual_seed(0)
        colour = PseudoClickNet()
        torch.manual_seed(1)
        return Session(colour, "cpu", grey_model=PseudoClickNet()), ""

    rng = np.random.default_rng(0)
    grey = tmp_path / "grey.png"
    Image.fromarray(rng.integers(0, 255, (90, 120), dtype=np.uint8)).save(grey)
    w = make_window(tmp_path / "p.pcproj", [grey], factory=factory)
    click_pixel(qtbot, w, 60, 45)
    wait_idle(qtbot, w, 60000)
    st = w.ann.client._worker.state
    assert w.grey_action.isChecked() and st.session.model_kind == "grey"
    with_grey = w.ann.prediction.probability.copy()
    assert "grey-image network" in w.st_ms.text()  # the status bar says which network answered
    w.grey_action.setChecked(False)  # Edit > Own network for grey images
    wait_idle(qtbot, w, 60000)
    assert st.session.model_kind == "colour" and st.template.model_kind == "colour"
    assert not np.allclose(w.ann.prediction.probability, with_grey, atol=1e-4)  # predicted again, other network
    assert [c.click.positive for c in w.ann.clicks] == [True]  # same clicks
    assert "ms" in w.st_ms.text() and "grey-image" not in w.st_ms.text()
    assert w.settings.grey_network is False
    w.settings.save()
    assert AppSettings.load().grey_network is False
    w2 = make_window(tmp_path / "p.pcproj", [], factory=factory)  # a new window starts from the setting
    wait_idle(qtbot, w2, 60000)
    assert not w2.grey_action.isChecked() and w2.ann.client._worker.state.template.grey_network_on is False
