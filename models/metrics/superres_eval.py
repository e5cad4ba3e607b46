"""How close super-resolved images come to the real high-resolution originals: PSNR and SSIM per image (fidelity),
FID in a fixed random CNN at full size (realism of the set) and the radially averaged power spectrum (does the
fine detail have the right energy; bicubic upsampling lacks it, noise has too much)."""

from __future__ import annotations

import numpy as np


def psnr(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-image PSNR in dB of (N, H, W) images in [0, 1]."""
    mse = ((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2).mean(axis=(1, 2))
    return 10 * np.log10(1.0 / np.maximum(mse, 1e-12))


def ssim(a: np.ndarray, b: np.ndarray, *, sigma: float = 1.5) -> np.ndarray:
    """Per-image SSIM (Gaussian window, sigma 1.5 px, Wang et al. 2004 constants) of images in [0, 1]."""
    from scipy.ndimage import gaussian_filter

    c1, c2 = 0.01**2, 0.03**2
    out = []
    for x, y in zip(np.asarray(a, np.float64), np.asarray(b, np.float64), strict=True):
        mx, my = gaussian_filter(x, sigma), gaussian_filter(y, sigma)
        vx = gaussian_filter(x * x, sigma) - mx**2
        vy = gaussian_filter(y * y, sigma) - my**2
        cov = gaussian_filter(x * y, sigma) - mx * my
        s = ((2 * mx * my + c1) * (2 * cov + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
        out.append(s.mean())
    return np.asarray(out)


def radial_power_spectrum(images: np.ndarray) -> np.ndarray:
    """Mean radially averaged power spectrum of (N, S, S) images (mean removed per image), one value per integer
    frequency 1..S/2 (cycles per image)."""
    x = np.asarray(images, np.float64)
    x = x - x.mean(axis=(1, 2), keepdims=True)
    power = (np.abs(np.fft.fftshift(np.fft.fft2(x), axes=(1, 2))) ** 2).mean(0)
    size = x.shape[-1]
    yy, xx = np.indices(power.shape) - size // 2
    radius = np.hypot(yy, xx).round().astype(int)
    sums = np.bincount(radius.ravel(), power.ravel())
    counts = np.bincount(radius.ravel())
    return (sums / np.maximum(counts, 1))[1:size // 2 + 1]


def spectrum_distance(images: np.ndarray, reference: np.ndarray, *, from_fraction: float = 0.25) -> float:
    """Mean |log10 power ratio| over the upper frequencies (from `from_fraction` of Nyquist): 0 is the real
    spectrum; bicubic upsampling sits far below it there, noise above."""
    p, q = radial_power_spectrum(images), radial_power_spectrum(reference)
    start = int(len(p) * from_fraction)
    return float(np.abs(np.log10(p[start:] / q[start:])).mean())


def compare(candidates: dict[str, np.ndarray], reference: np.ndarray, *, features=None) -> dict[str, dict]:
    """Per candidate set (each aligned with `reference`, same shapes): PSNR, SSIM (means), FID in `features`
    (default: the random CNN at the reference's size) and the high-frequency spectrum distance."""
    from models.metrics.fid import frechet_distance
    from models.metrics.realism import random_cnn_features

    features = features or random_cnn_features(size=reference.shape[-1])
    ref_f = features(reference)
    out = {}
    for name, images in candidates.items():
        out[name] = {"psnr_db": float(psnr(images, reference).mean()), "ssim": float(ssim(images, reference).mean()),
                     "fid_random_cnn": frechet_distance(ref_f, features(images)),
                     "spectrum_distance": spectrum_distance(images, reference)}
    return out
