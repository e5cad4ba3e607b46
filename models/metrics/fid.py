"""FID and KID from any feature extractor (the features are passed in; see models.qc.features)."""

from __future__ import annotations

import numpy as np
from scipy import linalg


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (N, D).

    With fewer images than feature dimensions the trace of sqrt(S1 S2) is taken from the small (N1, N2) matrix
    A B^T of the centred sets (its singular values are the square roots of the non-zero eigenvalues of S1 S2):
    exact, and a hundred times faster than the (D, D) matrix square root, which is also inaccurate when the
    covariances are singular, as they are then."""
    mu1, mu2 = a.mean(0), b.mean(0)
    if min(len(a), len(b)) < a.shape[1]:
        ca, cb = (a - mu1) / np.sqrt(len(a) - 1), (b - mu2) / np.sqrt(len(b) - 1)
        trace_covmean = np.linalg.svd(ca @ cb.T, compute_uv=False).sum()
        return float(((mu1 - mu2) ** 2).sum() + (ca**2).sum() + (cb**2).sum() - 2 * trace_covmean)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean, _ = linalg.sqrtm(s1 @ s2, disp=False)
    if not np.isfinite(covmean).all():
        eps = np.eye(s1.shape[0]) * 1e-6
        covmean = linalg.sqrtm((s1 + eps) @ (s2 + eps))
    covmean = covmean.real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def kid(a: np.ndarray, b: np.ndarray, *, subsets: int = 50, subset_size: int = 100,
        seed: int = 0) -> tuple[float, float]:
    """Kernel Inception Distance (unbiased MMD^2, cubic polynomial kernel) as mean and std over subsets."""
    rng = np.random.default_rng(seed)
    d = a.shape[1]
    m = min(subset_size, len(a), len(b))
    values = []
    for _ in range(subsets):
        x = a[rng.choice(len(a), m, replace=False)]
        y = b[rng.choice(len(b), m, replace=False)]
        kxx = (x @ x.T / d + 1) ** 3
        kyy = (y @ y.T / d + 1) ** 3
        kxy = (x @ y.T / d + 1) ** 3
        mmd = ((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
               - 2 * kxy.mean())
        values.append(mmd)
    return float(np.mean(values)), float(np.std(values))


def fid_kid_from_features(real: np.ndarray, fake: np.ndarray, *, seed: int = 0) -> dict:
    """FID and KID (mean +/- std) with the sample counts behind them."""
    k_mean, k_std = kid(real, fake, seed=seed)
    return {"fid": frechet_distance(real, fake), "kid_mean": k_mean, "kid_std": k_std, "n_real": len(real),
            "n_fake": len(fake)}
