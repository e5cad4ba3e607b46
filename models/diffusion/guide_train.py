"""Train the noise-aware guide classifier on a training split: images noised at random timesteps, weighted BCE."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from models.data.augment import augment
from models.data.base import ImageDataset
from models.diffusion.guide import NoisyFindingClassifier
from models.diffusion.pipeline import new_scheduler
from models.distributed import barrier, init_from_env, mean_over_ranks, wrap
from models.metrics.auroc import auroc
from models.runtime_info import code_version, hardware, pick_device
from models.training_utils import ProgressFn, batch_indices, bf16_default, load_batch, maybe_cache, step_generator


def noisy_auroc(guide: NoisyFindingClassifier, images: torch.Tensor, labels: torch.Tensor, t: int,
                seed: int = 0) -> float:
    """Mean AUROC over findings with positives, on `images` ([-1, 1]) noised to timestep t."""
    sched = new_scheduler()
    gen = torch.Generator().manual_seed(seed)
    noise = torch.randn(images.shape, generator=gen)
    x = sched.add_noise(images, noise, torch.full((images.shape[0],), t, dtype=torch.long))
    with torch.inference_mode():
        probs = torch.sigmoid(guide(x.to(guide.device), torch.full((x.shape[0],), float(t), device=guide.device)))
    scores = [auroc(labels[:, k].numpy(), probs[:, k].float().cpu().numpy()) for k in range(labels.shape[1])]
    return float(np.nanmean(scores))


def train_guide(train_ds: ImageDataset, out_dir: str | Path, *, val_ds: ImageDataset | None = None,
                steps: int = 3000, batch_size: int = 64, lr: float = 1e-3, weight_decay: float = 5e-2,
                max_pos_weight: float = 20.0, seed: int = 0, device: str | None = None,
                widths: tuple[int, ...] = (32, 64, 128, 128), groups: int = 8, dropout: float = 0.2,
                precision: str = "auto", progress: ProgressFn | None = None) -> Path:
    """Train and save a NoisyFindingClassifier (float16 safetensors) in out_dir; returns the folder. Under
    torchrun each rank trains on its share of every global batch; rank 0 writes the guide. (Dropout masks are
    drawn per rank: only dropout 0 trains exactly as one process does.)"""
    started = time.time()
    dev = torch.device(pick_device(device))
    bf16 = bf16_default(dev) if precision == "auto" else precision == "bf16"
    torch.manual_seed(seed)
    names = list(train_ds.label_names)
    data = maybe_cache(train_ds, train_ds.resolution)
    images, labels = load_batch(data, list(range(len(train_ds)))).values()
    pos = labels.sum(0)
    pos_weight = ((len(labels) - pos) / pos.clamp(min=1)).clamp(1, max_pos_weight).to(dev)
    guide = NoisyFindingClassifier(findings=names, sample_size=train_ds.resolution, widths=widths,
                                   groups=groups, dropout=dropout).to(dev)
    ranks = init_from_env()
    model = wrap(guide, ranks)
    opt = torch.optim.AdamW(guide.parameters(), lr=lr, weight_decay=weight_decay)
    sched = new_scheduler()
    T = sched.config.num_train_timesteps
    losses = []
    for step in range(steps):
        # this rank's share of the global batch, each sample's randomness keyed by its position in it
        positions = ranks.share(batch_size)
        every = batch_indices(len(images), batch_size, step, seed)
        idx = [every[p] for p in positions]
        gens = [step_generator(seed, step, stream=1 + p) for p in positions]
        x0 = torch.cat([augment(images[i:i + 1], generator=g) for i, g in zip(idx, gens, strict=True)])
        t = torch.cat([torch.randint(0, T, (1,), generator=g) for g in gens])
        xt = sched.add_noise(x0, torch.stack([torch.randn(x0.shape[1:], generator=g) for g in gens]), t)
        for group in opt.param_groups:  # cosine decay after a short warm-up
            group["lr"] = lr * min(1.0, (step + 1) / 100) * 0.5 * (1 + math.cos(math.pi * step / steps))
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=bf16):
            logits = model(xt.to(dev), t.to(dev).float())
        loss = F.binary_cross_entropy_with_logits(logits.float(), labels[idx].to(dev), pos_weight=pos_weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(mean_over_ranks(ranks, loss.item()))
        if not ranks.main:
            continue
        if progress and (step + 1) % 10 == 0:
            progress(step + 1, steps, "training guide", {"loss": float(np.mean(losses[-50:]))})
    guide.eval()
    folder = Path(out_dir)
    if not ranks.main:  # rank 0 writes the guide
        barrier(ranks)
        return folder
    meta = {"kind": "guide", "findings": names, "steps": steps, "batch_size": batch_size, "lr": lr,
            "images": len(images), "hardware": hardware(), "bf16": bf16, "code_version": code_version(),
            "wall_time_s": round(time.time() - started, 1), "final_loss": float(np.mean(losses[-50:]))}
    if val_ds is not None:
        val_images, val_labels = load_batch(val_ds, list(range(len(val_ds)))).values()
        meta["val_auroc_at_t"] = {t: noisy_auroc(guide, val_images, val_labels, t) for t in (0, 200, 400, 600, 800)}
    guide.half().save_pretrained(folder, safe_serialization=True)
    (folder / "training.json").write_text(json.dumps(meta, indent=2, default=str))
    barrier(ranks)
    return folder
