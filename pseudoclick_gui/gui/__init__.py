"""The PySide6 desktop app. It paints and routes user intent; masks come from ``engine.Session`` (run in
:mod:`.worker`'s thread) and every file write goes through ``project.ProjectStore``.

Modules: :mod:`.app` (entry point), :mod:`.main_window` (menus, docks, wiring), :mod:`.annotator` (the
annotation state machine and its undo stack), :mod:`.commands` (undoable steps), :mod:`.worker` (inference
thread), :mod:`.canvas` (zoom/pan view), :mod:`.overlay` (numpy -> QImage), :mod:`.panels` (docks),
:mod:`.shortcuts` (the one shortcut table), :mod:`.settings` (JSON settings).
"""
