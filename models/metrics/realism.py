"""Cheap realism measures that need no trained network: roughness (pixel noise), saturation, a fixed random-CNN
feature space for FID, and the simple fakes every figure is read beside (blurred real, real + noise, mean + noise).
"""

from __future__ import annotations

import numpy as np

FAKES = ("blurred real", "real + noise", "mean image + noise")


def roughness(images: np.ndarray, size: int = 64) -> np.ndarray:
    """Mean absolute difference between neighbouring pixels of each grey [0, 1] image (N, H, W), area-resized to
    `size` so that images of any size compare (at 256, fine speckle that 64 px averages away counts too)."""
    x = as_size(images, size)
    return 0.5 * (np.abs(np.diff(x, axis=1)).mean(axis=(1, 2)) + np.abs(np.diff(x, axis=2)).mean(axis=(1, 2)))


def structure(images: np.ndarray, size: int = 64) -> np.ndarray:
    """Band-pass energy of each grey [0, 1] image (N, H, W) at `size` px: the standard deviation of the difference
    of Gaussian blurs at 1 and 4 px, the scale of ribs, vessels, edges and borders. A featureless grey square has
    almost none; pixel noise has much (the roughness check catches that)."""
    from scipy.ndimage import gaussian_filter

    x = as_size(images, size).astype(np.float64)
    band = gaussian_filter(x, sigma=(0, 1, 1)) - gaussian_filter(x, sigma=(0, 4, 4))
    return band.std(axis=(1, 2))


def noise_dominated_share(generated: np.ndarray, real: np.ndarray, size: int = 64) -> float:
    """Share of generated images rougher than the roughest real image (pixel noise instead of anatomy), both
    measured at `size` px."""
    return float((roughness(generated, size) > roughness(real, size).max()).mean())


def saturated_share(images: np.ndarray, fraction: float = 0.25) -> float:
    """Share of images with more than `fraction` of their pixels at black or white (<= 0.01 or >= 0.99)."""
    x = np.asarray(images, dtype=np.float32)
    clipped = ((x <= 0.01) | (x >= 0.99)).mean(axis=(1, 2))
    return float((clipped > fraction).mean())


def as_size(images: np.ndarray, size: int = 64) -> np.ndarray:
    """(N, H, W) images area-resized to (N, size, size)."""
    import torch
    import torch.nn.functional as F

    x = torch.as_tensor(np.asarray(images, dtype=np.float32))[:, None]
    if x.shape[-1] != size:
        x = F.interpolate(x, size=(size, size), mode="area")
    return x[:, 0].numpy()


