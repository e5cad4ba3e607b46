"""User data as folders: images in one subfolder per finding, or DICOM files with a labels CSV."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from models.data.base import DEFAULT_FRACTIONS, ImageDataset, Record, Split, split_of
from models.data.formats import csv_label_names, finding_folders
from models.data.paths import inside, inside_folder
from models.data.preprocess import SquareMode, load_image_file

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".dcm", ".dicom"}


class ImageFolder(ImageDataset):
    """`root/<finding>/*.png|jpg|dcm`; split by file name hash (no patient ids are known)."""

    def __init__(self, root: str | Path, split: Split = "train", resolution: int = 64, *,
                 square: SquareMode = "crop", fractions: Sequence[float] = DEFAULT_FRACTIONS):
        root = Path(root)
        names = finding_folders(root)
        if not names:
            raise FileNotFoundError(f"{root} has no subfolders; expected one subfolder per finding")
        records = []
        for name in names:
            inside_folder(root, root / name, where=f"folder {name}")
            for path in sorted((root / name).iterdir()):
                if path.suffix.lower() in IMAGE_SUFFIXES:
                    group = path.stem
                    if split == "all" or split_of(group, fractions) == split:
                        key = f"{name}/{path.name}"
                        records.append(Record(key=key, labels=[name], group=group,
                                              meta={"path": str(inside_folder(root, path, where=key))}))
        super().__init__(records, names, resolution, square)

    def load_pixels(self, record: Record) -> np.ndarray:
        return load_image_file(record.meta["path"]).pixels


class DicomFolder(ImageDataset):
    """DICOM files plus a CSV with columns `file`, `labels` ('A|B') and optional `patient_id`.

    Patient ids come from the CSV, never from the DICOM headers, so no identifier is read into memory.
    """

    def __init__(self, root: str | Path, split: Split = "train", resolution: int = 64, *,
                 labels_csv: str | Path | None = None, square: SquareMode = "crop",
                 fractions: Sequence[float] = DEFAULT_FRACTIONS):
        root = Path(root)
        csv_path = Path(labels_csv) if labels_csv else root / "labels.csv"
        if not csv_path.exists():
            raise FileNotFoundError(f"{csv_path} not found: a DICOM folder needs a labels CSV (file,labels)")
        with csv_path.open(newline="") as fh:
            rows = list(csv.DictReader(fh))
        names = csv_label_names(rows)
        records = []
        for number, row in enumerate(rows, start=2):  # row 1 is the header
            path = inside(root, row["file"] or "", where=f"{csv_path.name} row {number}")
            group = row.get("patient_id") or row["file"]
            if split == "all" or split_of(group, fractions) == split:
                labels = [lab for lab in row["labels"].split("|") if lab]
                records.append(Record(key=row["file"], labels=labels, group=group, meta={"path": str(path)}))
        super().__init__(records, names, resolution, square)

    def load_pixels(self, record: Record) -> np.ndarray:
        return load_image_file(record.meta["path"]).pixels
