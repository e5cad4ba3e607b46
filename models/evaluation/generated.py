"""Sampling for evaluations: one image per (findings, seed) request, in batches, at a guidance setting."""

from __future__ import annotations

import numpy as np

from models.vocabulary.sampler_defaults import DEFAULT_SAMPLER

BATCH = 32


MIX_SEED, NORMAL_SEED, FINDING_SEED = 50_000, 70_000, 80_000


EVERY_STEP = (0.0, 1.0)  # a guidance interval covering the whole schedule


def sample(pipe, requests: list[tuple], setting: dict, bar_update=None,
           redraw_noise: bool | None = None) -> tuple[np.ndarray, list[int], list[int]]:
    """One 64-px image per (findings, seed) request, in batches, at a guidance setting: the images, the seeds
    they came from and each one's noise redraws (the model's noise check, as the service runs it)."""
    images, seeds, redraws = [], [], []
    for start in range(0, len(requests), BATCH):
        chunk = [(names, [seed]) for names, seed in requests[start:start + BATCH]]
        for o in pipe.sample_requests(chunk, guidance_scale=setting["cfg"], resolution=pipe.resolutions[0],
                                      classifier_scale=setting["classifier_scale"], redraw_noise=redraw_noise,
                                      guidance_interval=setting.get("cfg_interval") or EVERY_STEP,
                                      guidance_rescale=setting.get("guidance_rescale", 0.0)):
            images.append(o.images[0])
            seeds.append(o.seeds[0])
            redraws.append(o.extra.get("noise_redraws", [0])[0])
        if bar_update:
            bar_update(min(start + BATCH, len(requests)), len(requests), "base 64 px", {})
    return np.stack(images), seeds, redraws


def sample_per_label(pipe, labels: list[list[str]], *, sampler: str = DEFAULT_SAMPLER, steps: int = 15,
                     guidance: float = 2.0, seed: int = 50_000) -> np.ndarray:
    """One 64-px image per label set (seed + its index), in batches of 32, without classifier guidance."""
    requests = [(names, [seed + i]) for i, names in enumerate(labels)]
    out = []
    for start in range(0, len(requests), 32):
        out += [o.images[0] for o in pipe.sample_requests(requests[start:start + 32], sampler=sampler,
                                                          num_inference_steps=steps, guidance_scale=guidance,
                                                          classifier_scale=0.0, resolution=64)]
    return np.stack(out)


def eligible_findings(train_ds) -> list[str]:
    """The findings label agreement is averaged over: at least 30 training images, "No Finding" aside."""
    from models.vocabulary.findings import NO_FINDING

    return [f for f, c in train_ds.label_counts().items() if c >= 30 and f != NO_FINDING]
