"""The phantom benchmark: deterministic images with lesion masks where the lesion is, and a classifier
trained on it whose explanations point at the lesion more often than chance."""

from __future__ import annotations

import numpy as np

from models.classifier.ensemble import ClassifierEnsemble
from models.classifier.train import ClassifierConfig, train_classifier
from models.data.phantom import PHANTOM_FINDINGS, ChestPhantom, phantom
from models.explain.localisation import phantom_localisation


def test_phantom_is_deterministic_and_masks_mark_changed_pixels():
    for finding in PHANTOM_FINDINGS[:-1]:
        a, ma = phantom(64, finding, np.random.default_rng(3))
        b, mb = phantom(64, finding, np.random.default_rng(3))
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(ma, mb)
        assert 0.002 < ma.mean() < 0.2, finding
        normal, _ = phantom(64, None, np.random.default_rng(3))
        assert np.abs(a - normal)[ma].mean() > np.abs(a - normal)[~ma].mean() + 0.05, finding


def test_explanations_of_a_phantom_classifier_point_at_the_lesions(tmp_path):
    train, val = ChestPhantom(240, 32, seed=1), ChestPhantom(60, 32, seed=2)
    cfg = ClassifierConfig(resolution=32, members=1, width=16, epochs=12, batch_size=32, bootstrap=20, lr=3e-3)
    folder, report = train_classifier(train, val, tmp_path, cfg)
    assert report["val"]["Mass"]["auroc"] > 0.8
    result = phantom_localisation(ClassifierEnsemble.load(folder), n=24, n_steps=16)
    shares = [v["share_inside_mean"] for v in result["per_finding"].values()]
    chance = [v["chance_share"] for v in result["per_finding"].values()]
    assert np.mean(shares) > 1.5 * np.mean(chance), result
