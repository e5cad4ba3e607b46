"""NIH ChestX-ray14 in its official layout: images folder(s), Data_Entry_2017.csv, optional split lists."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from models.data.base import DEFAULT_FRACTIONS, ImageDataset, Record, Split, split_of, stratified_group_split
from models.data.formats import index_images
from models.data.preprocess import SquareMode, load_image_file
from models.vocabulary.findings import NIH_LABELS, NO_FINDING, parse_nih_labels

CSV_NAME = "Data_Entry_2017.csv"


def read_list(path: Path) -> set[str]:
    return {line.strip() for line in path.read_text().splitlines() if line.strip()}


def nih_records(root: str | Path, split: Split = "train", *, fractions: Sequence[float] = DEFAULT_FRACTIONS,
                csv_path: str | Path | None = None) -> list[Record]:
    """Records of one split; with train_val_list.txt/test_list.txt those lists decide test membership,
    and train/val are split by Patient ID inside train_val; without them all three split by Patient ID."""
    root = Path(root)
    csv_path = Path(csv_path) if csv_path else root / CSV_NAME
    if not csv_path.exists():
        raise FileNotFoundError(f"{csv_path} not found: the NIH layout needs {CSV_NAME} beside images/")
    images = index_images(root)
    if not images:
        raise FileNotFoundError(f"no PNG images under {root}/images or {root}/images_*/images")
    test_list = read_list(root / "test_list.txt") if (root / "test_list.txt").exists() else None
    with csv_path.open(newline="") as fh:
        rows = [row for row in csv.DictReader(fh) if row["Image Index"] in images]
    patient_labels: dict[str, list[str]] = {}
    for row in rows:
        patient_labels.setdefault(row["Patient ID"], []).extend(parse_nih_labels(row["Finding Labels"]))
    assignment = stratified_group_split(patient_labels, fractions)
    records: list[Record] = []
    for row in rows:
        name, patient = row["Image Index"], row["Patient ID"]
        if test_list is not None:
            bucket = "test" if name in test_list else (
                "val" if split_of(patient, (0.9, 0.1, 0.0)) == "val" else "train")
        else:
            bucket = assignment[patient]
        if split != "all" and bucket != split:
            continue
        meta = {"view": row.get("View Position", ""), "split": bucket, "path": str(images[name])}
        records.append(Record(key=name, labels=parse_nih_labels(row["Finding Labels"]), group=patient, meta=meta))
    return records


class NIHChestXray(ImageDataset):
    """NIH ChestX-ray14; labels are the 14 findings and "No Finding"."""

    def __init__(self, root: str | Path, split: Split = "train", resolution: int = 64, *,
                 labels: Sequence[str] = NIH_LABELS, square: SquareMode = "crop",
                 fractions: Sequence[float] = DEFAULT_FRACTIONS):
        super().__init__(nih_records(root, split, fractions=fractions), labels, resolution, square)
        self.root = Path(root)

    def load_pixels(self, record: Record) -> np.ndarray:
        return load_image_file(record.meta["path"]).pixels


def nih_boxes(root: str | Path) -> dict[str, list[tuple[str, tuple[float, float, float, float]]]]:
    """BBox_List_2017.csv: image -> [(finding, (x, y, w, h) in original 1024-px coordinates)]."""
    path = Path(root) / "BBox_List_2017.csv"
    out: dict[str, list] = {}
    if not path.exists():
        return out
    with path.open(newline="") as fh:
        reader = csv.reader(fh)
        next(reader, None)
        for row in reader:
            if len(row) < 6:
                continue
            out.setdefault(row[0], []).append((row[1], tuple(float(v) for v in row[2:6])))
    return out


__all__ = ["NIHChestXray", "nih_records", "nih_boxes", "NO_FINDING"]


def nih_rows(roots: Sequence[str | Path]) -> list[tuple[dict, Path]]:
    """(CSV row, image path) of every image present under the given NIH folders, in folder then CSV order."""
    out: list[tuple[dict, Path]] = []
    for root in roots:
        root = Path(root)
        csv_path = root / CSV_NAME
        if not csv_path.exists():
            raise FileNotFoundError(f"{csv_path} not found: the NIH layout needs {CSV_NAME} beside images/")
        images = index_images(root)
        with csv_path.open(newline="") as fh:
            out.extend((row, images[row["Image Index"]]) for row in csv.DictReader(fh) if row["Image Index"] in images)
    return out


def realism_records(roots: Sequence[str | Path], splits: set[str]) -> list[Record]:
    """Records of several NIH folders restricted to realism splits (G/J/V/T, models/data/splits.py)."""
    from models.data.splits import read_pinned, split_of_patient

    pinned = read_pinned()
    records = []
    for root in roots:
        for row, path in nih_rows([root]):
            bucket = split_of_patient(row["Patient ID"], pinned)
            if bucket not in splits:
                continue
            # source: the folder an image came from; sets differ in finding rates and in sharpness, a shortcut
            meta = {"view": row.get("View Position", ""), "split": bucket, "path": str(path),
                    "source": Path(root).name}
            records.append(Record(key=row["Image Index"], labels=parse_nih_labels(row["Finding Labels"]),
                                  group=row["Patient ID"], meta=meta))
    return records


class NIHRealismSplit(ImageDataset):
    """Images of one or more NIH folders in the given realism splits (e.g. {"G"}), at `resolution`."""

    def __init__(self, roots: Sequence[str | Path], splits: set[str], resolution: int = 64, *,
                 labels: Sequence[str] = NIH_LABELS, square: SquareMode = "crop"):
        super().__init__(realism_records(roots, splits), labels, resolution, square)

    def load_pixels(self, record: Record) -> np.ndarray:
        return load_image_file(record.meta["path"]).pixels


def native_records(ds, resolution: int):
    """Keep only images stored at `resolution` px or more (a 64-px file upsampled would teach blur)."""
    from PIL import Image

    kept = []
    for record in ds.records:
        with Image.open(record.meta["path"]) as img:
            if min(img.size) >= resolution:
                kept.append(record)
    ds.records = kept
    return ds
