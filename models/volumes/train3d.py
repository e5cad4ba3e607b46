"""Train a VolumePipeline on [0, 1] volumes with class labels (label dropout for classifier-free guidance, EMA
weights, warm-up, gradient clipping; stops cleanly when asked)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from models.distributed import agree, init_from_env, mean_over_ranks, wrap
from models.training_utils import bf16_default, step_generator
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


def flip_augment(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random left-right flips (the last axis): adrenal glands and most organs come in mirrored pairs."""
    flip = torch.rand(len(x), generator=generator) < 0.5
    x = x.clone()
    x[flip] = x[flip].flip(-1)
    return x


def train_volume_generator(volumes: np.ndarray | torch.Tensor, labels: np.ndarray, findings: Sequence[str], *,
                           size: int = 32, steps: int = 1000, batch_size: int = 8, lr: float = 2e-4,
                           channels: Sequence[int] = (16, 32, 64), label_dropout: float = 0.1, seed: int = 0,
                           device: str = "cpu", ema_decay: float = 0.999, warmup_steps: int = 100,
                           flip: bool = False, bf16: bool | None = None, in_channels: int = 1,
                           prediction: str = "v_prediction",
                           progress: Callable[[int, int, float], None] | None = None,
                           should_stop: Callable[[], bool] | None = None) -> tuple[VolumePipeline, dict]:
    """Returns the trained pipeline (carrying the EMA weights) and a summary (steps, final loss, seconds).

    `volumes` is (N, D, H, W) in [0, 1], or an already resized (N, C, size, size, size) tensor in [-1, 1] (C =
    `in_channels`: an autoencoder's latents for latent diffusion).
    `bf16`: autocast the UNet to bfloat16 (weights and optimiser stay float32). Default: on a GPU, and on a CPU
    with AMX (2x faster on this project's 2-core Xeon, see docs/benchmarks.md). Raises InterruptedError when
    `should_stop()` turns true. `prediction`: "epsilon" or "v_prediction" (see VolumePipeline.new).
    Under torchrun each rank trains on its share of every global batch (`batch_size` must divide over the
    ranks); every rank returns the same weights, and the caller saves them on rank 0 only."""
    from diffusers.training_utils import EMAModel

    pipe = VolumePipeline.new(findings, size=size, channels=channels, seed=seed, in_channels=in_channels,
                              prediction=prediction)
    unet = pipe.unet.to(device).train()
    ranks = init_from_env()
    model = wrap(unet, ranks)
    scheduler = _train_scheduler(pipe)
    data = volumes if isinstance(volumes, torch.Tensor) else resize_volumes(volumes, size)
    y = torch.as_tensor(labels, dtype=torch.long)
    opt = torch.optim.AdamW(unet.parameters(), lr=lr, weight_decay=1e-4)
    ema = EMAModel(unet.parameters(), decay=ema_decay, use_ema_warmup=True)
    use_bf16 = bf16_default(device) if bf16 is None else bf16
    t0, losses = time.time(), []
    global_batch = min(batch_size, len(data))
    for step in range(1, steps + 1):
        if agree(ranks, should_stop is not None and should_stop()):
            raise InterruptedError(f"stopped at step {step - 1}")
        # the global batch (drawn with replacement) is the same on every rank; each rank trains on its share,
        # every sample's randomness keyed by its position in the global batch
        every = torch.randint(0, len(data), (global_batch,), generator=step_generator(seed, step))
        positions = ranks.share(global_batch)
        gens = [step_generator(seed, step, stream=1 + p) for p in positions]
        idx = every[list(positions)]
        x0, cls = data[idx], y[idx].clone()
        if flip:
            x0 = torch.cat([flip_augment(x0[i:i + 1], g) for i, g in enumerate(gens)])
        drop = torch.cat([torch.rand(1, generator=g) for g in gens]) < label_dropout
        cls[drop] = pipe.null_class
        noise = torch.stack([torch.randn(x0.shape[1:], generator=g) for g in gens])
        t = torch.cat([torch.randint(0, scheduler.config.num_train_timesteps, (1,), generator=g) for g in gens])
        x0, noise, t, cls = (v.to(device) for v in (x0, noise, t, cls))
        for group in opt.param_groups:
            group["lr"] = lr * min(1.0, step / max(1, warmup_steps))
        with torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=use_bf16):
            pred = model(scheduler.add_noise(x0, noise, t), t, class_labels=cls)
        target = scheduler.get_velocity(x0, noise, t) if prediction == "v_prediction" else noise
        loss = F.mse_loss(pred.float(), target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
        opt.step()
        ema.step(unet.parameters())
        losses.append(mean_over_ranks(ranks, loss.item()))
        if progress is not None and ranks.main:
            progress(step, steps, losses[-1])
    ema.copy_to(unet.parameters())
    unet.eval()
    return pipe, {"steps": steps, "final_loss": float(np.mean(losses[-20:])), "seconds": time.time() - t0,
                  "images": len(data), "size": size, "batch_size": batch_size, "ema_decay": ema_decay, "bf16": use_bf16,
                  "prediction": prediction,
                  "losses": [float(v) for v in losses[:: max(1, steps // 200)]]}


def save_volume_model(pipe, out: Path, *, dataset: str, voxel_mm: list[float], summary: dict) -> Path:
    """The model folder plus `samples.png` (mid-slices of two volumes per finding, one row each) and
    `loss.png`."""
    from models.io.writers import write_png
    from models.runtime_info import code_version, hardware
    from models.training_utils import plot_curves
    from models.volumes.write import mid_slices

    meta = {"dataset": dataset, "voxel_mm": voxel_mm, "steps": summary["steps"], "wall_time_s":
            round(summary["seconds"], 1), "hardware": hardware(), "code_version": code_version(),
            "training": {k: v for k, v in summary.items() if k != "losses"}}
    out = pipe.save(out, metadata=meta)
    rows = [np.concatenate([mid_slices(v) for v in pipe(name, 2, seeds=[0, 1], num_inference_steps=25).volumes],
                           axis=1) for name in pipe.findings]
    write_png(out / "samples.png", np.concatenate(rows, axis=0))
    every = max(1, summary["steps"] // max(1, len(summary["losses"])))
    plot_curves(out / "loss.png", {"loss": [(1 + i * every, v) for i, v in enumerate(summary["losses"])]},
                title="3D denoising loss", ylabel="MSE", log=True)
    return out


def _train_scheduler(pipe: VolumePipeline):
    from diffusers import DDPMScheduler

    return DDPMScheduler.from_config(pipe.scheduler_config)
