"""Where an ensemble calls a finding positive, and what that call is worth: thresholds chosen on the validation
split for a stated specificity, the test split's sensitivity and specificity at them, and the test AUROC intervals
that every answer carries (models/explain/verdict.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from models.classifier.ensemble import SPECIFICITY_RULE
from models.metrics.auroc import operating_point, specificity_threshold


def choose_thresholds(folder: str | Path, val, specificity: float) -> dict[str, float]:
    """Per finding, the lowest threshold with at least `specificity` on `val` (the validation split); written into
    the ensemble's radsynth.json with the rule that set them."""
    from models.classifier.ensemble import ClassifierEnsemble
    from models.classifier.pool import ImagePool
    from models.classifier.train import predict_all

    ens = ClassifierEnsemble.load(folder)
    pool = ImagePool.of(val, ens.input_size)
    scores = predict_all(ens, pool).mean
    labels = pool.labels.numpy()
    pool.close()
    thresholds = {name: specificity_threshold(labels[:, k], scores[:, k], specificity)
                  for k, name in enumerate(ens.findings)}
    info_path = Path(folder) / "radsynth.json"
    info = json.loads(info_path.read_text())
    info |= {"thresholds": thresholds, "threshold_rule": SPECIFICITY_RULE.format(specificity),
             "threshold_operating_point": {"specificity": specificity, "chosen_on": "V"}}
    info_path.write_text(json.dumps(info, indent=2, default=float))
    return thresholds


def record_test_auroc_intervals(folder: str | Path, report: dict) -> None:
    """Copy the card's test AUROC intervals (already measured on T) into radsynth.json, where answers read them."""
    info_path = Path(folder) / "radsynth.json"
    info = json.loads(info_path.read_text())
    info["test_auroc_ci95"] = {name: row["ci95"] for name, row in report["test"].items()}
    info_path.write_text(json.dumps(info, indent=2, default=float))


def test_operating_points(scores_file: str | Path, thresholds: dict[str, float]) -> dict[str, dict]:
    """Sensitivity and specificity on the test split's saved scores at each finding's threshold."""
    saved = np.load(scores_file, allow_pickle=True)
    findings = [str(f) for f in saved["findings"]]
    return {name: operating_point(saved["labels"][:, k], saved["scores"][:, k], thresholds[name])
            for k, name in enumerate(findings) if name in thresholds}
