"""Qt slot helpers."""

from __future__ import annotations


def no_return(f, *args) -> None:
    """Call ``f(*args)`` from a signal and give Qt nothing back. A slot that returns a Python bool to Qt makes
    PySide6 drop one reference to ``True`` or ``False`` too many on every call; on Python 3.11, where those
    objects are not immortal, the process then aborts at exit ("bool_dealloc")."""
    f(*args)
