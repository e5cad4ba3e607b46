"""The super-resolution check's measures rank what they should: the originals best, blur low on detail (spectrum
below real), noise above it; and the random CNN at 256 px is fixed."""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter

from models.data.nih import NIHRealismSplit
from models.metrics.realism import random_cnn_features
from models.metrics.superres_eval import compare, psnr, radial_power_spectrum, spectrum_distance, ssim
from tests.conftest import FIXTURES


def real_256() -> np.ndarray:
    ds = NIHRealismSplit([FIXTURES / "nih256"], {"G", "J", "V", "T"}, 256)
    return np.stack([((ds[i]["image"][0] + 1) / 2).numpy() for i in range(min(8, len(ds)))])


def test_identical_images_score_perfectly_and_damage_scores_worse():
    real = real_256()
    assert len(real) >= 4
    blurred = np.stack([gaussian_filter(im, 3.0) for im in real])
    noisy = np.clip(real + np.random.default_rng(0).normal(0, 0.1, real.shape), 0, 1)
    assert np.all(psnr(real, real) > 100) and np.allclose(ssim(real, real), 1.0)
    assert all(10 < psnr(x, real).mean() < 40 for x in (blurred, noisy))  # damaged: finite, far below identical
    assert ssim(blurred, real).mean() < 1 and ssim(noisy, real).mean() < 1
    spec_real, spec_blur, spec_noise = (radial_power_spectrum(x) for x in (real, blurred, noisy))
    top = slice(len(spec_real) // 2, None)
    assert np.all(spec_blur[top] < spec_real[top]) and np.all(spec_noise[top] > spec_real[top])
    assert spectrum_distance(real, real) == 0
    assert spectrum_distance(blurred, real) > 0.2 and spectrum_distance(noisy, real) > 0.2


def test_compare_reports_every_measure_and_the_cnn_is_fixed():
    real = real_256()
    blurred = np.stack([gaussian_filter(im, 3.0) for im in real])
    scores = compare({"same": real, "blurred": blurred}, real)
    assert scores["same"]["fid_random_cnn"] < 1e-6 < scores["blurred"]["fid_random_cnn"]
    assert set(scores["blurred"]) == {"psnr_db", "ssim", "fid_random_cnn", "spectrum_distance"}
    a, b = random_cnn_features(size=256)(real), random_cnn_features(size=256)(real)
    assert np.array_equal(a, b) and a.shape[1] > random_cnn_features()(real).shape[1]
