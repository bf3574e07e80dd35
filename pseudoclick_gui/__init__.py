"""PseudoClick GUI: interactive segmentation that proposes its own next click.

Layers (one direction of imports):

* ``pseudoclick_gui.engine``      network, interactive Session, pseudo clicks (torch, never Qt)
* ``pseudoclick_gui.evaluation``  robot user and NoC / mIoU metrics (torch through the engine only)
* ``pseudoclick_gui.training``    ``pseudoclick train``
* ``pseudoclick_gui.io``          images and volumes -> numpy (never torch, never Qt)
* ``pseudoclick_gui.project``     SQLite project store, import/export (never torch, never Qt)
* ``pseudoclick_gui.gui``         the PySide6 app; talks to the others through their small APIs

Coordinates: every public API takes pixel coordinates as ``x`` (column) and ``y`` (row);
arrays are indexed ``[row, col]`` i.e. ``[y, x]``.
"""

__version__ = "0.1.0"
