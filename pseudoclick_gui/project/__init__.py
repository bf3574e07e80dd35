"""The SQLite project store and import/export (numpy, sqlite3, Pillow/OpenCV, nibabel; never torch or Qt).

``ProjectStore.open(path)`` is the entry point; see :mod:`.store` for the schema and guarantees, and
:mod:`.import_masks`, :mod:`.export_coco`, :mod:`.export_png`, :mod:`.export_nifti` for the headless
import/export functions the GUI and the ``pseudoclick import|export`` commands share.
"""

from .store import (
    Category,
    ClickRecord,
    Draft,
    ImageRecord,
    InstanceRecord,
    ProjectStore,
    VolumeRecord,
)

__all__ = ["ProjectStore", "ImageRecord", "VolumeRecord", "Category", "InstanceRecord", "ClickRecord", "Draft"]
