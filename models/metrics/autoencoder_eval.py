"""Does an autoencoder keep a radiograph's anatomy? Reconstructions of real held-out images against the originals,
beside the simple alternative a latent stage must beat: the same image shrunk to 64 px and brought back with
bicubic. Measured: PSNR, and the power of the upper half of the radial spectrum relative to the originals' (log10;
0 is the originals', blur and bicubic sit below it, speckle above)."""

from __future__ import annotations

import numpy as np
import torch

from models.data.preprocess import resize
from models.metrics.superres_eval import psnr, radial_power_spectrum


def high_frequency_power(images: np.ndarray, reference: np.ndarray, *, from_fraction: float = 0.5) -> float:
    """Mean log10 power ratio of `images` to `reference` over the upper frequencies (signed: below 0 is missing
    detail)."""
    p, q = radial_power_spectrum(images), radial_power_spectrum(reference)
    start = int(len(p) * from_fraction)
    return float(np.log10(p[start:] / q[start:]).mean())


@torch.no_grad()
def reconstruct(vae, images: np.ndarray, batch: int = 8) -> np.ndarray:
    """(N, S, S) images in [0, 1] through the autoencoder (the posterior's mode), back in [0, 1]."""
    out = []
    for i in range(0, len(images), batch):
        x = torch.from_numpy(np.asarray(images[i:i + batch], np.float32))[:, None] * 2 - 1
        out.append(((vae.decode(vae.encode(x).latent_dist.mode()).sample[:, 0] + 1) / 2).clamp(0, 1).numpy())
    return np.concatenate(out)


def bicubic_from(images: np.ndarray, low: int = 64) -> np.ndarray:
    """Each image shrunk to `low` px with the pinned filter and brought back with bicubic interpolation."""
    size = images.shape[-1]
    small = torch.from_numpy(np.stack([resize(im, low) for im in images]))[:, None]
    up = torch.nn.functional.interpolate(small, size=(size, size), mode="bicubic", align_corners=False)
    return up[:, 0].clamp(0, 1).numpy()


def measures(outputs: dict[str, np.ndarray], images: np.ndarray, *, fid: bool = False) -> dict[str, dict[str, float]]:
    """PSNR (mean dB) and high-frequency power of each set of outputs against the `images` they stand for; with
    `fid`, also FID to them in a fixed random CNN's features."""
    rows = {name: {"psnr_db": float(psnr(out, images).mean()),
                   "high_frequency_power_log10": high_frequency_power(out, images)} for name, out in outputs.items()}
    if fid:
        from models.metrics.fid import frechet_distance
        from models.metrics.realism import random_cnn_features

        features = random_cnn_features(size=images.shape[-1])
        reference = features(images)
        for name, out in outputs.items():
            rows[name]["fid_random_cnn"] = frechet_distance(reference, features(out))
    return rows


def evaluate(vae, images: np.ndarray) -> dict[str, dict[str, float]]:
    """PSNR (mean dB) and high-frequency power of the reconstructions and of 64-px + bicubic, on `images`."""
    return measures({"autoencoder": reconstruct(vae, images), "real 64 px + bicubic": bicubic_from(images)}, images)


def comparison_figure(vae, images: np.ndarray, path, *, crop: int = 96) -> None:
    """Rows: original, autoencoder, 64 px + bicubic; columns: whole images, then the centre-left crop (ribs)."""
    rows = {"original": images, "autoencoder": reconstruct(vae, images), "64 px + bicubic": bicubic_from(images)}
    rows_figure(rows, path, "Held-out radiographs (V), their autoencoder reconstructions and 64 px + bicubic; right "
                "of each: a zoomed crop", crop=crop)


def rows_figure(rows: dict[str, np.ndarray], path, title: str, *, crop: int = 96) -> None:
    """One row per named set of images; each image beside its centre-left crop (where the ribs are)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(next(iter(rows.values())))
    fig, axes = plt.subplots(len(rows), 2 * n, figsize=(2.2 * 2 * n, 2.35 * len(rows)), squeeze=False)
    size = next(iter(rows.values())).shape[-1]
    y0, x0 = size // 4, size // 8
    for r, (name, stack) in enumerate(rows.items()):
        for i in range(n):
            axes[r, 2 * i].imshow(stack[i], cmap="gray", vmin=0, vmax=1)
            axes[r, 2 * i + 1].imshow(stack[i][y0:y0 + crop, x0:x0 + crop], cmap="gray", vmin=0, vmax=1)
        axes[r, 0].set_ylabel(name)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
