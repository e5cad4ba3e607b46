"""Patient-level splits that keep the realism judges honest: G, J, V and T.

- G (generator): the base generator, its guide and the super-resolution stage train here.
- J (judge): the networks that score generated images in the model card; they never train or guide a generator.
- V (validation): every choice of checkpoint, scale or threshold.
- T (test): the card's figures only.

The assignment of the bundled NIH images is pinned in `splits/nih_realism.csv` (patient -> split) so that it
never moves when code changes; patients not listed there (a user's own data, other NIH patients) are placed by a
stable hash of their patient id with the same fractions.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Iterable, Sequence
from pathlib import Path

from models.data.base import stratified_group_split

REALISM_SPLITS: tuple[str, ...] = ("G", "J", "V", "T")
REALISM_FRACTIONS: tuple[float, ...] = (0.5, 0.25, 0.1, 0.15)
PINNED_FILE = Path(__file__).with_name("splits") / "nih_realism.csv"
SPLIT_SALT = "radsynth-realism"


def hashed_split(patient: str, names: Sequence[str] = REALISM_SPLITS,
                 fractions: Sequence[float] = REALISM_FRACTIONS) -> str:
    """The bucket of a patient that no pinned file lists: a stable hash against the cumulative fractions."""
    u = int(hashlib.sha1(f"{SPLIT_SALT}:{patient}".encode()).hexdigest()[:12], 16) / float(1 << 48)
    edge = 0.0
    for name, frac in zip(names, fractions, strict=True):
        edge += frac
        if u < edge:
            return name
    return names[-1]


def assign_patients(patient_labels: dict[str, list[str]]) -> dict[str, str]:
    """Stratified patient -> G/J/V/T assignment: every finding's images follow the fractions as closely as
    whole patients allow (the same greedy rule as the train/val/test split)."""
    return stratified_group_split(patient_labels, REALISM_FRACTIONS, names=REALISM_SPLITS, salt=SPLIT_SALT)


def read_pinned(path: Path = PINNED_FILE) -> dict[str, str]:
    """patient id -> split from a pinned CSV (`patient,split`); empty when the file is absent."""
    if not path.exists():
        return {}
    with path.open(newline="") as fh:
        return {row["patient"]: row["split"] for row in csv.DictReader(fh)}


def write_pinned(assignment: dict[str, str], path: Path = PINNED_FILE) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["patient", "split"])
        for patient in sorted(assignment, key=lambda p: (len(p), p)):
            writer.writerow([patient, assignment[patient]])


def split_of_patient(patient: str, pinned: dict[str, str]) -> str:
    return pinned.get(patient) or hashed_split(patient)


def parse_splits(text: str | Iterable[str]) -> set[str]:
    """'G', 'G+J' or 'G,J' -> {'G', 'J'}; raises ValueError naming the valid splits."""
    parts = text.replace("+", ",").split(",") if isinstance(text, str) else list(text)
    chosen = {p.strip().upper() for p in parts if p.strip()}
    unknown = chosen - set(REALISM_SPLITS)
    if not chosen or unknown:
        raise ValueError(f"unknown split {', '.join(sorted(unknown)) or text!r}; valid splits: "
                         f"{', '.join(REALISM_SPLITS)} (join several with '+', e.g. G+J)")
    return chosen
