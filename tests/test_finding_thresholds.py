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


def test_a_specificity_operating_point_is_the_lowest_threshold_that_holds_it():
    from models.metrics.auroc import operating_point, specificity_threshold

    rng = np.random.default_rng(0)
    labels = np.r_[np.zeros(200), np.ones(20)]
    scores = np.r_[rng.uniform(0, 0.6, 200), rng.uniform(0.3, 1.0, 20)]
    t = specificity_threshold(labels, scores, 0.9)
    point = operating_point(labels, scores, t)
    below = scores[labels == 0][scores[labels == 0] < t].max()  # the next lower threshold that changes a call
    assert point["specificity"] >= 0.9 and operating_point(labels, scores, below)["specificity"] < 0.9
    assert point["positives"] == 20 and 0 < point["sensitivity"] <= 1
    assert specificity_threshold(np.zeros(5), np.arange(5), 0.9) == 0.5  # no positive: undefined


def test_every_answer_says_how_far_to_trust_the_call():
    from models.explain.verdict import verdict_line

    trust = {"Effusion": {"test_auroc": 0.69, "test_auroc_ci95": [0.55, 0.84], "reliable": True},
             "Edema": {"test_auroc": 0.58, "test_auroc_ci95": [0.41, 0.74], "reliable": False}}
    member = np.array([0.19, 0.13, 0.2, 0.6], dtype=np.float32)[None, None, :]
    row = EnsemblePrediction(FINDINGS, np.repeat(member, 3, axis=0)).as_dicts(THRESHOLDS, trust=trust)[0]
    line = verdict_line("Effusion", row["Effusion"])
    assert line == "Effusion: p = 0.13 +/- 0.00, threshold 0.44: negative (test AUROC 0.69 [0.55, 0.84])"
    assert verdict_line("Edema", row["Edema"]).endswith("[0.41, 0.74], unreliable)")
    assert "test_auroc" not in row["Cardiomegaly"]
