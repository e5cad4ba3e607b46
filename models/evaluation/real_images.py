"""Real images of the realism splits as arrays in [0, 1], and the simple fakes made from them."""

from __future__ import annotations

import numpy as np


def images_of(ds, idx=None) -> np.ndarray:
    idx = range(len(ds)) if idx is None else idx
    return np.stack([((ds[i]["image"][0] + 1) / 2).numpy() for i in idx])


def real_split(roots: list[str], split: str, size: int, native_only: bool = False):
    """(images, labels, ids) of one realism split; `native_only` keeps images stored at >= size px."""
    from models.cli.superres import native_records
    from models.data.nih import NIHRealismSplit

    ds = NIHRealismSplit(roots, {split}, size)
    if native_only:
        native_records(ds, size)
    images = np.stack([((ds[i]["image"][0] + 1) / 2).numpy() for i in range(len(ds))])
    return images, [r.labels or ["No Finding"] for r in ds.records], [r.key for r in ds.records], ds


def real_images(roots: list[str], split: str, n: int | None = None):
    from models.data.nih import NIHRealismSplit

    ds = NIHRealismSplit(roots, {split}, 64)
    count = len(ds) if n is None else min(n, len(ds))
    images = np.stack([((ds[i]["image"][0] + 1) / 2).numpy() for i in range(count)])
    return images, [ds.records[i].labels or ["No Finding"] for i in range(count)]


def bicubic(low: np.ndarray, size: int) -> np.ndarray:
    """Images (N, h, w) in [0, 1] brought to `size` px by bicubic interpolation."""
    import torch
    import torch.nn.functional as F  # noqa: N812

    x = torch.from_numpy(low)[:, None]
    return F.interpolate(x, size=(size, size), mode="bicubic", align_corners=False).clamp(0, 1)[:, 0].numpy()
