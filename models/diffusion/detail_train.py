"""Train the one-pass detail network from scratch on random crops of real 256-px radiographs: L1, a
log-Fourier-amplitude loss and, from `disc_start` on, a hinge-loss patch discriminator, as real-image
super-resolution does when it must invent plausible texture (ESRGAN; no pretrained perceptual network can be had
here). EMA weights are exported; atomic checkpoints and a bundle (EMA weights plus the step) let a fresh machine
resume.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from models.data.preprocess import resize
from models.diffusion.autoencoder_train import ImageCrops, adversarial_parts, critic_step, detail_loss, restart_ema_at
from models.diffusion.detail_net import DetailNet, load_detail_net, save_detail_net
from models.diffusion.train import lr_factor
from models.runtime_info import code_version, hardware
from models.training_utils import CheckpointedTrainer, ProgressFn, batch_indices, optimise, step_generator

RESUME = "resume.json"


@dataclass
class DetailConfig:
    scale: int = 4  # 64 -> 256
    width: int = 32
    blocks: int = 6
    resolution: int = 256  # the training images' side
    crop: int = 128  # high-resolution crop side (the low-resolution input is crop / scale)
    steps: int = 4000
    batch_size: int = 8
    lr: float = 2e-4
    warmup_steps: int = 100
    grad_clip: float = 1.0
    ema_decay: float = 0.999
    fft_weight: float = 0.1
    disc_start: int = 1000  # the patch discriminator joins here (hinge loss)
    disc_weight: float = 0.02
    seed: int = 0
    checkpoint_every: int = 100


class DetailTrainer(CheckpointedTrainer):
    """Trains a DetailNet on pairs made from real images: each crop and its shrunk copy (the pinned resize
    filter, as the base generator's training images were made)."""

    STATE = ("net", "disc", "opt", "opt_d", "ema")
    LOSS_KEYS = ("l1", "fft", "disc")

    def __init__(self, images: ImageCrops, out_dir: str | Path, cfg: DetailConfig, *,
                 progress: ProgressFn | None = None, should_stop: Callable[[], bool] | None = None):
        super().__init__(out_dir, progress, should_stop)
        self.images, self.cfg = images, cfg
        torch.manual_seed(cfg.seed)
        self.net = DetailNet(cfg.scale, cfg.width, cfg.blocks)
        self.disc, self.opt, self.opt_d, self.ema = adversarial_parts(self.net, cfg)
        self.low_cache: dict[int, torch.Tensor] = {}

    def low(self, i: int) -> torch.Tensor:
        """Image i shrunk to 1/scale with the pinned filter, in [-1, 1] (kept: the data sets here are small)."""
        if i not in self.low_cache:
            full = ((self.images[i][0] + 1) / 2).numpy()
            small = resize(full, self.cfg.resolution // self.cfg.scale)
            self.low_cache[i] = torch.from_numpy(np.array(small, np.float32))[None] * 2 - 1
        return self.low_cache[i]

    def batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        cfg, s = self.cfg, self.cfg.scale
        lows, highs = [], []
        for p, i in enumerate(batch_indices(len(self.images), cfg.batch_size, self.step, cfg.seed)):
            g = step_generator(cfg.seed, self.step, stream=1 + p)
            y, x = (torch.randint(0, (cfg.resolution - cfg.crop) // s + 1, (2,), generator=g) * s).tolist()
            highs.append(self.images[i][:, y:y + cfg.crop, x:x + cfg.crop])
            lows.append(self.low(i)[:, y // s:(y + cfg.crop) // s, x // s:(x + cfg.crop) // s])
        return torch.stack(lows), torch.stack(highs)

    def train_step(self) -> dict[str, float]:
        cfg = self.cfg
        low, high = self.batch()
        for group in self.opt.param_groups:
            group["lr"] = cfg.lr * lr_factor(self.step - self.warmup_from, cfg.warmup_steps)
        out = self.net(low)
        loss, l1, fft = detail_loss(out, high, cfg, self.step, self.disc)
        optimise(self.net, self.opt, self.ema, loss, cfg.grad_clip)
        d_loss = critic_step(self.disc, self.opt_d, high, out) if self.step >= cfg.disc_start else 0.0
        self.step += 1
        return {"l1": l1.detach().item(), "fft": fft.detach().item(), "disc": d_loss}

    def ema_net(self) -> DetailNet:
        net = DetailNet(self.cfg.scale, self.cfg.width, self.cfg.blocks)
        self.ema.copy_to(net.parameters())
        return net.eval()

    def metadata(self) -> dict:
        last = self.losses[-100:]
        return {"kind": "detail_net", "steps": self.step, "images": len(self.images),
                "wall_time_s": round(self.wall(), 1), "hardware": hardware(), "code_version": code_version(),
                "config": asdict(self.cfg), "final_l1": float(np.mean([r["l1"] for r in last])) if last else None}

    def bundle(self, dest: str | Path) -> Path:
        """The EMA weights and what a fresh machine resumes from (the discriminator restarts there)."""
        dest = Path(dest)
        save_detail_net(self.ema_net(), dest / "net", self.metadata())
        (dest / RESUME).write_text(json.dumps({"step": self.step, "wall_s": self.wall()}, indent=2))
        return dest

    def resume_from_bundle(self, bundle: str | Path) -> None:
        """Continue from a bundle's EMA weights (online weights start equal to them)."""
        bundle = Path(bundle)
        self.net.load_state_dict(load_detail_net(bundle / "net").state_dict())
        restart_ema_at(self, self.net, json.loads((bundle / RESUME).read_text()))

    def export(self) -> Path:
        return save_detail_net(self.ema_net(), self.out / "model", self.metadata())
