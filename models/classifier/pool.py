"""The images a classifier trains or is scored on, decoded a batch at a time (never a whole full-size set)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

import torch
from torch.utils.data import Dataset

from models.data.base import ImageDataset
from models.training_utils import maybe_cache

CHUNK = 256  # images decoded and scored at a time when a whole split is read


class ImagePool:
    """Grey [0, 1] images (N, 1, R, R) by index, with every label known up front (read from the records).

    A data set's images are decoded when a batch asks for them (decoded once and kept when the whole set fits a
    512 MB budget, as the small bundled sets do); images already in memory (generated ones) follow them."""

    def __init__(self, labels: torch.Tensor, source: Dataset | None = None, memory: torch.Tensor | None = None,
                 threads: int = 0):
        self.labels = labels
        self.source = source
        self.memory = memory
        self.n_source = len(source) if source is not None else 0
        self.executor = ThreadPoolExecutor(threads) if threads > 0 and source is not None else None

    @classmethod
    def of(cls, ds: ImageDataset, resolution: int, *, extra: tuple[torch.Tensor, torch.Tensor] | None = None,
           threads: int = 0, budget_bytes: int = 512 * 2**20) -> ImagePool:
        """A data set (then `extra` images and labels, already in [0, 1]) at `resolution`."""
        labels = torch.from_numpy(ds.labels_matrix()).float()
        memory = None
        if extra is not None:
            labels, memory = torch.cat([labels, extra[1].float()]), extra[0]
        return cls(labels, maybe_cache(ds, resolution, budget_bytes), memory, threads)

    @classmethod
    def from_tensors(cls, images: torch.Tensor, labels: torch.Tensor) -> ImagePool:
        return cls(labels, None, images)

    def __len__(self) -> int:
        return self.labels.shape[0]

    def _decode(self, i: int) -> torch.Tensor:
        return (self.source[i]["image"] + 1) / 2

    def images(self, indices: Sequence[int]) -> torch.Tensor:
        indices = [int(i) for i in indices]
        from_source = [i for i in indices if i < self.n_source]
        decoded = dict(zip(from_source, self.executor.map(self._decode, from_source) if self.executor
                           else map(self._decode, from_source), strict=True))
        return torch.stack([decoded[i] if i < self.n_source else self.memory[i - self.n_source] for i in indices])

    def chunks(self, size: int = CHUNK) -> Iterator[torch.Tensor]:
        """Every image in order, `size` at a time."""
        for start in range(0, len(self), size):
            yield self.images(range(start, min(start + size, len(self))))

    def close(self) -> None:
        if self.executor:
            self.executor.shutdown()


def as_pool(pool: ImagePool | tuple[torch.Tensor, torch.Tensor]) -> ImagePool:
    return pool if isinstance(pool, ImagePool) else ImagePool.from_tensors(*pool)
