"""Calibration of the classifier ensemble: the temperature, the class-weighting offset, ECE, patient bootstrap."""

from __future__ import annotations

import numpy as np
import torch

from models.classifier.ensemble import ClassifierEnsemble
from models.metrics.auroc import bootstrap_ci
from models.metrics.calibration import fit_temperature, reliability, rescale


def labelled_by(logits: np.ndarray, seed: int = 0) -> np.ndarray:
    """Labels drawn with probability sigmoid(logits): these logits are calibrated by construction."""
    return (np.random.default_rng(seed).random(logits.shape) < 1 / (1 + np.exp(-logits))).astype(float)


def test_fit_temperature_recovers_an_overconfident_ensemble():
    rng = np.random.default_rng(1)
    true_logits = rng.normal(0, 1.5, (4000, 3))
    labels = labelled_by(true_logits)
    overconfident = np.stack([true_logits * 3, true_logits * 3])  # two members, logits 3x too large
    member_probs = 1 / (1 + np.exp(-overconfident))
    t = fit_temperature(member_probs, labels)
    assert 2.5 < t < 3.6
    before = reliability(rescale(member_probs, 1.0), labels)["ece"]
    after = reliability(rescale(member_probs, t), labels)["ece"]
    assert after < 0.03 < before


def test_reliability_bins_and_ece_of_a_miscalibrated_constant():
    labels = np.r_[np.ones(20), np.zeros(80)]
    rel = reliability(np.full(100, 0.5), labels)
    assert rel["pairs"] == 100 and len(rel["bins"]) == 1
    assert abs(rel["ece"] - 0.3) < 1e-9  # says 0.5, is right 20% of the time


def test_ensemble_applies_offset_and_temperature_and_keeps_them_across_save(tmp_path):
    torch.manual_seed(0)
    ens = ClassifierEnsemble(["Mass", "No Finding"], members=2, input_size=64, width=8, stem=4).eval()
    x = torch.rand(3, 1, 64, 64)
    raw = ens.predict(x).member_probs
    ens.config["calibration"] = {"logit_offset": {"Mass": -np.log(4.0)}, "temperature": 2.0}
    cal = ens.predict(x).member_probs
    logit = np.log(raw / (1 - raw))
    expected_mass = 1 / (1 + np.exp(-(logit[..., 0] - np.log(4.0)) / 2.0))
    np.testing.assert_allclose(cal[..., 0], expected_mass, rtol=1e-4)
    loaded = ClassifierEnsemble.load(ens.save(tmp_path / "clf"))
    assert loaded.stem == 4 and loaded.temperature == 2.0
    np.testing.assert_allclose(loaded.predict(x).member_probs, cal, rtol=1e-5)


def test_patient_bootstrap_keeps_a_patients_images_together():
    # 10 patients with 10 identical images each: resampling images pretends there are 100 independent cases,
    # so its interval is narrower than the honest one over patients.
    rng = np.random.default_rng(0)
    labels = np.repeat(rng.integers(0, 2, 10), 10)
    labels[:10], labels[10:20] = 1, 0
    scores = np.repeat(rng.random(10), 10)
    groups = np.repeat(np.arange(10), 10)
    by_image = bootstrap_ci(labels, scores, n=400, seed=0)
    by_patient = bootstrap_ci(labels, scores, n=400, seed=0, groups=groups)
    assert (by_patient[1] - by_patient[0]) > (by_image[1] - by_image[0])


def test_train_classifier_command_calibrates_on_validation_and_the_saved_model_serves_it(tmp_path):
    import json
    import subprocess
    import sys
    from pathlib import Path

    nih = Path(__file__).resolve().parent / "fixtures" / "nih"
    out = tmp_path / "clf"
    subprocess.run([sys.executable, "-m", "models.cli", "train-classifier", str(nih), "--out", str(out),
                    "--resolution", "32", "--stem", "2", "--calibrate", "--epochs", "2", "--members", "2",
                    "--batch-size", "16"], check=True, capture_output=True, timeout=300)
    config = json.loads((out / "model" / "radsynth.json").read_text())
    cal = config["calibration"]
    assert config["stem"] == 2 and cal["fitted_on"] == "validation" and 0.25 <= cal["temperature"] <= 16
    assert set(cal["logit_offset"]) == set(config["findings"]) and all(v <= 0 for v in cal["logit_offset"].values())
    report = json.loads((out / "report.json").read_text())
    assert report["calibration"]["val_after"]["ece"] <= report["calibration"]["val_before"]["ece"] + 1e-9
    ens = ClassifierEnsemble.load(out / "model")
    assert ens.temperature == cal["temperature"] and ens.stem == 2
