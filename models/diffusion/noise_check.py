"""The noise check: a generated image rougher than almost every real training image is pixel noise, not anatomy;
one with less structure than almost every real training image is a featureless grey field, and one with less
contrast over the chest than almost every real training image is a washed-out haze: neither is a radiograph.

Roughness is the mean neighbour difference at the base size (`models.metrics.realism.roughness`), structure the
band-pass energy at the scale of ribs and edges (`models.metrics.realism.structure`), contrast the spread of grey
values over the chest (`models.metrics.realism.lung_contrast`). The limits are a high quantile of roughness and a
low quantile of structure and of contrast of the generator's own training images, so a real radiograph fails each
only that often; the pipeline redraws failing base images on new seeds before they reach
super-resolution or the user.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from models.metrics.realism import lung_contrast, roughness, structure

DEFAULT_QUANTILE = 0.99  # a real training image is redrawn 1 time in 100: cheap, and rare enough to keep the tail
STRUCTURE_QUANTILE = 0.01  # and 1 time in 100 for too little structure
DEFAULT_ATTEMPTS = 2  # a model's radsynth.json (noise_check.max_attempts) says its own, chosen on V


@dataclass(frozen=True)
class NoiseCheck:
    """Redraw base images rougher than `roughness_limit` or (when set) with less band-pass structure than
    `structure_limit` or less chest contrast than `contrast_limit` (all measured at `size` px), up to
    `max_attempts` times."""

    roughness_limit: float
    structure_limit: float | None = None
    size: int = 64
    quantile: float = DEFAULT_QUANTILE
    images: int = 0
    dataset: str = ""
    max_attempts: int = DEFAULT_ATTEMPTS
    contrast_limit: float | None = None

    def too_rough(self, images: np.ndarray) -> np.ndarray:
        """Boolean mask of images (N, H, W) in [0, 1] rougher than the limit."""
        return roughness(images, self.size) > self.roughness_limit

    def featureless(self, images: np.ndarray) -> np.ndarray:
        """Boolean mask of images with less structure than the limit (none without a structure limit)."""
        if self.structure_limit is None:
            return np.zeros(len(images), dtype=bool)
        return structure(images, self.size) < self.structure_limit

    def washed_out(self, images: np.ndarray) -> np.ndarray:
        """Boolean mask of images with less chest contrast than the limit (none without a contrast limit)."""
        if self.contrast_limit is None:
            return np.zeros(len(images), dtype=bool)
        return lung_contrast(images, self.size) < self.contrast_limit

    def fails(self, images: np.ndarray) -> np.ndarray:
        """Images to redraw: pixel noise, featureless or washed out (too rough, too little structure or
        contrast)."""
        return self.violation(images) > 0

    def violation(self, images: np.ndarray) -> np.ndarray:
        """How far each image is beyond the limits, as a share of them (<= 0: it passes): of several failing
        candidates, the one with the smallest is the least noisy, featureless or washed out."""
        worst = (roughness(images, self.size) - self.roughness_limit) / max(abs(self.roughness_limit), 1e-12)
        for limit, measure in ((self.structure_limit, structure), (self.contrast_limit, lung_contrast)):
            if limit is not None:
                worst = np.maximum(worst, (limit - measure(images, self.size)) / max(abs(limit), 1e-12))
        return worst

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, info: dict | None) -> NoiseCheck | None:
        if not info:
            return None
        return cls(**{k: info[k] for k in cls.__dataclass_fields__ if k in info})


def fit_noise_check(real: np.ndarray, *, quantile: float = DEFAULT_QUANTILE, size: int = 64, dataset: str = "",
                    max_attempts: int = DEFAULT_ATTEMPTS) -> NoiseCheck:
    """The check whose limits are the `quantile` of the roughness of `real` (N, H, W) training images and the
    1 - `quantile` of their structure and chest contrast."""
    if not 0.5 <= quantile <= 1.0:
        raise ValueError("quantile must be in [0.5, 1]")
    if len(real) < 20:
        raise ValueError(f"a roughness limit needs at least 20 real images, got {len(real)}")
    limit = float(np.quantile(roughness(real, size), quantile))
    floor = float(np.quantile(structure(real, size), 1.0 - quantile))
    contrast = float(np.quantile(lung_contrast(real, size), 1.0 - quantile))
    return NoiseCheck(roughness_limit=limit, structure_limit=floor, size=size, quantile=quantile, images=len(real),
                      dataset=dataset, max_attempts=max_attempts, contrast_limit=contrast)
