"""The noise check: a generated image rougher than almost every real training image is pixel noise, not anatomy.

Roughness is the mean neighbour difference at the base size (`models.metrics.realism.roughness`). The limit is a
high quantile of the generator's own training images, so a real radiograph would exceed it only that often; the
pipeline redraws base images above it on new seeds before they reach super-resolution or the user.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from models.metrics.realism import roughness

DEFAULT_QUANTILE = 0.99  # a real training image is redrawn 1 time in 100: cheap, and rare enough to keep the tail
DEFAULT_ATTEMPTS = 2


@dataclass(frozen=True)
class NoiseCheck:
    """Redraw base images rougher than `roughness_limit` (measured at `size` px), up to `max_attempts` times."""

    roughness_limit: float
    size: int = 64
    quantile: float = DEFAULT_QUANTILE
    images: int = 0
    dataset: str = ""
    max_attempts: int = DEFAULT_ATTEMPTS

    def too_rough(self, images: np.ndarray) -> np.ndarray:
        """Boolean mask of images (N, H, W) in [0, 1] rougher than the limit."""
        return roughness(images, self.size) > self.roughness_limit

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, info: dict | None) -> NoiseCheck | None:
        if not info:
            return None
        return cls(**{k: info[k] for k in cls.__dataclass_fields__ if k in info})


def fit_noise_check(real: np.ndarray, *, quantile: float = DEFAULT_QUANTILE, size: int = 64, dataset: str = "",
                    max_attempts: int = DEFAULT_ATTEMPTS) -> NoiseCheck:
    """The check whose limit is the `quantile` of the roughness of `real` (N, H, W) training images."""
    if not 0.5 <= quantile <= 1.0:
        raise ValueError("quantile must be in [0.5, 1]")
    if len(real) < 20:
        raise ValueError(f"a roughness limit needs at least 20 real images, got {len(real)}")
    limit = float(np.quantile(roughness(real, size), quantile))
    return NoiseCheck(roughness_limit=limit, size=size, quantile=quantile, images=len(real), dataset=dataset,
                      max_attempts=max_attempts)
