"""Common dataset behaviour: lazy per-item decoding into tensors, labels and patient-disjoint splits."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch
from torch.utils.data import Dataset

from models.data.preprocess import SquareMode, to_model_input

Split = Literal["train", "val", "test", "all"]
DEFAULT_FRACTIONS = (0.8, 0.1, 0.1)


def split_of(key: str, fractions: Sequence[float] = DEFAULT_FRACTIONS, salt: str = "radsynth") -> str:
    """Deterministic train/val/test bucket of a grouping key (a patient id), stable across machines."""
    u = int(hashlib.sha1(f"{salt}:{key}".encode()).hexdigest()[:12], 16) / float(1 << 48)
    if u < fractions[0]:
        return "train"
    if u < fractions[0] + fractions[1]:
        return "val"
    return "test"


def stratified_group_split(group_labels: dict[str, list[str]], fractions: Sequence[float] = DEFAULT_FRACTIONS,
                           salt: str = "radsynth", names: Sequence[str] = ("train", "val", "test")) -> dict[str, str]:
    """Assign whole groups (patients) to the named splits (train/val/test by default) so that every label's
    images follow the fractions.

    `group_labels` maps a group to the labels of each of its images (repeats allowed). Groups are taken
    largest first (ties by a stable hash) and each goes to the split whose label counts lag their target
    most. Deterministic; a group never spans two splits.
    """
    splits = tuple(names)
    totals: dict[str, int] = {}
    for labels in group_labels.values():
        for lab in labels:
            totals[lab] = totals.get(lab, 0) + 1
    current = {sp: dict.fromkeys(totals, 0) for sp in splits}

    def order(g: str) -> tuple:
        return (-len(group_labels[g]), hashlib.sha1(f"{salt}:{g}".encode()).hexdigest())

    out: dict[str, str] = {}
    for group in sorted(group_labels, key=order):
        labels = group_labels[group]

        def deficit(sp: str, labels: list[str] = labels) -> float:
            frac = fractions[splits.index(sp)]
            if frac <= 0:
                return float("-inf")
            return sum((frac * totals[lab] - current[sp][lab]) / totals[lab] for lab in set(labels))

        best = max(splits, key=deficit)
        out[group] = best
        for lab in labels:
            current[best][lab] += 1
    return out


@dataclass
class Record:
    """One item to load: where it is, its labels (names) and non-identifying metadata."""

    key: str
    labels: list[str]
    group: str  # patient id or equivalent; splits never separate a group
    meta: dict = field(default_factory=dict)


class ImageDataset(Dataset):
    """Map-style dataset that decodes one image per __getitem__ (streams from disk, holds only records).

    Items are dicts: image (1, R, R) float in [-1, 1], labels (K,) multi-hot float, id, group.
    """

    def __init__(self, records: list[Record], label_names: Sequence[str], resolution: int,
                 square: SquareMode = "crop"):
        self.records = records
        self.label_names = list(label_names)
        self.resolution = resolution
        self.square = square
        self.index = {name: i for i, name in enumerate(self.label_names)}

    def __len__(self) -> int:
        return len(self.records)

    def restrict(self, names: Sequence[str]) -> ImageDataset:
        """Use only these labels (resolved forgivingly); other labels are ignored, images are kept."""
        from models.vocabulary.findings import resolve

        self.label_names = resolve(list(names), self.label_names)
        self.index = {name: i for i, name in enumerate(self.label_names)}
        return self

    def load_pixels(self, record: Record) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def multi_hot(self, labels: Sequence[str]) -> torch.Tensor:
        vec = torch.zeros(len(self.label_names))
        for name in labels:
            if name in self.index:
                vec[self.index[name]] = 1.0
        return vec

    def __getitem__(self, i: int) -> dict:
        record = self.records[i]
        pixels, _ = to_model_input(self.load_pixels(record), self.resolution, self.square)
        image = torch.from_numpy(pixels).unsqueeze(0) * 2 - 1
        return {"image": image, "labels": self.multi_hot(record.labels), "id": record.key, "group": record.group}

    def label_counts(self) -> dict[str, int]:
        counts = dict.fromkeys(self.label_names, 0)
        for record in self.records:
            for name in record.labels:
                if name in counts:
                    counts[name] += 1
        return counts

    def labels_matrix(self) -> np.ndarray:
        """(N, K) multi-hot labels without decoding any image."""
        return np.stack([self.multi_hot(r.labels).numpy() for r in self.records]) if self.records else np.zeros(
            (0, len(self.label_names)), dtype=np.float32)
