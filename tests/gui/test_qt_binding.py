"""The Qt binding must not lose references to True or False: on Python 3.11 they are ordinary objects, and a
binding that drops one per signal emit (PySide6 6.12.0 does) aborts the app after a few thousand emits, at the
latest when it exits ("bool_dealloc")."""

import gc
import sys

from PySide6.QtCore import QObject, Signal


class _Emitter(QObject):
    plain = Signal()
    flag = Signal(bool)


def test_signal_emits_keep_the_reference_counts_of_true_and_false(qapp):
    e = _Emitter()
    e.plain.connect(lambda: None)
    e.flag.connect(lambda b: None)
    gc.collect()
    before = sys.getrefcount(True), sys.getrefcount(False)
    for _ in range(200):
        e.plain.emit()
        e.flag.emit(True)
        e.flag.emit(False)
    gc.collect()
    after = sys.getrefcount(True), sys.getrefcount(False)
    assert after[0] - before[0] > -20 and after[1] - before[1] > -20, (before, after)
