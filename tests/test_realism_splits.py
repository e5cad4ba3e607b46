"""The G/J/V/T realism split: patient-disjoint, pinned for the bundled data, stable for other patients."""

from __future__ import annotations

import pytest

from models.data.nih import NIHRealismSplit, nih_rows
from models.data.splits import (
    REALISM_SPLITS,
    assign_patients,
    hashed_split,
    parse_splits,
    read_pinned,
)
from tests.conftest import NIH


def test_pinned_split_covers_the_bundled_patients_and_never_shares_one():
    pinned = read_pinned()
    assert set(pinned.values()) == set(REALISM_SPLITS)
    patients = {row["Patient ID"] for row, _ in nih_rows([NIH])}
    assert patients <= set(pinned), "a bundled patient is missing from the pinned split"
    seen: dict[str, str] = {}
    for split in REALISM_SPLITS:
        for record in NIHRealismSplit([NIH], {split}, 16).records:
            assert seen.setdefault(record.group, split) == split, record.group


def test_assignment_keeps_every_patient_whole_and_follows_the_fractions():
    patient_labels = {f"p{i}": ["Mass" if i % 5 == 0 else "No Finding"] * (1 + i % 3) for i in range(400)}
    assignment = assign_patients(patient_labels)
    assert set(assignment) == set(patient_labels)
    mass = [p for p in patient_labels if p.startswith("p") and int(p[1:]) % 5 == 0]
    share_g = sum(assignment[p] == "G" for p in mass) / len(mass)
    assert 0.4 < share_g < 0.6


def test_unlisted_patients_are_placed_by_a_stable_hash():
    buckets = [hashed_split(str(100_000 + i)) for i in range(2000)]
    assert buckets == [hashed_split(str(100_000 + i)) for i in range(2000)]
    assert 0.45 < buckets.count("G") / 2000 < 0.55 and 0.11 < buckets.count("T") / 2000 < 0.19


def test_split_names_parse_and_unknown_ones_say_what_is_valid():
    assert parse_splits("g+J") == {"G", "J"}
    with pytest.raises(ValueError, match="valid splits: G, J, V, T"):
        parse_splits("train")
