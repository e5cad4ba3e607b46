"""One wording of a finding's verdict for every surface (overlay, DICOM, CLI, page): probability, threshold, the
call, and how far to trust it (the ensemble's AUROC for that finding on held-out test patients, with its 95%
interval; "unreliable" when the interval holds 0.5, chance)."""

from __future__ import annotations


def call(entry: dict) -> str:
    """'positive', 'negative' or '' (no threshold known)."""
    if "positive" not in entry:
        return ""
    return "positive" if entry["positive"] else "negative"


def trust_text(entry: dict) -> str:
    """'test AUROC 0.69 [0.55, 0.84]', with ', unreliable' when the interval holds 0.5; '' when unknown."""
    if "test_auroc" not in entry:
        return ""
    lo, hi = entry["test_auroc_ci95"]
    text = f"test AUROC {entry['test_auroc']:.2f} [{lo:.2f}, {hi:.2f}]"
    return text if entry.get("reliable", True) else text + ", unreliable"


def verdict_line(finding: str, entry: dict) -> str:
    """'Effusion: p = 0.06 +/- 0.01, threshold 0.24: negative (test AUROC 0.69 [0.55, 0.84])'."""
    text = f"{finding}: p = {entry['probability']:.2f} +/- {entry.get('std', 0.0):.2f}"
    if "threshold" in entry:
        text += f", threshold {entry['threshold']:.2f}"
    if call(entry):
        text += f": {call(entry)}"
    trust = trust_text(entry)
    return f"{text} ({trust})" if trust else text
