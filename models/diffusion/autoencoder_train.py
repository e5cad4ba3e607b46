"""Train an image autoencoder (diffusers `AutoencoderKL`, one grey channel) from scratch on random crops of real
256-px radiographs: the first half of a latent-diffusion detail stage, whose latent (64 x 64 x 4 at compression 4)
costs a UNet about what the 64-px base costs.

No pretrained perceptual network can be had here, so the loss is L1 on pixels plus L1 on log Fourier amplitudes
(which keeps fine texture such as rib edges from being averaged away), a tiny KL term, and from `disc_start` on a
hinge-loss patch discriminator. EMA weights are what is exported; atomic checkpoints and a bundle (EMA plus online
weights) let a fresh machine resume.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import AutoencoderKL
from diffusers.training_utils import EMAModel

from models.data.base import ImageDataset
from models.diffusion.train import lr_factor
from models.runtime_info import code_version, hardware
from models.training_utils import CheckpointedTrainer, ProgressFn, batch_indices, optimise, step_generator

RESUME = "resume.json"


@dataclass
class AutoencoderConfig:
    resolution: int = 256
    crop: int = 128
    block_out_channels: tuple[int, ...] = (32, 64, 128)  # three blocks: two halvings, compression 4
    latent_channels: int = 4
    layers_per_block: int = 1
    steps: int = 4000
    batch_size: int = 8
    lr: float = 2e-4
    warmup_steps: int = 100
    grad_clip: float = 1.0
    ema_decay: float = 0.999
    fft_weight: float = 0.1
    kl_weight: float = 1e-6
    disc_start: int = 2000  # the patch discriminator joins here (hinge loss)
    disc_weight: float = 0.05
    seed: int = 0
    checkpoint_every: int = 100


def new_autoencoder(cfg: AutoencoderConfig) -> AutoencoderKL:
    n = len(cfg.block_out_channels)
    return AutoencoderKL(in_channels=1, out_channels=1, down_block_types=("DownEncoderBlock2D",) * n,
                         up_block_types=("UpDecoderBlock2D",) * n, block_out_channels=cfg.block_out_channels,
                         latent_channels=cfg.latent_channels, layers_per_block=cfg.layers_per_block,
                         norm_num_groups=min(32, cfg.block_out_channels[0]), sample_size=cfg.resolution)


class PatchDiscriminator(torch.nn.Module):
    """A small PatchGAN: one real/fake score per ~22-px patch."""

    def __init__(self, width: int = 32):
        super().__init__()
        layers, channels = [], 1
        for i, out in enumerate((width, 2 * width, 4 * width)):
            layers += [torch.nn.Conv2d(channels, out, 4, stride=2, padding=1),
                       torch.nn.GroupNorm(8, out) if i else torch.nn.Identity(), torch.nn.LeakyReLU(0.2)]
            channels = out
        layers.append(torch.nn.Conv2d(channels, 1, 3, padding=1))
        self.net = torch.nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def adversarial_parts(model: torch.nn.Module, cfg) -> tuple:
    """(patch critic, the model's optimiser, the critic's optimiser, the model's EMA) of an image network trained
    with a critic; `cfg` gives lr and ema_decay. The critic is made after the model, so seeded inits stay put."""
    disc = PatchDiscriminator()
    return (disc, torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=1e-4),
            torch.optim.AdamW(disc.parameters(), lr=cfg.lr, betas=(0.5, 0.9)),
            EMAModel(model.parameters(), decay=cfg.ema_decay, use_ema_warmup=True))


def restart_ema_at(trainer, model: torch.nn.Module, state: dict) -> None:
    """Continue `trainer` from a bundle's `state` (step, wall_s) whose EMA weights `model` now holds: a fresh EMA
    of them, counting on from that step, and a new warm-up."""
    trainer.ema = EMAModel(model.parameters(), decay=trainer.cfg.ema_decay, use_ema_warmup=True)
    trainer.ema.optimization_step = state["step"]
    trainer.step, trainer.wall_before, trainer.warmup_from = state["step"], state["wall_s"], state["step"]


def fourier_loss(recon: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L1 between log amplitude spectra: fine texture counts as much as it weighs in real images."""
    amp = lambda x: torch.log1p(torch.fft.rfft2(x.float(), norm="ortho").abs())  # noqa: E731
    return (amp(recon) - amp(target)).abs().mean()


def detail_loss(out: torch.Tensor, target: torch.Tensor, cfg, step: int, disc: torch.nn.Module
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(loss, l1, fft) of an image-making network: L1 plus the weighted Fourier term and, from `cfg.disc_start`
    on, the patch critic's score (hinge generator loss)."""
    l1, fft = (out - target).abs().mean(), fourier_loss(out, target)
    loss = l1 + cfg.fft_weight * fft
    if step >= cfg.disc_start:
        loss = loss - cfg.disc_weight * disc(out).mean()
    return loss, l1, fft


def critic_step(disc: torch.nn.Module, opt: torch.optim.Optimizer, real: torch.Tensor, fake: torch.Tensor) -> float:
    """One hinge-loss update of the patch critic; its loss."""
    opt.zero_grad(set_to_none=True)
    hinge = F.relu(1 - disc(real)).mean() + F.relu(1 + disc(fake.detach())).mean()
    hinge.backward()
    opt.step()
    return hinge.detach().item()


class ImageCrops:
    """Images (1, R, R) in [-1, 1] of `ds`, decoded when a batch asks for them; kept after the first decode only
    when all fit `budget_bytes` (a full-size data set streams)."""

    def __init__(self, ds: ImageDataset, resolution: int, budget_bytes: int = 512 * 2**20):
        self.ds, self.resolution = ds, resolution
        self.cache: dict[int, torch.Tensor] | None = {} if len(ds) * resolution**2 * 4 <= budget_bytes else None

    def __len__(self) -> int:
        return len(self.ds)

    def __getitem__(self, i: int) -> torch.Tensor:
        if self.cache is not None and i in self.cache:
            return self.cache[i]
        image = self.ds[i]["image"]
        if image.shape[-1] != self.resolution:
            raise ValueError(f"the autoencoder trains on {self.resolution}-px images; the data set gave {image.shape}")
        if self.cache is not None:
            self.cache[i] = image
        return image


class AutoencoderTrainer(CheckpointedTrainer):
    STATE = ("vae", "disc", "opt", "opt_d", "ema")
    LOSS_KEYS = ("l1", "fft", "disc")

    def __init__(self, images: ImageCrops, out_dir: str | Path, cfg: AutoencoderConfig, *,
                 progress: ProgressFn | None = None, should_stop: Callable[[], bool] | None = None):
        super().__init__(out_dir, progress, should_stop)
        self.images, self.cfg = images, cfg
        torch.manual_seed(cfg.seed)
        self.vae = new_autoencoder(cfg)
        self.disc, self.opt, self.opt_d, self.ema = adversarial_parts(self.vae, cfg)

    def batch(self) -> torch.Tensor:
        cfg = self.cfg
        crops = []
        for p, i in enumerate(batch_indices(len(self.images), cfg.batch_size, self.step, cfg.seed)):
            g = step_generator(cfg.seed, self.step, stream=1 + p)
            y, x = torch.randint(0, cfg.resolution - cfg.crop + 1, (2,), generator=g).tolist()
            crops.append(self.images[i][:, y:y + cfg.crop, x:x + cfg.crop])
        return torch.stack(crops)

    def train_step(self) -> dict[str, float]:
        cfg = self.cfg
        x = self.batch()
        for group in self.opt.param_groups:
            group["lr"] = cfg.lr * lr_factor(self.step - self.warmup_from, cfg.warmup_steps)
        posterior = self.vae.encode(x).latent_dist
        recon = self.vae.decode(posterior.sample(generator=step_generator(cfg.seed, self.step))).sample
        loss, l1, fft = detail_loss(recon, x, cfg, self.step, self.disc)
        kl = posterior.kl().mean() / x[0].numel()
        optimise(self.vae, self.opt, self.ema, loss + cfg.kl_weight * kl, cfg.grad_clip)
        d_loss = critic_step(self.disc, self.opt_d, x, recon) if self.step >= cfg.disc_start else 0.0
        self.step += 1
        return {"l1": l1.detach().item(), "fft": fft.detach().item(), "kl": kl.detach().item(), "disc": d_loss}

    def ema_autoencoder(self) -> AutoencoderKL:
        vae = AutoencoderKL.from_config(self.vae.config)
        self.ema.copy_to(vae.parameters())
        return vae.eval()

    def metadata(self) -> dict:
        last = self.losses[-100:]
        return {"steps": self.step, "images": len(self.images), "wall_time_s": round(self.wall(), 1),
                "hardware": hardware(), "code_version": code_version(), "config": asdict(self.cfg),
                "final_l1": float(np.mean([r["l1"] for r in last])) if last else None}

    def bundle(self, dest: str | Path) -> Path:
        """The servable EMA weights (`vae/`) and what a fresh machine resumes from; the discriminator is small and
        restarts from scratch there."""
        dest = Path(dest)
        self.ema_autoencoder().save_pretrained(dest / "vae")
        (dest / RESUME).write_text(json.dumps({"step": self.step, "wall_s": self.wall()} | {
            "metadata": self.metadata()}, indent=2))
        return dest

    def resume_from_bundle(self, bundle: str | Path) -> None:
        """Continue from a bundle's EMA weights (online weights start equal to them)."""
        bundle = Path(bundle)
        state = json.loads((bundle / RESUME).read_text())
        ema = AutoencoderKL.from_pretrained(bundle / "vae", local_files_only=True, low_cpu_mem_usage=False)
        self.vae.load_state_dict(ema.state_dict())
        restart_ema_at(self, self.vae, state)

    def export(self) -> Path:
        final = self.out / "model"
        self.ema_autoencoder().save_pretrained(final)
        (final / "training.json").write_text(json.dumps(self.metadata(), indent=2, default=str))
        return final
