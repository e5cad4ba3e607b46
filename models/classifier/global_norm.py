"""Batch normalisation over the global batch under torch.distributed, on CPU ranks (gloo) too.

torch's SyncBatchNorm runs on GPUs only; with plain BatchNorm each CPU rank would normalise by its own share's
statistics, so two ranks would not train the network one process trains. GlobalBatchNorm2d sums each channel's
count, sum and sum of squares over the ranks with a differentiable all-reduce and normalises by those. It keeps
BatchNorm2d's parameters and buffers, so a trained member's state dict is unchanged.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.nn.functional import all_reduce


class GlobalBatchNorm2d(nn.BatchNorm2d):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        c = x.shape[1]
        local = torch.cat([x.sum((0, 2, 3)), (x * x).sum((0, 2, 3)),
                           x.new_tensor([x.numel() / c])])
        total = all_reduce(local)
        n = total[-1]
        mean = total[:c] / n
        var = (total[c:2 * c] / n - mean * mean).clamp_min(0)
        with torch.no_grad():
            m = self.momentum if self.momentum is not None else 0.1
            self.running_mean.mul_(1 - m).add_(m * mean.detach())
            self.running_var.mul_(1 - m).add_(m * var.detach() * n / (n - 1).clamp_min(1))
            self.num_batches_tracked += 1
        shape = (1, c, 1, 1)
        y = (x - mean.view(shape)) / torch.sqrt(var.view(shape) + self.eps)
        return y * self.weight.view(shape) + self.bias.view(shape) if self.affine else y


def synchronise_batch_norm(module: nn.Module, device: torch.device) -> nn.Module:
    """Make every BatchNorm2d of `module` normalise over the global batch: torch's SyncBatchNorm on GPUs,
    GlobalBatchNorm2d elsewhere (the same parameters and buffers, in place)."""
    if device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    for sub in module.modules():
        if type(sub) is nn.BatchNorm2d:
            sub.__class__ = GlobalBatchNorm2d
    return module
