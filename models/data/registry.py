"""Open any supported data source by format name, or detect the format from the path."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from models.data.base import ImageDataset, Split

DataFormat = Literal["nih", "medmnist", "dicom_folder", "image_folder"]
FORMATS: tuple[str, ...] = ("nih", "medmnist", "dicom_folder", "image_folder")


def detect_format(path: str | Path) -> DataFormat:
    """Guess the layout: .npz -> medmnist; Data_Entry_2017.csv -> nih; labels.csv -> dicom_folder."""
    path = Path(path)
    if path.suffix == ".npz":
        return "medmnist"
    if (path / "Data_Entry_2017.csv").exists():
        return "nih"
    if (path / "labels.csv").exists():
        return "dicom_folder"
    if path.is_dir():
        return "image_folder"
    raise FileNotFoundError(f"{path} is not a known data layout (NIH folder, .npz, DICOM folder, image folder)")


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


def label_vocabulary(path: str | Path, fmt: DataFormat | None = None) -> list[str]:
    """The finding names of a data source, read from its labels only (no image is decoded)."""
    import csv

    import numpy as np

    path = Path(path)
    fmt = fmt or detect_format(path)
    if fmt == "nih":
        from models.findings import NIH_LABELS

        return list(NIH_LABELS)
    if fmt == "medmnist":
        from models.data.medmnist import class_count, medmnist_label_names

        with np.load(path) as npz:
            return list(medmnist_label_names(path, class_count(npz["train_labels"])))
    if fmt == "dicom_folder":
        from models.data.folders import csv_label_names

        with (path / "labels.csv").open(newline="") as fh:
            return csv_label_names(list(csv.DictReader(fh)))
    if fmt == "image_folder":
        from models.data.folders import finding_folders

        return finding_folders(path)
    raise ValueError(f"unknown data format {fmt!r}; valid formats: {', '.join(FORMATS)}")
