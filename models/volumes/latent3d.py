"""Latent diffusion for volumes, as in Medical Diffusion (Khader et al. 2022): an autoencoder (MONAI
AutoencoderKL, spatial_dims=3) compresses each volume by 2^(levels-1) per side, and the class-conditional 3D DDPM
(VolumePipeline) generates in that latent space; the decoder turns its samples into volumes. For sizes where
pixel-space 3D diffusion is too costly: a 64^3 volume becomes a 16^3 x C latent with a 4x autoencoder."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from models.volumes.diffusion3d import VolumeOutput, VolumePipeline

AE_WEIGHTS, AE_CONFIG = "autoencoder.safetensors", "autoencoder.json"


def build_autoencoder(channels: Sequence[int] = (16, 32, 32), latent_channels: int = 4):
    """A small KL autoencoder without attention (attention at 3D sizes is costly on CPU)."""
    from monai.networks.nets import AutoencoderKL

    return AutoencoderKL(spatial_dims=3, in_channels=1, out_channels=1, channels=tuple(channels),
                         latent_channels=latent_channels, num_res_blocks=1,
                         attention_levels=(False,) * len(channels), norm_num_groups=min(8, channels[0]),
                         with_encoder_nonlocal_attn=False, with_decoder_nonlocal_attn=False)


def train_autoencoder(volumes: torch.Tensor, *, channels: Sequence[int] = (16, 32, 32), latent_channels: int = 4,
                      steps: int = 500, batch_size: int = 4, lr: float = 1e-3, kl_weight: float = 1e-6,
                      seed: int = 0, progress: Callable[[int, int, float], None] | None = None,
                      should_stop: Callable[[], bool] | None = None):
    """L1 reconstruction plus a small KL term on (N, 1, S, S, S) volumes in [-1, 1]; returns (model, summary)."""
    torch.manual_seed(seed)
    ae = build_autoencoder(channels, latent_channels).train()
    opt = torch.optim.AdamW(ae.parameters(), lr=lr, weight_decay=1e-5)
    gen = torch.Generator().manual_seed(seed)
    t0, losses = time.time(), []
    for step in range(1, steps + 1):
        if should_stop is not None and should_stop():
            raise InterruptedError(f"stopped at autoencoder step {step - 1}")
        x = volumes[torch.randint(0, len(volumes), (min(batch_size, len(volumes)),), generator=gen)]
        recon, mu, sigma = ae(x)
        kl = 0.5 * (mu.pow(2) + sigma.pow(2) - torch.log(sigma.pow(2) + 1e-8) - 1).mean()
        loss = F.l1_loss(recon, x) + kl_weight * kl
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if progress is not None:
            progress(step, steps, losses[-1])
    ae.eval()
    return ae, {"steps": steps, "final_l1": float(np.mean(losses[-20:])), "seconds": time.time() - t0}


@torch.inference_mode()
def encode(ae, volumes: torch.Tensor, batch: int = 8) -> torch.Tensor:
    """Latent means of (N, 1, S, S, S) volumes (deterministic: no sampling)."""
    return torch.cat([ae.encode(volumes[i:i + batch])[0] for i in range(0, len(volumes), batch)])


class LatentVolumePipeline:
    """An autoencoder, a latent scale, and a VolumePipeline over the scaled latents."""

    def __init__(self, autoencoder, diffusion: VolumePipeline, ae_config: dict, size: int):
        self.autoencoder, self.diffusion, self.ae_config, self.size = autoencoder, diffusion, dict(ae_config), size

    @property
    def findings(self) -> list[str]:
        return self.diffusion.findings

    @property
    def scale(self) -> float:
        return float(self.ae_config["scale_factor"])

    def __call__(self, finding: str, num_volumes: int = 1, **sampling) -> VolumeOutput:
        """Sample latents with the 3D DDPM (same samplers, guidance and options as pixel space), then decode."""
        return self.diffusion(finding, num_volumes, decode=lambda z: self.autoencoder.decode(z / self.scale),
                              **sampling)

    def save(self, path: str | Path, *, metadata: dict | None = None) -> Path:
        from safetensors.torch import save_file

        path = Path(path)
        self.diffusion.save(path, metadata={"resolution": self.size, "latent": {
            "latent_size": self.diffusion.size, "latent_channels": self.diffusion.in_channels,
            "scale_factor": self.scale}} | (metadata or {}))
        save_file({k: v.detach().half().contiguous() for k, v in self.autoencoder.state_dict().items()},
                  path / AE_WEIGHTS)
        (path / AE_CONFIG).write_text(json.dumps(self.ae_config | {"size": self.size}, indent=2))
        return path

    @classmethod
    def load(cls, path: str | Path, *, device: str | torch.device = "cpu") -> LatentVolumePipeline:
        from safetensors.torch import load_file

        path = Path(path)
        cfg = json.loads((path / AE_CONFIG).read_text())
        ae = build_autoencoder(cfg["channels"], cfg["latent_channels"])
        ae.load_state_dict({k: v.float() for k, v in load_file(path / AE_WEIGHTS).items()})
        return cls(ae.to(device).eval(), VolumePipeline.load(path, device=device), cfg, int(cfg["size"]))


def train_latent_volume_generator(volumes: torch.Tensor, labels: np.ndarray, findings: Sequence[str], *,
                                  ae_channels: Sequence[int] = (16, 32, 32), latent_channels: int = 4,
                                  ae_steps: int = 500, steps: int = 1000, batch_size: int = 8,
                                  channels: Sequence[int] = (32, 64), seed: int = 0,
                                  progress: Callable[[str, int, int, float], None] | None = None,
                                  should_stop: Callable[[], bool] | None = None, **diffusion_kw
                                  ) -> tuple[LatentVolumePipeline, dict]:
    """Stage 1: the autoencoder; stage 2: the DDPM on its latents scaled to unit variance (as in Rombach et al.).
    `volumes`: (N, 1, S, S, S) in [-1, 1]. `progress(stage, step, total, loss)`."""
    from models.volumes.train3d import train_volume_generator

    size = int(volumes.shape[-1])
    ae, ae_summary = train_autoencoder(
        volumes, channels=ae_channels, latent_channels=latent_channels, steps=ae_steps, batch_size=batch_size,
        seed=seed, should_stop=should_stop,
        progress=None if progress is None else lambda s, t, v: progress("autoencoder", s, t, v))
    latents = encode(ae, volumes)
    scale = float(1.0 / max(latents.std().item(), 1e-6))
    diffusion, summary = train_volume_generator(
        latents * scale, labels, findings, size=int(latents.shape[-1]), steps=steps, batch_size=batch_size,
        channels=channels, seed=seed, should_stop=should_stop, in_channels=latents.shape[1],
        progress=None if progress is None else lambda s, t, v: progress("diffusion", s, t, v), **diffusion_kw)
    # Latents are not bounded to [-1, 1]: the samplers must not clip their x0 estimates there.
    diffusion.scheduler_config["clip_sample"] = False
    ae_config = {"channels": list(ae_channels), "latent_channels": latent_channels, "scale_factor": scale}
    return LatentVolumePipeline(ae, diffusion, ae_config, size), summary | {"autoencoder": ae_summary,
                                                                            "latent_shape": list(latents.shape[1:])}


def load_volume_pipeline(path: str | Path, *, device: str | torch.device = "cpu"):
    """A pixel-space VolumePipeline, or a LatentVolumePipeline when the folder holds an autoencoder."""
    if (Path(path) / AE_CONFIG).exists():
        return LatentVolumePipeline.load(path, device=device)
    return VolumePipeline.load(path, device=device)