def random_cnn_features(seed: int = 0, width: int = 64, size: int = 64):
    """A fixed, randomly initialised CNN (seeded, never trained) whose pooled activations at four scales serve as
    a feature space that no generator or judge ever saw. Returns f(images (N, H, W) in [0, 1]) -> (N, D).
    Images are resized to `size`; at 256 two more stride-2 layers see the fine detail first (the same four
    coarse layers follow)."""
    import torch
    from torch import nn

    gen = torch.Generator().manual_seed(seed)
    layers, c_in = [], 1
    extra = max(0, int(np.log2(size // 64)))
    for c in (width // 4,) * extra + (width // 2, width, width * 2, width * 2):
        conv = nn.Conv2d(c_in, c, 3, padding=1, stride=2)
        with torch.no_grad():
            conv.weight.copy_(torch.randn(conv.weight.shape, generator=gen) * (2.0 / (9 * c_in)) ** 0.5)
            conv.bias.zero_()
        layers.append(conv)
        c_in = c
    return pooled_features(nn.ModuleList(layers).eval(), size, torch.relu,
                           lambda x: (x.mean(dim=(2, 3)), x.amax(dim=(2, 3))))


def second_cnn_features(seed: int = 7, width: int = 48, size: int = 64):
    """A second fixed random feature space, built differently from `random_cnn_features` so the two can disagree:
    another seed, six layers alternating stride 1 and 2 (deeper, finer steps), leaky ReLU, and mean and standard
    deviation pooling instead of mean and max. Returns f(images (N, H, W) in [0, 1]) -> (N, D)."""
    import torch
    from torch import nn

    gen = torch.Generator().manual_seed(seed)
    extra = max(0, int(np.log2(size // 64)))
    plan = [(width // 4, 2)] * extra + [(width // 3, 1), (width // 2, 2), (width // 2, 1), (width, 2),
                                        (width, 1), (2 * width, 2)]
    layers, c_in = [], 1
    for c, stride in plan:
        conv = nn.Conv2d(c_in, c, 3, padding=1, stride=stride)
        with torch.no_grad():
            bound = (6.0 / (9 * c_in)) ** 0.5
            conv.weight.copy_((torch.rand(conv.weight.shape, generator=gen) * 2 - 1) * bound)
            conv.bias.zero_()
        layers.append(conv)
        c_in = c
    return pooled_features(nn.ModuleList(layers).eval(), size, lambda x: torch.nn.functional.leaky_relu(x, 0.2),
                           lambda x: (x.mean(dim=(2, 3)), x.std(dim=(2, 3))))


def pooled_features(net, size: int, activation, pool):
    """f(images (N, H, W) in [0, 1]) -> (N, D): the images resized to `size`, through each layer of `net` and
    `activation`, with every layer's output pooled by `pool` (a pair of (N, C) tensors) and concatenated."""
    import torch

    @torch.inference_mode()
    def features(images: np.ndarray) -> np.ndarray:
        x = torch.as_tensor(as_size(images, size))[:, None] * 2 - 1
        pooled = []
        for conv in net:
            x = activation(conv(x))
            pooled += list(pool(x))
        return torch.cat(pooled, 1).numpy().astype(np.float64)

    return features


def fid_interval(real_f: np.ndarray, fake_f: np.ndarray, *, n: int = 200, seed: int = 0) -> tuple[float, float]:
    """95% bootstrap interval of the FID between two feature sets, resampling the images of each.

    A resample repeats images, which inflates the FID of every draw (fewer distinct images make the fitted
    Gaussians narrower), so the percentile interval is shifted back by that bias (the draws' mean minus the
    estimate): the interval keeps the bootstrap's spread around the estimate itself."""
    from models.metrics.fid import frechet_distance

    rng = np.random.default_rng(seed)
    draws = np.array([frechet_distance(real_f[rng.integers(0, len(real_f), len(real_f))],
                                       fake_f[rng.integers(0, len(fake_f), len(fake_f))]) for _ in range(n)])
    bias = draws.mean() - frechet_distance(real_f, fake_f)
    return max(0.0, float(np.quantile(draws, 0.025) - bias)), float(np.quantile(draws, 0.975) - bias)


def lung_contrast(images: np.ndarray, size: int = 64) -> np.ndarray:
    """Per image, the spread of grey values over the chest (the 90th minus the 10th percentile of the central
    region: rows 15-85%, columns 10-90%): low when the lungs are a hazy grey field."""
    x = as_size(images, size)
    r0, r1, c0, c1 = int(0.15 * size), int(0.85 * size), int(0.10 * size), int(0.90 * size)
    centre = x[:, r0:r1, c0:c1].reshape(len(x), -1)
    return np.percentile(centre, 90, axis=1) - np.percentile(centre, 10, axis=1)


def washed_out_share(images: np.ndarray, reference: np.ndarray, *, quantile: float = 0.05,
                     size: int = 64) -> float:
    """Share of `images` whose lung contrast is below the `quantile` of real `reference` images' (washed out)."""
    limit = np.quantile(lung_contrast(reference, size), quantile)
    return float((lung_contrast(images, size) < limit).mean())


def fakes(real: np.ndarray, seed: int = 0) -> dict[str, np.ndarray]:
    """The simple fakes of the same count: Gaussian blur (sigma 1.5 px at 64 px), real + noise (sigma 0.1) and
    the mean image + noise (sigma 0.1), clipped to [0, 1]."""
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    real = np.asarray(real, dtype=np.float32)
    sigma = 1.5 * real.shape[-1] / 64
    blurred = np.stack([gaussian_filter(im, sigma) for im in real])
    noisy = np.clip(real + rng.normal(0, 0.1, real.shape), 0, 1)
    mean = np.clip(real.mean(0, keepdims=True) + rng.normal(0, 0.1, real.shape), 0, 1)
    return dict(zip(FAKES, (blurred, noisy, mean), strict=True))
