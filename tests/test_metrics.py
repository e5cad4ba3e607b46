"""Metrics behave as defined: AUROC, bootstrap CI, FID/KID, MS-SSIM diversity."""

from __future__ import annotations

import numpy as np
import pytest

from models.metrics.auroc import auroc, bootstrap_ci, roc_curve, youden_threshold
from models.metrics.fid import fid_kid_from_features, frechet_distance
from models.qc.features import ms_ssim_diversity


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


def test_inception_graph_matches_the_fid_weights_layout():
    import torch

    from models.metrics.inception_fid import FIDInceptionV3

    net = FIDInceptionV3()
    # torchvision's inception_v3 has 27,161,264 parameters; without AuxLogits (3,326,696) and with pytorch-fid's
    # 1008-class fc instead of 1000 (+16,392) that is 23,850,960, the size of pt_inception-2015-12-05.
    assert sum(p.numel() for p in net.parameters()) == 23_850_960
    assert net.Mixed_7c.branch3x3dbl_3b.bn.running_var.shape == (384,)
    assert "fc.weight" in net.state_dict() and torch.Size([1008, 2048]) == net.fc.weight.shape


def test_inception_features_load_a_local_weights_file(tmp_path):
    import torch

    from models.metrics.inception_fid import FIDInceptionV3
    from models.qc.features import load_feature_extractor

    torch.manual_seed(0)
    state = {k: v for k, v in FIDInceptionV3().state_dict().items() if not k.endswith("num_batches_tracked")}
    weights = tmp_path / "pt_inception-2015-12-05-6726825d.pth"
    torch.save(state, weights)
    extract = load_feature_extractor(f"inception:{weights}")
    images = np.random.default_rng(0).random((3, 40, 40)).astype(np.float32)
    feats = extract(np.concatenate([images, images[:1]]))
    assert feats.shape == (4, 2048) and np.isfinite(feats).all()
    np.testing.assert_allclose(feats[0], feats[3], rtol=1e-5)
    assert not np.allclose(feats[0], feats[1])


def test_inception_features_reject_other_files(tmp_path):
    import torch

    wrong = tmp_path / "other.pth"
    torch.save({"conv.weight": torch.zeros(3)}, wrong)
    not_torch = tmp_path / "notes.pth"
    not_torch.write_text("hello")
    from models.qc.features import load_feature_extractor

    for path, message in [(wrong, "does not match"), (not_torch, "not a PyTorch"), (tmp_path / "no.pth", "point to")]:
        with pytest.raises((ValueError, FileNotFoundError), match=message):
            load_feature_extractor(f"inception:{path}")
