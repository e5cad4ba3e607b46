"""Augmentations that keep chest anatomy plausible: small affine jitter and exposure, never flips."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from models.data.preprocess import resize


def random_affine(images: torch.Tensor, *, max_degrees: float = 5.0, max_shift: float = 0.04,
                  scale_range: tuple[float, float] = (0.95, 1.05),
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """Rotate, shift and scale a batch (B, C, H, W) slightly; borders fill with the image minimum (-1)."""
    b = images.shape[0]
    dev = images.device
    u = torch.rand(b, 4, generator=generator).to(dev)
    angle = (u[:, 0] * 2 - 1) * math.radians(max_degrees)
    scale = scale_range[0] + u[:, 1] * (scale_range[1] - scale_range[0])
    tx = (u[:, 2] * 2 - 1) * max_shift * 2
    ty = (u[:, 3] * 2 - 1) * max_shift * 2
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    shifted = F.grid_sample(images + 1, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return shifted - 1


def random_exposure(images: torch.Tensor, *, contrast: float = 0.1, brightness: float = 0.05,
                    generator: torch.Generator | None = None) -> torch.Tensor:
    """Jitter contrast and brightness in [-1, 1] space, then clip."""
    b = images.shape[0]
    u = torch.rand(b, 2, generator=generator).to(images.device)
    c = 1 + (u[:, 0] * 2 - 1) * contrast
    br = (u[:, 1] * 2 - 1) * brightness * 2
    return (images * c.view(b, 1, 1, 1) + br.view(b, 1, 1, 1)).clamp(-1, 1)


def random_gamma(images: torch.Tensor, spread: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Raise [-1, 1] images (as [0, 1]) to a power drawn from [1 - spread, 1 + spread]: a different exposure curve."""
    u = torch.rand(images.shape[0], generator=generator).to(images.device)
    power = (1 + (u * 2 - 1) * spread).view(-1, 1, 1, 1)
    return ((images + 1) / 2).clamp(0, 1).pow(power) * 2 - 1


def random_low_resolution(images: torch.Tensor, probability: float, factor: int = 4,
                          generator: torch.Generator | None = None) -> torch.Tensor:
    """With `probability` per image, shrink by `factor` and bring it back with the data pipeline's filter: the
    look of an image stored small and upsampled, so sharpness stops telling a network where an image came from."""
    pick = torch.rand(images.shape[0], generator=generator) < probability
    if not pick.any():
        return images
    out = images.clone()
    side = images.shape[-1]
    for i in torch.nonzero(pick).flatten().tolist():
        small = resize(images[i, 0].cpu().numpy(), max(1, side // factor))
        out[i, 0] = torch.from_numpy(np.array(resize(small, side))).to(images)
    return out


def augment(images: torch.Tensor, generator: torch.Generator | None = None, gamma: float = 0.0) -> torch.Tensor:
    """The default training augmentation (no horizontal flip: the heart is on the left); `gamma` > 0 adds
    gamma jitter."""
    out = random_exposure(random_affine(images, generator=generator), generator=generator)
    return random_gamma(out, gamma, generator=generator) if gamma > 0 else out
