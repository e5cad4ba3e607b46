"""The classifier's image pool: a data set decoded a batch at a time reads the same images as one kept in memory."""

from __future__ import annotations

from pathlib import Path

import torch

from models.classifier.pool import ImagePool
from models.data.nih import NIHChestXray

NIH = Path(__file__).resolve().parent / "fixtures" / "nih"


def test_a_pool_over_the_memory_budget_reads_the_same_images_and_labels_with_extra_ones_after():
    ds = NIHChestXray(NIH, "train", 32)
    extra = (torch.full((2, 1, 32, 32), 0.25), torch.ones(2, len(ds.label_names)))
    kept = ImagePool.of(ds, 32, extra=extra)
    streamed = ImagePool.of(ds, 32, extra=extra, threads=2, budget_bytes=0)  # as a full-size set: never cached
    assert len(kept) == len(streamed) == len(ds) + 2
    assert torch.equal(kept.labels, streamed.labels)
    assert torch.equal(kept.labels[: len(ds)], torch.from_numpy(ds.labels_matrix()).float())
    picks = [len(ds) + 1, 3, 0, 3]
    assert torch.equal(kept.images(picks), streamed.images(picks))
    assert torch.equal(streamed.images([0])[0], (ds[0]["image"] + 1) / 2)
    assert torch.equal(streamed.images([len(ds)])[0], extra[0][0])
    assert torch.equal(torch.cat(list(streamed.chunks(size=5))), kept.images(range(len(kept))))
    assert not hasattr(streamed.source, "cache")
    streamed.close()
