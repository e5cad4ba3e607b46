"""An exponential moving average of a network's weights and batch-norm statistics, for small-data training."""

from __future__ import annotations

import torch
from torch import nn


class WeightAverage:
    """Keeps `decay * average + (1 - decay) * current` of every floating-point tensor in the state dict.

    Averaging the last few hundred steps smooths the noise of small batches on a small data set, so the epoch a
    member keeps depends less on one lucky validation score."""

    def __init__(self, model: nn.Module, decay: float):
        if not 0 < decay < 1:
            raise ValueError(f"decay must lie in (0, 1), not {decay}")
        self.decay = decay
        self.state = {k: v.detach().clone() for k, v in model.state_dict().items()}

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        for key, value in model.state_dict().items():
            if value.is_floating_point():
                self.state[key].lerp_(value.detach(), 1 - self.decay)
            else:
                self.state[key].copy_(value)

    def swap_in(self, model: nn.Module) -> dict[str, torch.Tensor]:
        """Load the average into `model`; returns the live weights so training can go on from them."""
        live = {k: v.detach().clone() for k, v in model.state_dict().items()}
        model.load_state_dict(self.state)
        return live
