"""Train the super-resolution stage on random crops of real 256-px radiographs (no labels).

The low-resolution input of each image is made the way the base generator's training images were: the 256-px
image resized to 64 px with the pinned Lanczos filter, then upsampled bicubically; crops of both are taken at the
same place. v-prediction with min-SNR-gamma weighting, EMA, atomic checkpoints, and a bundle (servable EMA weights
plus the online ones) from which a fresh machine resumes.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from diffusers.training_utils import EMAModel

from models.data.base import ImageDataset
from models.data.preprocess import resize
from models.diffusion.pipeline import new_scheduler
from models.diffusion.superres import SuperResPipeline, SuperResUNet, noise_condition, upsample
from models.diffusion.train import lr_factor, min_snr_weight, norm_groups
from models.diffusion.weights import save_copy
from models.distributed import agree, barrier, init_from_env, mean_over_ranks, wrap
from models.runtime_info import code_version, hardware
from models.training_utils import (
    ProgressFn,
    atomic_torch_save,
    batch_indices,
    optimise,
    plot_curves,
    smooth,
    step_generator,
)

CHECKPOINT = "checkpoint.pt"
RESUME = "resume.json"


@dataclass
class SuperResConfig:
    scale: int = 4
    resolution: int = 256
    crop: int = 96  # training crops of the high-res image (a multiple of 8: three downsamplings)
    block_out_channels: tuple[int, ...] = (16, 32, 64, 128)  # narrow at full size: sampling speed
    layers_per_block: int = 1
    steps: int = 10_000
    batch_size: int = 16
    lr: float = 2e-4
    warmup_steps: int = 200
    grad_clip: float = 1.0
    ema_decay: float = 0.999
    min_snr_gamma: float = 5.0
    max_aug_step: int = 250  # noise-conditioning augmentation: s ~ U{0..max}
    seed: int = 0
    checkpoint_every: int = 100
    bf16: bool = False


class SuperResPairs:
    """(high-res, upsampled low-res) pairs (1, R, R) in [-1, 1] of the images of `ds`, decoded when a batch asks
    for them; kept after the first decode only when every pair fits `budget_bytes` (a full-size data set streams).
    """

    def __init__(self, ds: ImageDataset, resolution: int, scale: int, budget_bytes: int = 512 * 2**20):
        self.ds, self.resolution, self.scale = ds, resolution, scale
        self.cache: dict[int, tuple[torch.Tensor, torch.Tensor]] | None = (
            {} if len(ds) * resolution * resolution * 4 * 2 <= budget_bytes else None)

    def __len__(self) -> int:
        return len(self.ds)

    def _pair(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        image = ((self.ds[i]["image"][0] + 1) / 2).numpy()
        if image.shape[-1] != self.resolution:
            raise ValueError(f"super-resolution trains on {self.resolution}-px images; the data set gave "
                             f"{image.shape}")
        low = resize(image, self.resolution // self.scale)
        low_up = upsample(torch.from_numpy(np.clip(low, 0, 1))[None, None] * 2 - 1, self.resolution)[0]
        return torch.from_numpy(image)[None] * 2 - 1, low_up

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        if self.cache is None:
            return self._pair(i)
        if i not in self.cache:
            self.cache[i] = self._pair(i)
        return self.cache[i]


class SuperResTrainer:
    def __init__(self, pairs: SuperResPairs, out_dir: str | Path, cfg: SuperResConfig, *,
                 progress: ProgressFn | None = None, should_stop: Callable[[], bool] | None = None):
        self.pairs, self.cfg = pairs, cfg
        self.out = Path(out_dir)
        self.out.mkdir(parents=True, exist_ok=True)
        self.progress, self.should_stop = progress, should_stop or (lambda: False)
        torch.manual_seed(cfg.seed)
        self.unet = SuperResUNet(scale=cfg.scale, sample_size=cfg.resolution,
                                 block_out_channels=cfg.block_out_channels, layers_per_block=cfg.layers_per_block,
                                 norm_num_groups=norm_groups(cfg.block_out_channels))
        self.ranks = init_from_env()
        self.model = wrap(self.unet, self.ranks)
        self.scheduler = new_scheduler(prediction_type="v_prediction")
        self.opt = torch.optim.AdamW(self.unet.parameters(), lr=cfg.lr, weight_decay=1e-2)
        self.ema = EMAModel(self.unet.parameters(), decay=cfg.ema_decay, use_ema_warmup=True)
        self.step, self.losses, self.wall_before, self.started = 0, [], 0.0, time.time()
        self.warmup_from = 0

    def wall(self) -> float:
        return self.wall_before + time.time() - self.started

    def batch(self) -> tuple[torch.Tensor, torch.Tensor, list[torch.Generator]]:
        """This rank's share of the global batch: crops of (high-res, upsampled low-res) at the same place, and
        one generator per sample keyed by its position in the global batch (so any rank count draws the same)."""
        cfg = self.cfg
        positions = self.ranks.share(cfg.batch_size)
        every = batch_indices(len(self.pairs), cfg.batch_size, self.step, cfg.seed)
        gens = [step_generator(cfg.seed, self.step, stream=1 + p) for p in positions]
        crop, hr, lo = cfg.crop, [], []
        for p, g in zip(positions, gens, strict=True):
            y, x = torch.randint(0, cfg.resolution - crop + 1, (2,), generator=g).tolist()
            high, low = self.pairs[every[p]]
            hr.append(high[:, y:y + crop, x:x + crop])
            lo.append(low[:, y:y + crop, x:x + crop])
        return torch.stack(hr), torch.stack(lo), gens

    def train_step(self) -> float:
        """One optimiser step on this rank's share of the global batch; returns the global batch's loss."""
        cfg = self.cfg
        hr, low_up, gens = self.batch()
        aug = torch.cat([torch.randint(0, cfg.max_aug_step + 1, (1,), generator=g) for g in gens])
        cond = torch.cat([noise_condition(low_up[i:i + 1], aug[i:i + 1], self.scheduler, generator=g)
                          for i, g in enumerate(gens)])
        noise = torch.stack([torch.randn(hr.shape[1:], generator=g) for g in gens])
        t = torch.cat([torch.randint(0, self.scheduler.config.num_train_timesteps, (1,), generator=g) for g in gens])
        noisy = self.scheduler.add_noise(hr, noise, t)
        for group in self.opt.param_groups:
            group["lr"] = cfg.lr * lr_factor(self.step - self.warmup_from, cfg.warmup_steps)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=cfg.bf16):
            pred = self.model(noisy, t, cond, aug)
        target = self.scheduler.get_velocity(hr, noise, t)
        weight = min_snr_weight(self.scheduler.alphas_cumprod[t], cfg.min_snr_gamma, v_prediction=True)
        loss = (((pred.float() - target) ** 2).mean(dim=(1, 2, 3)) * weight).mean()
        value = optimise(self.unet, self.opt, self.ema, loss, cfg.grad_clip)
        self.step += 1
        return mean_over_ranks(self.ranks, value)

    def ema_pipeline(self) -> SuperResPipeline:
        unet = SuperResUNet.from_config(self.unet.config)
        self.ema.copy_to(unet.parameters())
        return SuperResPipeline(unet.eval(), self.scheduler)

    def metadata(self) -> dict:
        return {"steps": self.step, "images": len(self.pairs), "wall_time_s": round(self.wall(), 1),
                "hardware": hardware(), "code_version": code_version(), "config": asdict(self.cfg),
                "final_loss": float(np.mean(self.losses[-100:])) if self.losses else None}

    def save_checkpoint(self) -> None:
        atomic_torch_save({"unet": self.unet.state_dict(), "opt": self.opt.state_dict(), "ema": self.ema.state_dict(),
                           "step": self.step, "losses": self.losses, "wall": self.wall()}, self.out / CHECKPOINT)

    def try_resume(self) -> bool:
        path = self.out / CHECKPOINT
        if not path.exists():
            return False
        state = torch.load(path, weights_only=False)
        self.unet.load_state_dict(state["unet"])
        self.opt.load_state_dict(state["opt"])
        self.ema.load_state_dict(state["ema"])
        self.step, self.losses, self.wall_before = state["step"], state["losses"], state["wall"]
        return True

    def bundle(self, dest: str | Path) -> Path:
        dest = Path(dest)
        self.ema_pipeline().save(dest, metadata=self.metadata())
        save_copy(self.unet, dest / "online", half=True)
        (dest / RESUME).write_text(json.dumps({"step": self.step, "losses": self.losses, "wall_s": self.wall()}))
        return dest

    def resume_from_bundle(self, bundle: str | Path) -> None:
        bundle = Path(bundle)
        state = json.loads((bundle / RESUME).read_text())
        online = SuperResUNet.from_pretrained(bundle / "online", local_files_only=True, low_cpu_mem_usage=False,
                                               torch_dtype=torch.float32)
        ema = SuperResUNet.from_pretrained(bundle / "unet", local_files_only=True, low_cpu_mem_usage=False,
                                               torch_dtype=torch.float32)
        self.unet.load_state_dict(online.state_dict())
        self.ema = EMAModel(ema.parameters(), decay=self.cfg.ema_decay, use_ema_warmup=True)
        self.ema.optimization_step = state["step"]
        self.step, self.losses, self.wall_before = state["step"], state["losses"], state["wall_s"]
        self.warmup_from = self.step

    def run(self, *, bundle_to: str | Path | None = None) -> Path:
        """Train to `cfg.steps` (resuming from the folder's checkpoint). Under torchrun every rank trains; rank 0
        alone reports, checkpoints, bundles and exports."""
        main = self.ranks.main
        self.try_resume()
        self.unet.train()
        while self.step < self.cfg.steps:
            if agree(self.ranks, self.should_stop()):
                if main:
                    self.save_checkpoint()
                raise InterruptedError(f"stopped at step {self.step}; checkpoint saved")
            self.losses.append(self.train_step())
            if not main:
                continue
            if self.progress and (self.step % 10 == 0 or self.step == self.cfg.steps):
                self.progress(self.step, self.cfg.steps, "training", {"loss": float(np.mean(self.losses[-10:]))})
            if self.step % self.cfg.checkpoint_every == 0 or self.step == self.cfg.steps:
                self.save_checkpoint()
                plot_curves(self.out / "loss.png", {"loss (smoothed)": list(enumerate(smooth(self.losses), 1))},
                            title="super-resolution loss", ylabel="weighted MSE", log=True)
                if bundle_to:
                    self.bundle(bundle_to)
        final = self.ema_pipeline().save(self.out / "model", metadata=self.metadata()) if main else self.out / "model"
        barrier(self.ranks)
        return final
