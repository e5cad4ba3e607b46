"""The /explain ensemble's learning curve: AUROC against the number of training patients, and its trend."""

from __future__ import annotations

import hashlib

import numpy as np

from models.evaluation.cards.ensemble import TARGET_MEAN


def patient_share(records: list, share: float, seed: int) -> list:
    """The records of a `share` of the patients of each source folder (a seeded, stable draw)."""
    if share >= 1:
        return list(records)
    kept = []
    for source in sorted({r.meta["source"] for r in records}):
        patients = sorted({r.group for r in records if r.meta["source"] == source},
                          key=lambda p: hashlib.sha256(f"{seed}:{p}".encode()).hexdigest())
        chosen = set(patients[:max(1, round(share * len(patients)))])
        kept += [r for r in records if r.meta["source"] == source and r.group in chosen]
    return kept


def mean_figures(per_finding: dict, findings: list[str]) -> dict:
    """Mean pooled and within-source AUROC over `findings`."""
    return {"pooled": float(np.mean([per_finding[f]["auroc"] for f in findings])),
            "within_source": float(np.mean([per_finding[f]["auroc_within_source"] for f in findings]))}


def fit_trend(rows: list[dict], key: str, split: str = "test") -> dict:
    """Least-squares line of mean AUROC (T by default) against log2(training images), and where it would reach
    the bar."""
    x = np.log2([r["images"] for r in rows])
    y = np.array([r[split][key] for r in rows])
    slope, intercept = np.polyfit(x, y, 1)
    reach = float(2 ** ((TARGET_MEAN - intercept) / slope)) if slope > 1e-6 else None  # a flat line never reaches it
    return {"per_doubling": float(slope), "intercept": float(intercept), "images_for_bar": reach}
