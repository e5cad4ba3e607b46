"""The member network: a small CNN with one logit per finding and an exposed feature layer."""

from __future__ import annotations

import torch
from torch import nn


def conv_block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.SiLU(),
        nn.Conv2d(c_out, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.SiLU(),
        nn.MaxPool2d(2),
    )


def stem_layers(width: int, stem: int) -> tuple[list[nn.Module], int]:
    """A cheap downsampling stem (a strided 7x7 conv, then max pooling) dividing the input side by `stem`.

    At 256 px the four blocks would cost about 20 times more without it; large inputs keep their fine detail in
    the stem's first layer and the blocks then work at the cost of a 64-px input."""
    if stem == 1:
        return [], 1
    if stem not in (2, 4):
        raise ValueError(f"stem must be 1, 2 or 4, not {stem}")
    layers: list[nn.Module] = [nn.Conv2d(1, width // 2, 7, stride=2, padding=3, bias=False),
                               nn.BatchNorm2d(width // 2), nn.SiLU()]
    if stem == 4:
        layers.append(nn.MaxPool2d(2))
    return layers, width // 2


class FindingCNN(nn.Module):
    """An optional downsampling stem, four conv blocks, global average pooling, dropout and a linear head
    (K independent logits)."""

    def __init__(self, num_findings: int, width: int = 32, dropout: float = 0.3, stem: int = 1):
        super().__init__()
        widths = [width, width * 2, width * 4, width * 4]
        blocks, c_in = stem_layers(width, stem)
        for c in widths:
            blocks.append(conv_block(c_in, c))
            c_in = c
        self.trunk = nn.Sequential(*blocks)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(c_in, num_findings)
        self.feature_dim = c_in

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled trunk features (N, D): the domain features used for FID/KID and memorisation."""
        return self.trunk(x).mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.features(x)))
