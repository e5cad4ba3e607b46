"""Train a VolumePipeline on [0, 1] volumes with class labels (label dropout for classifier-free guidance)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from models.volumes.diffusion3d import VolumePipeline


def resize_volumes(volumes: np.ndarray, size: int, chunk: int = 64) -> torch.Tensor:
    """(N, D, H, W) [0, 1] -> (N, 1, size, size, size) in [-1, 1], trilinear, a chunk at a time."""
    out = []
    for start in range(0, len(volumes), chunk):
        x = torch.from_numpy(np.ascontiguousarray(volumes[start:start + chunk], dtype=np.float32))[:, None]
        if x.shape[-3:] != (size, size, size):
            x = F.interpolate(x, size=(size, size, size), mode="trilinear", align_corners=False)
        out.append(x * 2 - 1)
    return torch.cat(out)


def train_volume_generator(volumes: np.ndarray, labels: np.ndarray, findings: Sequence[str], *, size: int = 32,
                           steps: int = 1000, batch_size: int = 8, lr: float = 2e-4,
                           channels: Sequence[int] = (16, 32, 64), label_dropout: float = 0.1, seed: int = 0,
                           device: str = "cpu", progress: Callable[[int, int, float], None] | None = None
                           ) -> tuple[VolumePipeline, dict]:
    """Returns the trained pipeline and a summary (steps, final loss, seconds)."""
    pipe = VolumePipeline.new(findings, size=size, channels=channels, seed=seed)
    unet = pipe.unet.to(device).train()
    scheduler = _train_scheduler(pipe)
    data = resize_volumes(volumes, size)
    y = torch.as_tensor(labels, dtype=torch.long)
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(unet.parameters(), lr=lr, weight_decay=1e-4)
    t0, losses = time.time(), []
    for step in range(1, steps + 1):
        idx = torch.randint(0, len(data), (min(batch_size, len(data)),), generator=gen)
        x0, cls = data[idx].to(device), y[idx].clone()
        cls[torch.rand(len(cls), generator=gen) < label_dropout] = pipe.null_class
        noise = torch.randn(x0.shape, generator=gen).to(device)
        t = torch.randint(0, scheduler.config.num_train_timesteps, (len(x0),), generator=gen).to(device)
        pred = unet(scheduler.add_noise(x0, noise, t), t, class_labels=cls.to(device))
        loss = F.mse_loss(pred, noise)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if progress is not None:
            progress(step, steps, losses[-1])
    unet.eval()
    return pipe, {"steps": steps, "final_loss": float(np.mean(losses[-20:])), "seconds": time.time() - t0,
                  "images": len(data), "size": size}


def _train_scheduler(pipe: VolumePipeline):
    from diffusers import DDPMScheduler

    return DDPMScheduler.from_config(pipe.scheduler_config)
