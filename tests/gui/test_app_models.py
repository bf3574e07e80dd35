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
