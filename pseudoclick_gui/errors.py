"""Errors whose message is meant for the user. Catch ``PseudoClickError`` at a boundary (CLI, GUI)
and show ``str(exc)``: never a traceback."""

from __future__ import annotations


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
