"""Metrics behave as defined: AUROC, bootstrap CI, FID/KID, MS-SSIM diversity."""

from __future__ import annotations

import numpy as np
import pytest

from models.metrics.auroc import auroc, bootstrap_ci, roc_curve, youden_threshold
from models.metrics.features import ms_ssim_diversity
from models.metrics.fid import fid_kid_from_features, frechet_distance


def test_auroc_matches_pair_counting():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    s = rng.normal(y * 0.8, 1)
    pairs = [(a > b) + 0.5 * (a == b) for a in s[y == 1] for b in s[y == 0]]
    assert auroc(y, s) == pytest.approx(np.mean(pairs))
    lo, hi = bootstrap_ci(y, s, n=200)
    assert lo < auroc(y, s) < hi
    assert np.isnan(auroc(np.ones(5), np.arange(5)))
    fpr, tpr, _ = roc_curve(y, s)
    assert fpr[0] == tpr[0] == 0 and fpr[-1] == tpr[-1] == 1
    assert 0 < youden_threshold(y, 1 / (1 + np.exp(-s))) < 1


def test_fid_and_kid_grow_with_distribution_shift():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(300, 16)), rng.normal(size=(300, 16))
    shifted = rng.normal(0.7, 1, size=(300, 16))
    same, far = fid_kid_from_features(a, b), fid_kid_from_features(a, shifted)
    assert same["fid"] < far["fid"] and same["kid_mean"] < far["kid_mean"]
    assert abs(same["kid_mean"]) < 3 * same["kid_std"] + 1e-3
    assert same["n_real"] == 300 and frechet_distance(a, a) == pytest.approx(0, abs=1e-6)


def test_ms_ssim_diversity_is_one_for_copies_and_low_for_noise():
    rng = np.random.default_rng(2)
    noise = rng.random((12, 64, 64)).astype(np.float32)
    assert ms_ssim_diversity(np.repeat(noise[:1], 12, 0)) == pytest.approx(1.0, abs=1e-4)
    assert ms_ssim_diversity(noise) < 0.2
