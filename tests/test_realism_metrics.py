"""The cheap realism measures tell pixel noise and saturation from real radiographs, and the fixed random-CNN
feature space puts a crude fake far from real images (21 images a side here: blur needs the larger sets of
scripts/realism_curve.py to register)."""

from __future__ import annotations

import numpy as np

from models.data.nih import NIHChestXray
from models.metrics.fid import frechet_distance
from models.metrics.realism import fakes, noise_dominated_share, random_cnn_features, saturated_share
from tests.conftest import NIH


def real_images(n: int) -> np.ndarray:
    return real("all")[:n]


def real(split: str) -> np.ndarray:
    ds = NIHChestXray(NIH, split, 64)
    return np.stack([((ds[i]["image"][0] + 1) / 2).numpy() for i in range(len(ds))])


def test_noise_and_saturation_are_caught_and_real_images_pass():
    train, held = real("train"), real("val")
    rng = np.random.default_rng(0)
    noise = rng.random((16, 64, 64)).astype(np.float32)
    assert noise_dominated_share(noise, held) == 1.0 and noise_dominated_share(held, held) == 0.0
    white = np.ones((4, 64, 64), np.float32)
    assert saturated_share(white) == 1.0 and saturated_share(train) < 0.05


def test_random_cnn_features_are_fixed_and_rank_fakes_by_how_far_they_are():
    images = real("all")
    half = len(images) // 2
    a, b = images[:half], images[half:2 * half]
    f1, f2 = random_cnn_features(), random_cnn_features()
    np.testing.assert_array_equal(f1(b[:4]), f2(b[:4]))
    ref = f1(b)
    made = fakes(a)
    floor = frechet_distance(f1(a), ref)
    assert frechet_distance(f1(made["mean image + noise"]), ref) > 2 * floor
    assert {name: im.shape for name, im in made.items()} == dict.fromkeys(made, a.shape)


def test_the_second_feature_space_is_fixed_different_and_ranks_fakes():
    from models.metrics.fid import frechet_distance
    from models.metrics.realism import fakes, random_cnn_features, second_cnn_features

    real = real_images(40)
    first, second = random_cnn_features(), second_cnn_features()
    assert np.array_equal(second(real), second_cnn_features()(real))  # fixed: the same seed, the same features
    assert second(real).shape[1] != first(real).shape[1]
    made = fakes(real[20:])
    reference = second(real[:20])
    assert frechet_distance(reference, second(made["mean image + noise"])) > frechet_distance(
        reference, second(made["blurred real"]))


def test_the_fid_interval_holds_the_point_and_narrows_with_more_images():
    from models.metrics.fid import frechet_distance
    from models.metrics.realism import fid_interval

    rng = np.random.default_rng(0)
    a, b = rng.normal(0, 1, (200, 4)), rng.normal(0.5, 1, (200, 4))
    lo, hi = fid_interval(a, b, n=100)
    assert lo <= frechet_distance(a, b) <= hi
    lo_small, hi_small = fid_interval(a[:40], b[:40], n=100)
    assert hi_small - lo_small > hi - lo


def test_washed_out_images_are_those_with_little_lung_contrast():
    from models.metrics.realism import washed_out_share

    real = real_images(40)
    grey = np.clip(0.5 + 0.15 * (real - real.mean(axis=(1, 2), keepdims=True)), 0, 1)  # the same, flattened
    assert washed_out_share(real[20:], real[:20]) < 0.3
    assert washed_out_share(grey, real) > 0.9


def test_fid_with_fewer_images_than_dimensions_equals_the_matrix_square_root_formula():
    from scipy import linalg

    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(40, 90)), rng.normal(0.3, 1.2, size=(47, 90))
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    direct = ((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(
        linalg.sqrtm(s1 @ s2)).real
    assert abs(frechet_distance(a, b) - direct) < 1e-6 * direct
