"""Pin the G/J/V/T patient split of the bundled NIH images and print its counts per finding.

    python -m scripts.make_realism_splits ../shared/data/nih-cxr14-64 ../shared/data/nih-cxr14-256

Writes models/data/splits/nih_realism.csv (patient,split) and docs/splits.md (counts per split and finding).
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

from models.data.nih import nih_rows
from models.data.splits import REALISM_FRACTIONS, REALISM_SPLITS, assign_patients, write_pinned
from models.vocabulary.findings import NIH_LABELS, parse_nih_labels

ROLES = {"G": "base generator, guide, super-resolution (256 px, no labels), /explain ensemble",
         "J": "judge; also super-resolution (256 px, no labels) and /explain ensemble",
         "V": "validation (every choice)", "T": "test (card figures only)"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("roots", nargs="+", help="NIH folders (Data_Entry_2017.csv + images/)")
    parser.add_argument("--doc", default="docs/splits.md")
    args = parser.parse_args()
    rows = nih_rows(args.roots)
    patient_labels: dict[str, list[str]] = {}
    for row, _ in rows:
        patient_labels.setdefault(row["Patient ID"], []).extend(parse_nih_labels(row["Finding Labels"]))
    assignment = assign_patients(patient_labels)
    write_pinned(assignment)
    images, patients = Counter(), Counter(assignment.values())
    per_finding = {sp: Counter() for sp in REALISM_SPLITS}
    for row, _ in rows:
        sp = assignment[row["Patient ID"]]
        images[sp] += 1
        per_finding[sp].update(parse_nih_labels(row["Finding Labels"]))
    lines = ["# Realism splits (patient-level)", "",
             "Pinned in `models/data/splits/nih_realism.csv`"
             f" by `python -m scripts.make_realism_splits {' '.join(args.roots)}`; target fractions "
             + ", ".join(f"{s} {f:.0%}" for s, f in zip(REALISM_SPLITS, REALISM_FRACTIONS, strict=True))
             + ". Patients not listed (other data) are placed by a stable hash of their id.", "",
             "| split | role | patients | images | " + " | ".join(NIH_LABELS) + " |",
             "|---|---|---|---|" + "---|" * len(NIH_LABELS)]
    for sp in REALISM_SPLITS:
        lines.append(f"| {sp} | {ROLES[sp]} | {patients[sp]} | {images[sp]} | "
                     + " | ".join(str(per_finding[sp][lab]) for lab in NIH_LABELS) + " |")
    Path(args.doc).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
