"""Every answer says why a finding is positive: its threshold and the rule that set it; "No Finding" follows the
findings instead of contradicting them."""

from __future__ import annotations

import numpy as np

from models.classifier.ensemble import NO_FINDING_RULE, UNDEFINED_RULE, YOUDEN_RULE, EnsemblePrediction

FINDINGS = ["Cardiomegaly", "Effusion", "Edema", "No Finding"]
THRESHOLDS = {"Cardiomegaly": 0.18, "Effusion": 0.44, "Edema": 0.5, "No Finding": 0.47}


def predict(probs: list[float]) -> dict:
    member = np.array(probs, dtype=np.float32)[None, None, :]
    return EnsemblePrediction(FINDINGS, np.repeat(member, 3, axis=0)).as_dicts(THRESHOLDS)[0]


def test_each_finding_carries_its_threshold_and_rule():
    row = predict([0.19, 0.13, 0.2, 0.6])
    assert row["Cardiomegaly"]["positive"] and row["Cardiomegaly"]["threshold"] == THRESHOLDS["Cardiomegaly"]
    assert not row["Effusion"]["positive"] and row["Effusion"]["threshold_rule"] == YOUDEN_RULE
    assert row["Edema"]["threshold_rule"] == UNDEFINED_RULE


def test_no_finding_is_positive_exactly_when_no_finding_is():
    with_finding = predict([0.19, 0.13, 0.2, 0.9])  # the model's own "No Finding" score is high
    assert with_finding["Cardiomegaly"]["positive"] and not with_finding["No Finding"]["positive"]
    assert with_finding["No Finding"]["threshold_rule"] == NO_FINDING_RULE
    clear = predict([0.1, 0.13, 0.2, 0.1])  # and here low
    assert clear["No Finding"]["positive"] and not any(clear[f]["positive"] for f in FINDINGS[:-1])
