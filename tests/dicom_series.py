"""A synthetic DICOM series writer shared by the tests (tests/conftest.py's ``write_dicom_series`` fixture,
the GUI volume tests) and by tests/bad_input_corpus.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def write_dicom_series(
    folder: Path,
    slices: list[np.ndarray],
    positions: list[tuple[float, float, float]],
    *,
    orientation=(1.0, 0.0, 0.0, 0.0, 1.0, 0.0),
    pixel_spacing=(0.5, 0.8),
    slope=1.0,
    intercept=0.0,
    series_uid=None,
    study_uid=None,
    modality="CT",
    description="synthetic",
    names=None,
    instance_numbers=None,
    gantry_tilt=None,
) -> list[Path]:
    """Write one file per slice; returns the paths. Pixel arrays are stored values (before rescale)."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

    folder.mkdir(parents=True, exist_ok=True)
    series_uid = series_uid or generate_uid()
    study_uid = study_uid or generate_uid()
    paths = []
    for k, (arr, pos) in enumerate(zip(slices, positions)):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID = CTImageStorage
        ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
        ds.StudyInstanceUID = study_uid
        ds.SeriesInstanceUID = series_uid
        ds.Modality = modality
        ds.SeriesDescription = description
        ds.InstanceNumber = instance_numbers[k] if instance_numbers is not None else k + 1
        ds.ImagePositionPatient = [float(v) for v in pos]
        ds.ImageOrientationPatient = [float(v) for v in orientation]
        ds.PixelSpacing = [float(v) for v in pixel_spacing]
        ds.SliceThickness = 1.0
        ds.RescaleSlope = slope
        ds.RescaleIntercept = intercept
        if gantry_tilt is not None:
            ds.GantryDetectorTilt = gantry_tilt
        ds.Rows, ds.Columns = arr.shape
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated = 16
        ds.BitsStored = 16
        ds.HighBit = 15
        ds.PixelRepresentation = 1 if arr.dtype == np.int16 else 0
        ds.PixelData = np.ascontiguousarray(arr).tobytes()
        name = names[k] if names is not None else f"slice{k:03d}.dcm"
        path = folder / name
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths
