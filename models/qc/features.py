"""Feature extractors for FID/KID: domain features from a RadSynth classifier (trained on the real data, no
downloads), or Inception-v3 pool features when a local copy of pt_inception-2015-12-05 weights is given."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

FeatureFn = Callable[[np.ndarray], np.ndarray]


def domain_features(classifier: str | Path | None = None) -> FeatureFn:
    """Concatenated pooled features of a classifier ensemble's members, for grey [0, 1] images (N, H, W)."""
    from models.catalog import DEFAULT_CLASSIFIER, resolve_model
    from models.classifier.ensemble import ClassifierEnsemble
    from models.qc.memorisation import image_features

    ens = ClassifierEnsemble.load(resolve_model(classifier or DEFAULT_CLASSIFIER, kind="classifier"))
    return lambda images: image_features(ens, images)


def load_feature_extractor(spec: str | None) -> FeatureFn:
    """`None` or a classifier name/folder -> domain features; `inception:PATH` -> Inception-v3 (pytorch-fid)."""
    if spec and spec.startswith("inception:"):
        from models.metrics.inception_fid import inception_features

        return inception_features(Path(spec.split(":", 1)[1]))
    return domain_features(spec)


def ms_ssim_diversity(images: np.ndarray, pairs: int = 200, seed: int = 0) -> float:
    """Mean MS-SSIM over random pairs of a generated set (lower = more diverse), scales fitted to the size.
    `images` is (N, H, W), or (N, D, H, W) volumes for 3D MS-SSIM (7-voxel cubes instead of 7x7 windows)."""
    import torch
    import torch.nn.functional as F

    rng = np.random.default_rng(seed)
    x = torch.as_tensor(images, dtype=torch.float32)[:, None]
    dims = x.ndim - 2
    conv, pool = (F.conv3d, F.avg_pool3d) if dims == 3 else (F.conv2d, F.avg_pool2d)
    levels = max(1, min(5, int(np.log2(min(x.shape[2:]) / 8)) + 1))
    weights = torch.tensor([0.0448, 0.2856, 0.3001, 0.2363, 0.1333][:levels])
    weights = weights / weights.sum()

    def ssim_parts(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        c1, c2 = 0.01**2, 0.03**2
        k = torch.ones((1, 1) + (7,) * dims) / 7**dims
        mu_a, mu_b = conv(a, k), conv(b, k)
        va = conv(a * a, k) - mu_a**2
        vb = conv(b * b, k) - mu_b**2
        cov = conv(a * b, k) - mu_a * mu_b
        cs = (2 * cov + c2) / (va + vb + c2)
        lum = (2 * mu_a * mu_b + c1) / (mu_a**2 + mu_b**2 + c1)
        axes = tuple(range(1, dims + 2))
        return (lum * cs).mean(axes), cs.mean(axes)

    idx = rng.integers(0, len(x), (pairs, 2))
    idx = idx[idx[:, 0] != idx[:, 1]]
    a, b = x[idx[:, 0]], x[idx[:, 1]]
    score = torch.ones(len(a))
    for level in range(levels):
        ssim, cs = ssim_parts(a, b)
        value = ssim if level == levels - 1 else cs
        score = score * value.clamp(min=1e-6) ** weights[level]
        if level < levels - 1:
            a, b = pool(a, 2), pool(b, 2)
    return float(score.mean())
