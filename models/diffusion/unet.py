"""A diffusers UNet2DModel conditioned on multi-hot findings, with a learned 'unconditional' input.

The label vector has one entry per finding plus a final null flag: label dropout during training
replaces the findings with the null flag, which classifier-free guidance uses as its unconditional half.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from diffusers import UNet2DModel
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn

from models.vocabulary.findings import resolve


class FindingUNet(ModelMixin, ConfigMixin):
    """UNet2DModel whose time embedding is shifted by a linear projection of the finding vector."""

    config_name = "config.json"

    @register_to_config
    def __init__(
        self,
        *,
        findings: Sequence[str],
        sample_size: int = 64,
        in_channels: int = 1,
        block_out_channels: Sequence[int] = (64, 128, 256, 256),
        layers_per_block: int = 2,
        down_block_types: Sequence[str] = ("DownBlock2D", "DownBlock2D", "AttnDownBlock2D", "DownBlock2D"),
        up_block_types: Sequence[str] = ("UpBlock2D", "AttnUpBlock2D", "UpBlock2D", "UpBlock2D"),
        attention_head_dim: int = 8,
        norm_num_groups: int = 32,
        dropout: float = 0.0,
    ):
        super().__init__()
        time_dim = block_out_channels[0] * 4
        self.unet = UNet2DModel(
            sample_size=sample_size,
            in_channels=in_channels,
            out_channels=in_channels,
            block_out_channels=tuple(block_out_channels),
            layers_per_block=layers_per_block,
            down_block_types=tuple(down_block_types),
            up_block_types=tuple(up_block_types),
            attention_head_dim=attention_head_dim,
            norm_num_groups=norm_num_groups,
            dropout=dropout,
            class_embed_type="identity",
        )
        self.label_proj = nn.Sequential(
            nn.Linear(len(findings) + 1, time_dim), nn.SiLU(), nn.Linear(time_dim, time_dim)
        )

    @property
    def findings(self) -> list[str]:
        return list(self.config.findings)

    def encode_findings(self, findings: Sequence[str] | str, batch: int) -> torch.Tensor:
        """Multi-hot vector (batch, K+1) for the named findings (resolved forgivingly)."""
        names = resolve(findings, self.findings)
        vec = torch.zeros(len(self.findings) + 1)
        for name in names:
            vec[self.findings.index(name)] = 1.0
        return vec.expand(batch, -1).clone()

    def null_labels(self, batch: int) -> torch.Tensor:
        vec = torch.zeros(batch, len(self.findings) + 1)
        vec[:, -1] = 1.0
        return vec

    def forward(self, sample: torch.Tensor, timestep: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Predict noise for `sample` at `timestep` given (B, K+1) label vectors."""
        emb = self.label_proj(labels.to(device=sample.device, dtype=sample.dtype))
        return self.unet(sample, timestep, class_labels=emb).sample


def with_null(labels: torch.Tensor) -> torch.Tensor:
    """Append the null-flag column (0) to (B, K) multi-hot labels from a dataset."""
    return torch.cat([labels, torch.zeros(labels.shape[0], 1, dtype=labels.dtype, device=labels.device)], 1)


def drop_labels(labels: torch.Tensor, p: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Replace each row by the null vector with probability p (classifier-free guidance training)."""
    if p <= 0:
        return labels
    drop = torch.rand(labels.shape[0], generator=generator) < p
    out = labels.clone()
    out[drop] = 0.0
    out[drop, -1] = 1.0
    return out
