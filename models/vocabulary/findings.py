"""Finding vocabularies and forgiving name matching."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

NO_FINDING = "No Finding"

NIH_FINDINGS: tuple[str, ...] = (
    "Atelectasis",
    "Cardiomegaly",
    "Effusion",
    "Infiltration",
    "Mass",
    "Nodule",
    "Pneumonia",
    "Pneumothorax",
    "Consolidation",
    "Edema",
    "Emphysema",
    "Fibrosis",
    "Pleural_Thickening",
    "Hernia",
)

# The label vocabulary of an NIH model: the 14 findings and "No Finding" as its own column.
NIH_LABELS: tuple[str, ...] = (*NIH_FINDINGS, NO_FINDING)


class UnknownFindingError(ValueError):
    """A requested finding is not in the model's vocabulary; the message lists the valid names."""

    def __init__(self, name: str, valid: Sequence[str]):
        self.name = name
        self.valid = list(valid)
        super().__init__(f"unknown finding {name!r}; valid findings are: {', '.join(valid)}")


def normalise(name: str) -> str:
    """Case-insensitive key that ignores underscores, hyphens and spaces."""
    return "".join(ch for ch in name.lower() if ch not in "_- ")


def resolve(names: str | Iterable[str], vocabulary: Sequence[str]) -> list[str]:
    """Map user-typed finding names onto the vocabulary's own spelling.

    Accepts one name, a comma/plus/pipe-joined string, or an iterable. Raises UnknownFindingError.
    """
    if isinstance(names, str):
        for sep in ",+|":
            names = names.replace(sep, ",")
        names = [n for n in names.split(",")]
    by_key = {normalise(v): v for v in vocabulary}
    out: list[str] = []
    for raw in names:
        if not raw.strip():
            continue
        key = normalise(raw)
        if key not in by_key:
            raise UnknownFindingError(raw.strip(), vocabulary)
        if by_key[key] not in out:
            out.append(by_key[key])
    if not out:
        raise UnknownFindingError("", vocabulary)
    return out


def parse_nih_labels(field: str) -> list[str]:
    """Split NIH's `Finding Labels` field ('Cardiomegaly|Effusion')."""
    return [p.strip() for p in field.split("|") if p.strip()]
