"""The engine: network, interactive session, pseudo clicks, checkpoints. Never imports Qt.

``Session`` is imported lazily so that ``from pseudoclick_gui.engine.types import Click`` does not pull torch.
"""

from .types import Click, Prediction

__all__ = ["Session", "Click", "Prediction", "PseudoClickNet", "find_default_checkpoint"]


def __getattr__(name):
    if name in ("Session", "find_default_checkpoint"):
        from . import session

        return getattr(session, name)
    if name == "PseudoClickNet":
        from .network import PseudoClickNet

        return PseudoClickNet
    raise AttributeError(name)
