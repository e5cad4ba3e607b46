"""MedMNIST .npz files: {train,val,test}_images and _labels, grey or RGB, sizes 28/64/128/224."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from models.data.base import ImageDataset, Record, Split
from models.data.formats import class_count, medmnist_label_names
from models.data.preprocess import SquareMode
from models.io.raster import pil_to_grey


class MedMNIST(ImageDataset):
    """One split of a MedMNIST npz; the split's array is read once (the official files are small)."""

    def __init__(self, path: str | Path, split: Split = "train", resolution: int = 64, *,
                 label_names: Sequence[str] | None = None, square: SquareMode = "crop"):
        self.path = Path(path)
        splits = ["train", "val", "test"] if split == "all" else [split]
        with np.load(self.path) as npz:
            self.images = np.concatenate([npz[f"{s}_images"] for s in splits])
            raw = np.concatenate([npz[f"{s}_labels"] for s in splits])
        multilabel = raw.ndim == 2 and raw.shape[1] > 1
        names = list(label_names or medmnist_label_names(self.path, class_count(raw)))
        records = []
        for i, row in enumerate(raw):
            active = [names[j] for j in np.flatnonzero(row)] if multilabel else [names[int(row.reshape(-1)[0])]]
            records.append(Record(key=f"{self.path.stem}:{split}:{i}", labels=active, group=f"{split}:{i}",
                                  meta={"index": i}))
        super().__init__(records, names, resolution, square)

    def load_pixels(self, record: Record) -> np.ndarray:
        arr = self.images[record.meta["index"]]
        if arr.ndim == 3 and arr.shape[-1] == 3:
            from PIL import Image

            return pil_to_grey(Image.fromarray(arr, mode="RGB"))[0]
        return arr.astype(np.float32) / 255.0
