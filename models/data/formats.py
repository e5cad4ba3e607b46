"""Data layouts and their label vocabularies, read from labels alone. Torch-free: the API checks training
requests with it without importing torch."""

from __future__ import annotations

import csv
import os
from collections import Counter
from pathlib import Path

import numpy as np

from models.vocabulary.data_formats import FORMATS, KNOWN_LABELS, DataFormat

__all__ = ["FORMATS", "DataFormat", "detect_format", "finding_counts", "index_images", "label_vocabulary"]


def class_count(raw: np.ndarray) -> int:
    """Classes in a MedMNIST label array: its columns when multi-label, else the largest label + 1."""
    return raw.shape[1] if raw.ndim == 2 and raw.shape[1] > 1 else int(raw.max()) + 1


def medmnist_label_names(path: Path, n_classes: int) -> tuple[str, ...]:
    stem = path.stem.split("_")[0].lower()
    return KNOWN_LABELS.get(stem, tuple(f"class_{i}" for i in range(n_classes)))


def finding_folders(root: Path) -> list[str]:
    """The finding names of an image folder: its subfolders, sorted (hidden ones skipped)."""
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def csv_label_names(rows: list[dict]) -> list[str]:
    """The finding names used in a labels CSV (`labels` joined by '|'), sorted."""
    return sorted({lab for row in rows for lab in row["labels"].split("|") if lab})


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


def label_vocabulary(path: str | Path, fmt: DataFormat | None = None) -> list[str]:
    """The finding names of a data source, read from its labels only (no image is decoded)."""
    path = Path(path)
    fmt = fmt or detect_format(path)
    if fmt == "nih":
        from models.vocabulary.findings import NIH_LABELS

        return list(NIH_LABELS)
    if fmt == "medmnist":
        with np.load(path) as npz:
            return list(medmnist_label_names(path, class_count(npz["train_labels"])))
    if fmt == "dicom_folder":
        with (path / "labels.csv").open(newline="") as fh:
            return csv_label_names(list(csv.DictReader(fh)))
    if fmt == "image_folder":
        return finding_folders(path)
    raise ValueError(f"unknown data format {fmt!r}; valid formats: {', '.join(FORMATS)}")


def index_images(root: Path) -> dict[str, Path]:
    """Map file name -> path for `images/` and the official `images_001/images` ... subfolders. A folder or image
    that links out of `root` is refused (OutsideDataset)."""
    from models.data.paths import inside_folder

    found: dict[str, Path] = {}
    candidates = [root / "images"] + sorted(root.glob("images_*/images")) + sorted(root.glob("images_*"))
    for folder in candidates:
        if not folder.is_dir():
            continue
        inside_folder(root, folder, where=f"folder {folder.relative_to(root)}")
        with os.scandir(folder) as it:
            for entry in it:
                if entry.is_file() and entry.name.lower().endswith(".png"):
                    path = Path(entry.path)
                    if entry.is_symlink():
                        path = inside_folder(root, path, where=str(path.relative_to(root)))
                    found.setdefault(entry.name, path)
    return found


def finding_counts(path: str | Path, fmt: DataFormat | None = None) -> dict[str, int]:
    """Images per finding of a data source, from its labels (and, for NIH, the images present), decoding none."""
    from models.vocabulary.findings import parse_nih_labels

    path = Path(path)
    fmt = fmt or detect_format(path)
    counts: Counter[str] = Counter()
    if fmt == "nih":
        present = index_images(path)
        with (path / "Data_Entry_2017.csv").open(newline="") as fh:
            for row in csv.DictReader(fh):
                if row["Image Index"] in present:
                    counts.update(parse_nih_labels(row["Finding Labels"]))
    elif fmt == "medmnist":
        with np.load(path) as npz:
            names = medmnist_label_names(path, class_count(npz["train_labels"]))
            for split in ("train", "val", "test"):
                raw = npz[f"{split}_labels"]
                hot = raw if raw.ndim == 2 and raw.shape[1] > 1 else np.eye(len(names))[raw.reshape(-1)]
                counts.update({n: int(c) for n, c in zip(names, hot.sum(0), strict=True)})
    elif fmt == "dicom_folder":
        with (path / "labels.csv").open(newline="") as fh:
            for row in csv.DictReader(fh):
                counts.update(lab for lab in row["labels"].split("|") if lab)
    else:
        for name in finding_folders(path):
            counts[name] = sum(1 for p in (path / name).iterdir() if p.is_file())
    return dict(counts)
