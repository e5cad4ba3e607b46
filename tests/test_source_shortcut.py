"""Two data folders with different finding rates: the within-source AUROC and the source-balanced loss."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from models.classifier.train import dataset_sources, source_balance_weights
from models.data.nih import NIHRealismSplit
from models.metrics.auroc import auroc, bootstrap_ci, mean_auroc, within_source_auroc
from tests.conftest import NIH, NIH256


def two_folders(rng: np.random.Generator, n: int = 400) -> tuple[np.ndarray, np.ndarray]:
    """Folder b has the finding four times as often as folder a; labels drawn per folder."""
    sources = np.where(np.arange(n) < n // 2, "a", "b")
    labels = (rng.random(n) < np.where(sources == "a", 0.1, 0.4)).astype(float)
    return sources, labels


def test_a_score_that_only_knows_the_folder_is_at_chance_within_source():
    rng = np.random.default_rng(0)
    sources, labels = two_folders(rng)
    folder_score = (sources == "b") + rng.normal(0, 0.01, len(labels))
    assert auroc(labels, folder_score) > 0.65
    assert within_source_auroc(labels, folder_score, sources) == pytest.approx(0.5, abs=0.1)


def test_within_source_auroc_is_the_pair_weighted_mean_of_each_folder():
    rng = np.random.default_rng(1)
    sources, labels = two_folders(rng)
    scores = labels * 0.7 + rng.normal(0, 1, len(labels))
    parts = [(auroc(labels[sources == s], scores[sources == s]),
              labels[sources == s].sum() * (1 - labels[sources == s]).sum()) for s in "ab"]
    expected = sum(a * n for a, n in parts) / sum(n for _, n in parts)
    assert within_source_auroc(labels, scores, sources) == pytest.approx(expected)
    lo, hi = bootstrap_ci(labels, scores, n=200, sources=sources)
    assert lo < expected < hi
    one_class = np.where(sources == "a", 0.0, labels)  # folder a has no positives: only b's pairs count
    assert within_source_auroc(one_class, scores, sources) == pytest.approx(parts[1][0])
    assert np.isnan(within_source_auroc(np.zeros(10), np.arange(10), np.array(["a"] * 10)))


def test_balanced_weights_give_every_folder_the_pooled_rate():
    rng = np.random.default_rng(2)
    sources, labels = two_folders(rng)
    y = torch.from_numpy(np.stack([labels, 1 - labels], 1)).float()
    weights = source_balance_weights(y, sources)
    pooled = y.mean(0)
    for s in "ab":
        rows = torch.from_numpy(sources == s)
        rate = (weights[rows] * y[rows]).sum(0) / weights[rows].sum(0)
        assert torch.allclose(rate, pooled, atol=1e-5)
    assert mean_auroc(y.numpy(), (sources == "b")[:, None].repeat(2, 1).astype(float), sources) == 0.5


def test_nih_records_name_their_folder_and_one_folder_has_no_sources():
    both = NIHRealismSplit([NIH, NIH256], {"G", "J", "V", "T"}, 16)
    sources = dataset_sources(both)
    assert sources is not None and set(sources) == {NIH.name, NIH256.name}
    assert dataset_sources(NIHRealismSplit([NIH], {"G", "J", "V", "T"}, 16)) is None


def test_source_blind_training_changes_the_member_and_reports_within_source_figures(tmp_path):
    from models.classifier.ensemble import ClassifierEnsemble
    from models.classifier.train import ClassifierConfig, train_classifier

    train = NIHRealismSplit([NIH, NIH256], {"G"}, 16)  # the fixtures' V and T hold one image each
    val = NIHRealismSplit([NIH, NIH256], {"J"}, 16)
    weights = {}
    for blind in (False, True):
        cfg = ClassifierConfig(resolution=16, members=1, width=8, epochs=2, batch_size=8, bootstrap=20,
                               source_blind=blind)
        folder, report = train_classifier(train, val, tmp_path / str(blind), cfg)
        weights[blind] = ClassifierEnsemble.load(folder).members[0].state_dict()
    scored = [e for e in report["val"].values() if not np.isnan(e["auroc"])]
    assert scored and all("auroc_within_source" in e and "auroc_source_alone" in e for e in scored)
    assert any(not torch.equal(weights[False][k], weights[True][k]) for k in weights[True])


def test_low_resolution_augmentation_blurs_the_picked_images_only():
    from models.data.augment import random_low_resolution

    rng = np.random.default_rng(3)
    x = torch.from_numpy(rng.random((6, 1, 32, 32), dtype=np.float32))
    assert torch.equal(random_low_resolution(x, 0.0), x)
    blurred = random_low_resolution(x, 1.0)
    roughness = (blurred[..., 1:] - blurred[..., :-1]).abs().mean((1, 2, 3))
    assert (roughness < 0.5 * (x[..., 1:] - x[..., :-1]).abs().mean((1, 2, 3))).all()
    half = random_low_resolution(x, 0.5, generator=torch.Generator().manual_seed(0))
    changed = [not torch.equal(half[i], x[i]) for i in range(6)]
    assert any(changed) and not all(changed)
