"""Open any supported data source by format name, or detect the format from the path."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from models.data.formats import FORMATS, DataFormat, detect_format, label_vocabulary

if TYPE_CHECKING:
    from models.data.base import ImageDataset, Split

__all__ = ["FORMATS", "DataFormat", "detect_format", "label_vocabulary", "open_splits", "open_dataset"]


def open_dataset(path: str | Path, split: Split = "train", resolution: int = 64, *,
                 fmt: DataFormat | None = None, fractions: Sequence[float] | None = None) -> ImageDataset:
    """Open `path` as a dataset of the given (or detected) format. `fractions` (train, val, test shares of the
    patients) replaces the default 80/10/10 split; MedMNIST keeps its official splits."""
    fmt = fmt or detect_format(path)
    split_args = {} if fractions is None else {"fractions": tuple(fractions)}
    if fmt == "nih":
        from models.data.nih import NIHChestXray

        return NIHChestXray(path, split, resolution, **split_args)
    if fmt == "medmnist":
        from models.data.medmnist import MedMNIST

        if fractions is not None:
            raise ValueError("a MedMNIST data set keeps its official train/val/test split; leave test_share out")
        return MedMNIST(path, split, resolution)
    if fmt == "dicom_folder":
        from models.data.folders import DicomFolder

        return DicomFolder(path, split, resolution, **split_args)
    if fmt == "image_folder":
        from models.data.folders import ImageFolder

        return ImageFolder(path, split, resolution, **split_args)
    raise ValueError(f"unknown data format {fmt!r}; valid formats: {', '.join(FORMATS)}")


def open_splits(path: str | Path, resolution: int = 64, *, fmt: DataFormat | None = None,
                test_share: float | None = None) -> dict[str, ImageDataset]:
    """The train, val and test splits of `path`; `test_share` holds out that share of the patients for testing
    (val keeps 10%, train the rest) instead of the default split."""
    fractions = None if test_share is None else (0.9 - test_share, 0.1, test_share)
    return {s: open_dataset(path, s, resolution, fmt=fmt, fractions=fractions) for s in ("train", "val", "test")}
