"""A procedural chest phantom with drawn lesions of known mask: ground truth for explanation localisation.

Each image is generated deterministically from (seed, index): a body outline, two lung fields, a heart on the
image's right (the patient's left, as in a PA film), ribs, smooth exposure variation and noise. A lesion of one
of four kinds may be drawn, and its mask is returned: a round mass in a lung, a patchy consolidation in a lower
zone, a pleural effusion filling a lung base, or an enlarged heart (mask: the enlargement).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.ndimage import gaussian_filter

from models.data.base import ImageDataset, Record

PHANTOM_FINDINGS = ("Mass", "Consolidation", "Effusion", "Cardiomegaly", "No Finding")


def ellipse(h: int, w: int, cy: float, cx: float, ry: float, rx: float) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    return ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1.0


def phantom(size: int, finding: str | None, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One image in [0, 1] (size, size) and the boolean mask of its lesion (empty for None)."""
    s = size
    j = lambda scale: rng.uniform(-scale, scale) * s  # noqa: E731 - small positional jitter
    img = np.full((s, s), 0.08, dtype=np.float32)
    body = ellipse(s, s, 0.55 * s + j(0.02), 0.5 * s + j(0.02), 0.5 * s, 0.44 * s)
    img[body] = 0.55
    lung_r = ellipse(s, s, 0.47 * s + j(0.02), 0.31 * s + j(0.015), 0.28 * s, 0.13 * s)  # patient's right
    lung_l = ellipse(s, s, 0.47 * s + j(0.02), 0.69 * s + j(0.015), 0.27 * s, 0.12 * s)
    lungs = lung_r | lung_l
    img[lungs] = 0.18
    heart_c = (0.62 * s + j(0.015), 0.57 * s + j(0.015))
    heart_r = (0.13 * s, 0.14 * s)
    heart = ellipse(s, s, *heart_c, *heart_r)
    img[heart] = 0.62
    yy, xx = np.mgrid[0:s, 0:s]
    for k in range(6):  # ribs: bright arcs over the lungs
        y0 = 0.24 * s + k * 0.085 * s + j(0.005)
        arc = np.abs(yy - (y0 + 0.0025 * (xx - s / 2) ** 2 / s * 4)) < max(1.0, 0.012 * s)
        img[arc & lungs] += 0.12
    spine = slice(int(0.47 * s), int(0.53 * s))
    img[:, spine] = np.maximum(img[:, spine], 0.5 * body[:, spine])
    mask = np.zeros((s, s), dtype=bool)
    if finding == "Mass":
        side = lung_r if rng.random() < 0.5 else lung_l
        ys, xs = np.nonzero(side)
        i = rng.integers(len(ys))
        r = rng.uniform(0.05, 0.08) * s
        mask = ellipse(s, s, ys[i], xs[i], r, r) & side
        img[mask] = 0.62
    elif finding == "Consolidation":
        side = lung_r if rng.random() < 0.5 else lung_l
        field = gaussian_filter(rng.random((s, s)), 0.06 * s)
        lower = yy > 0.5 * s
        region = side & lower
        thr = np.quantile(field[region], 0.45) if region.any() else 1.0
        mask = region & (field > thr)
        img[mask] = 0.18 + 0.3 * np.clip((field[mask] - thr) / (field.max() - thr + 1e-6) + 0.5, 0, 1)
    elif finding == "Effusion":
        side = lung_r if rng.random() < 0.5 else lung_l
        ys = np.nonzero(side)[0]
        level = ys.max() - rng.uniform(0.25, 0.4) * (ys.max() - ys.min())
        mask = side & (yy > level + 0.02 * s * np.cos((xx / s) * np.pi))  # a meniscus-like surface
        img[mask] = 0.5
    elif finding == "Cardiomegaly":
        big = ellipse(s, s, heart_c[0] - 0.02 * s, heart_c[1] + 0.02 * s, heart_r[0] * 1.45, heart_r[1] * 1.6) & body
        mask = big & ~heart
        img[big] = 0.62
    exposure = gaussian_filter(rng.normal(0, 1, (s, s)), 0.2 * s)
    img = img + 0.05 * exposure / (np.abs(exposure).max() + 1e-6)
    img = gaussian_filter(img, 0.012 * s) + rng.normal(0, 0.02, (s, s))
    return np.clip(img, 0, 1).astype(np.float32), mask


class ChestPhantom(ImageDataset):
    """`n` phantom images; a fraction `p_lesion` carry one lesion, the rest are "No Finding"."""

    def __init__(self, n: int, resolution: int = 64, *, seed: int = 0, p_lesion: float = 0.6,
                 findings: Sequence[str] = PHANTOM_FINDINGS[:-1]):
        rng = np.random.default_rng(seed)
        records = []
        for i in range(n):
            kind = str(rng.choice(list(findings))) if rng.random() < p_lesion else None
            records.append(Record(key=f"phantom-{seed}-{i}", labels=[kind or "No Finding"], group=str(i),
                                  meta={"seed": int(seed * 1_000_003 + i), "finding": kind}))
        self.size = resolution
        super().__init__(records, PHANTOM_FINDINGS, resolution)

    def render(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        meta = self.records[i].meta
        return phantom(self.size, meta["finding"], np.random.default_rng(meta["seed"]))

    def load_pixels(self, record: Record) -> np.ndarray:
        return phantom(self.size, record.meta["finding"], np.random.default_rng(record.meta["seed"]))[0]
