"""Execution speed-ups for a FindingUNet: channels_last layout and torch.compile, applied in place."""

from __future__ import annotations

import torch

from models.diffusion.unet import FindingUNet

# torch.compile keeps one graph per input shape (dynamic=False); a worker sees a handful of batch sizes
# (each job's images, doubled for guidance, plus cross-job batches), so allow more than dynamo's default 8.
COMPILED_SHAPES = 32


def optimize_unet(unet: FindingUNet, *, channels_last: bool = False, compile: bool = False) -> FindingUNet:
    """Switch `unet` to channels_last and/or compile its inner diffusers UNet; weights and config are untouched.

    The first call at each new batch shape pays the compilation (tens of seconds); later calls reuse the graph.
    """
    if channels_last:
        unet.to(memory_format=torch.channels_last)
    if compile:
        from torch._dynamo import config as dynamo_config

        dynamo_config.cache_size_limit = max(dynamo_config.cache_size_limit, COMPILED_SHAPES)
        unet.unet.compile(dynamic=False)
    return unet
