"""Errors whose message is meant for the user. Catch ``PseudoClickError`` at a boundary (CLI, GUI)
and show ``str(exc)``: never a traceback."""

from __future__ import annotations

import re


class PseudoClickError(Exception):
    """Base of every user-facing error."""


class ImageLoadError(PseudoClickError):
    """An image file could not be read (missing, corrupt, truncated, unsupported, too large)."""


class VolumeLoadError(PseudoClickError):
    """A volume (DICOM series, NIfTI, TIFF stack) could not be read."""


class CheckpointError(PseudoClickError):
    """A checkpoint is missing, corrupt, or does not fit the network."""


class ProjectError(PseudoClickError):
    """A project file or an import/export step failed."""


class ProjectLockedError(ProjectError):
    """Another live process has the project open for writing. ``pid``, ``host`` and ``since`` (a Unix time)
    name the holder when it could be read (else None); open the project with ``read_only=True`` to view it."""

    def __init__(self, message: str, *, pid: int | None = None, host: str | None = None, since: float | None = None):
        super().__init__(message)
        self.pid, self.host, self.since = pid, host, since


class ProjectReadOnlyError(ProjectError):
    """A write was attempted on a project opened read-only (or whose file cannot be written)."""


class DiskFullError(ProjectError):
    """A write failed because the disk (or the database's size limit) is full. Nothing of the failed call
    was saved and the store stays usable: keep the edit in memory and call again once there is space."""


_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def clean_message(text: str) -> str:
    """``text`` safe to print on a terminal: escape sequences shown as ``\\x1b[...``, other control
    characters as ``\\xNN`` (so a file name cannot recolour or rewrite the user's terminal)."""
    text = _ANSI.sub(lambda m: m.group(0).encode("unicode_escape").decode("ascii"), str(text))
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group(0)):02x}", text)
