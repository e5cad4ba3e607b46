"""Classifier guidance (Dhariwal & Nichol 2021): a small noise-aware classifier steers sampling toward the finding.

The guide sees the noisy image x_t and the timestep, so it can be asked at every sampler step; its gradient
d log p(findings | x_t) / d x_t shifts the noise estimate: eps <- eps - s * sqrt(1 - alpha_bar_t) * gradient.
It is a separate network from the classifier ensemble that judges label agreement (different architecture,
trained on noisy images), although both learn from the same training split.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.embeddings import TimestepEmbedding, Timesteps
from diffusers.models.modeling_utils import ModelMixin
from torch import nn

GUIDE_FOLDER = "guide"  # inside a generator's model folder


class TimeResBlock(nn.Module):
    """GroupNorm-SiLU-conv twice, the time embedding as a per-channel scale and shift in between."""

    def __init__(self, c_in: int, c_out: int, time_dim: int, groups: int, dropout: float):
        super().__init__()
        self.norm1 = nn.GroupNorm(min(groups, c_in), c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.time = nn.Linear(time_dim, 2 * c_out)
        self.norm2 = nn.GroupNorm(groups, c_out)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        scale, shift = self.time(F.silu(temb))[:, :, None, None].chunk(2, dim=1)
        h = self.norm2(h) * (1 + scale) + shift
        h = self.conv2(self.dropout(F.silu(h)))
        return h + self.skip(x)


class NoisyFindingClassifier(ModelMixin, ConfigMixin):
    """Logits per finding (the generator's finding list) of a noisy image x_t in [-1, 1] at timestep t."""

    config_name = "config.json"

    @register_to_config
    def __init__(self, *, findings: Sequence[str], sample_size: int = 64, in_channels: int = 1,
                 widths: Sequence[int] = (32, 64, 128, 128), groups: int = 8, dropout: float = 0.2):
        super().__init__()
        time_dim = widths[0] * 4
        self.time_proj = Timesteps(widths[0], flip_sin_to_cos=True, downscale_freq_shift=0)
        self.time_embed = TimestepEmbedding(widths[0], time_dim)
        self.stem = nn.Conv2d(in_channels, widths[0], 3, padding=1)
        blocks, c_in = [], widths[0]
        for c in widths:
            blocks.append(TimeResBlock(c_in, c, time_dim, groups, dropout))
            c_in = c
        self.blocks = nn.ModuleList(blocks)
        self.norm = nn.GroupNorm(groups, c_in)
        self.head = nn.Linear(c_in, len(findings))

    @property
    def findings(self) -> list[str]:
        return list(self.config.findings)

    def forward(self, x: torch.Tensor, timestep: torch.Tensor) -> torch.Tensor:
        temb = self.time_embed(self.time_proj(timestep.reshape(-1).expand(x.shape[0])).to(x.dtype))
        h = self.stem(x)
        for i, block in enumerate(self.blocks):
            h = block(h, temb)
            if i < len(self.blocks) - 1:
                h = F.avg_pool2d(h, 2)
        return self.head(F.silu(self.norm(h)).mean(dim=(2, 3)))


def schedule_index(timestep: torch.Tensor | float, length: int) -> int:
    """The training-schedule index of a sampler timestep (Euler's are fractional)."""
    return int(torch.as_tensor(timestep).float().round().clamp(0, length - 1).item())


def guidance_shift(guide: NoisyFindingClassifier, x_t: torch.Tensor, timestep: torch.Tensor,
                   targets: torch.Tensor, alphas_cumprod: torch.Tensor, scale: float) -> torch.Tensor:
    """The noise-estimate shift -s * sqrt(1 - alpha_bar_t) * d/dx_t sum_k targets_k log sigmoid(logit_k).

    `targets` (N, K) marks the findings each image was asked for (multi-hot; "No Finding" is a finding too).
    Works inside `torch.inference_mode()` callers: the gradient is taken on a fresh copy of x_t.
    """
    t_index = schedule_index(timestep, len(alphas_cumprod))
    sigma = float((1 - alphas_cumprod[t_index]).sqrt())
    with torch.inference_mode(False), torch.enable_grad():
        x = x_t.detach().float().clone().requires_grad_(True)
        t = torch.full((x.shape[0],), float(t_index), device=x.device)
        logits = guide(x, t)
        log_p = (F.logsigmoid(logits) * targets.to(logits).clone()).sum()
        (grad,) = torch.autograd.grad(log_p, x)
    return (-scale * sigma * grad).to(x_t.dtype)


def clip_noise_estimate(eps: torch.Tensor, x_t: torch.Tensor, timestep: torch.Tensor,
                        alphas_cumprod: torch.Tensor) -> torch.Tensor:
    """The noise estimate whose x0 prediction is clipped to the data range [-1, 1].

    For samplers that neither threshold nor clip (Euler): a large classifier-guidance shift at high noise would
    otherwise carry x0 far out of range and end in saturated pixels.
    """
    a = alphas_cumprod[schedule_index(timestep, len(alphas_cumprod))].to(x_t.device, torch.float32)
    x0 = ((x_t - (1 - a).sqrt() * eps) / a.sqrt()).clamp(-1, 1)
    return (x_t - a.sqrt() * x0) / (1 - a).sqrt()


def eps_from_v(v: torch.Tensor, x_t: torch.Tensor, timestep: torch.Tensor,
               alphas_cumprod: torch.Tensor) -> torch.Tensor:
    """The noise estimate of a v-prediction: eps = sqrt(a) v + sqrt(1 - a) x_t."""
    a = alphas_cumprod[schedule_index(timestep, len(alphas_cumprod))].to(x_t.device, torch.float32)
    return a.sqrt() * v + (1 - a).sqrt() * x_t


def v_from_eps(eps: torch.Tensor, x_t: torch.Tensor, timestep: torch.Tensor,
               alphas_cumprod: torch.Tensor) -> torch.Tensor:
    """The v-prediction of a noise estimate: v = (eps - sqrt(1 - a) x_t) / sqrt(a) (the inverse of eps_from_v)."""
    a = alphas_cumprod[schedule_index(timestep, len(alphas_cumprod))].to(x_t.device, torch.float32)
    return (eps - (1 - a).sqrt() * x_t) / a.sqrt()


def load_guide(folder: str | Path, device: str | torch.device = "cpu") -> NoisyFindingClassifier:
    """Load a saved guide from local files in float32."""
    guide = NoisyFindingClassifier.from_pretrained(Path(folder), local_files_only=True, low_cpu_mem_usage=False,
                                                   torch_dtype=torch.float32)
    return guide.to(device).eval()
