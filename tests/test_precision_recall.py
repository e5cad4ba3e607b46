"""Improved precision and recall behave as defined on sets whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from models.metrics.precision_recall import precision_recall


def test_a_sample_of_the_same_distribution_scores_high_on_both():
    rng = np.random.default_rng(0)
    real, fake = rng.normal(size=(300, 8)), rng.normal(size=(300, 8))
    pr = precision_recall(real, fake)
    assert pr["precision"] > 0.8 and pr["recall"] > 0.8


def test_collapsed_generator_is_precise_but_misses_the_variety():
    rng = np.random.default_rng(1)
    real = rng.normal(size=(300, 4))
    fake = rng.normal(scale=0.05, size=(300, 4))  # every sample near the real mean
    pr = precision_recall(real, fake)
    assert pr["precision"] > 0.9 and pr["recall"] < 0.3


def test_samples_far_from_real_are_not_precise():
    rng = np.random.default_rng(2)
    real, fake = rng.normal(size=(200, 4)), rng.normal(loc=10, size=(200, 4))
    pr = precision_recall(real, fake)
    assert pr["precision"] == 0 and pr["recall"] == 0


def test_too_few_samples_is_a_clear_error():
    with pytest.raises(ValueError, match="needs more than 3"):
        precision_recall(np.zeros((3, 2)), np.zeros((10, 2)))
