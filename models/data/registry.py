"""Open any supported data source by format name, or detect the format from the path."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from models.data.formats import FORMATS, DataFormat, detect_format, label_vocabulary

if TYPE_CHECKING:
    from models.data.base import ImageDataset, Split

__all__ = ["FORMATS", "DataFormat", "detect_format", "label_vocabulary", "open_dataset"]


def open_dataset(path: str | Path, split: Split = "train", resolution: int = 64, *,
                 fmt: DataFormat | None = None) -> ImageDataset:
    """Open `path` as a dataset of the given (or detected) format."""
    fmt = fmt or detect_format(path)
    if fmt == "nih":
        from models.data.nih import NIHChestXray

        return NIHChestXray(path, split, resolution)
    if fmt == "medmnist":
        from models.data.medmnist import MedMNIST

        return MedMNIST(path, split, resolution)
    if fmt == "dicom_folder":
        from models.data.folders import DicomFolder

        return DicomFolder(path, split, resolution)
    if fmt == "image_folder":
        from models.data.folders import ImageFolder

        return ImageFolder(path, split, resolution)
    raise ValueError(f"unknown data format {fmt!r}; valid formats: {', '.join(FORMATS)}")
