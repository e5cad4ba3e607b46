"""The 64 -> 256 super-resolution diffusion stage (cascaded diffusion, Ho et al. 2021; Cheff).

A fully convolutional UNet (no attention, so it trains on random crops and samples whole images) denoises the
256-px image given the bicubically upsampled 64-px image as a second input channel. The low-resolution input is
itself noised during training (noise-conditioning augmentation, by a forward-diffusion step s that the UNet is told
through its class embedding), so that at sampling time it tolerates the base generator's own artefacts. It sees no
labels: the finding comes from the base image.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import DDPMScheduler, UNet2DModel
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from diffusers.utils.torch_utils import randn_tensor

from models.diffusion.samplers import make_scheduler
from models.diffusion.weights import save_copy
from models.vocabulary.sampler_defaults import DEFAULT_SAMPLER, scaled_superres_steps

SR_KIND = "superres"
SUPERRES_FOLDER = "superres"  # inside a generator's model folder


class SuperResUNet(ModelMixin, ConfigMixin):
    """UNet2DModel over [noisy high-res, upsampled low-res]; the augmentation step s enters as a class embedding."""

    config_name = "config.json"

    @register_to_config
    def __init__(self, *, scale: int = 4, sample_size: int = 256,
                 block_out_channels: Sequence[int] = (32, 64, 128, 128), layers_per_block: int = 1,
                 norm_num_groups: int = 32):
        super().__init__()
        levels = len(block_out_channels)
        self.unet = UNet2DModel(
            sample_size=sample_size, in_channels=2, out_channels=1, block_out_channels=tuple(block_out_channels),
            layers_per_block=layers_per_block, down_block_types=("DownBlock2D",) * levels,
            up_block_types=("UpBlock2D",) * levels, norm_num_groups=norm_num_groups, class_embed_type="timestep")

    def forward(self, noisy: torch.Tensor, timestep: torch.Tensor, low_up: torch.Tensor,
                aug_step: torch.Tensor) -> torch.Tensor:
        x = torch.cat([noisy, low_up.to(noisy.dtype)], dim=1)
        return self.unet(x, timestep, class_labels=aug_step.to(noisy.device)).sample


def upsample(low: torch.Tensor, size: int) -> torch.Tensor:
    """Bicubic upsampling of (B, 1, h, w) images in [-1, 1] to (B, 1, size, size), clipped to the range."""
    return F.interpolate(low, size=(size, size), mode="bicubic", align_corners=False).clamp(-1, 1)


def keep_base_low_frequencies(high: torch.Tensor, low: torch.Tensor, factor: int | None = None) -> torch.Tensor:
    """`high` (B, 1, H, W) with its coarse content replaced by the base image `low` (B, 1, h, w), both in [-1, 1]:
    seen at H / `factor` px (default: the base size) the result is the base image, and the stage contributes only
    the detail finer than that (the low-frequency consistency of SR3 and ILVR, applied once at the end). A larger
    `factor` keeps less of the base image: the stage's own structure between the two sizes stays."""
    scale = high.shape[-1] // low.shape[-1]
    factor = factor or scale
    if factor % scale:
        raise ValueError(f"factor must be a multiple of the stage's scale {scale}")
    coarse_low = F.avg_pool2d(low, factor // scale) if factor > scale else low
    missing = coarse_low - F.avg_pool2d(high, factor)  # what the base image has and the output lacks, coarsely
    return (high + F.interpolate(missing, size=high.shape[-2:], mode="bicubic", align_corners=False)).clamp(-1, 1)


def keep_base_low_frequencies_01(high: np.ndarray, low: np.ndarray, factor: int | None = None) -> np.ndarray:
    """keep_base_low_frequencies on (N, H, W) and (N, h, w) numpy images in [0, 1] (what the stages return)."""
    kept = keep_base_low_frequencies(torch.from_numpy(np.asarray(high, np.float32))[:, None] * 2 - 1,
                                      torch.from_numpy(np.asarray(low, np.float32))[:, None] * 2 - 1, factor)
    return ((kept + 1) / 2)[:, 0].numpy()


def noise_condition(low_up: torch.Tensor, aug_step: torch.Tensor, scheduler: DDPMScheduler,
                    generator: torch.Generator | list[torch.Generator] | None = None) -> torch.Tensor:
    """The forward-diffusion sample of the upsampled low-res image at step s (s = 0: unchanged)."""
    noise = randn_tensor(low_up.shape, generator=generator, device=torch.device("cpu"),
                         dtype=torch.float32).to(low_up.device, low_up.dtype)
    noisy = scheduler.add_noise(low_up, noise, aug_step.clamp(min=0))
    return torch.where((aug_step > 0).view(-1, 1, 1, 1), noisy, low_up)


def stage_settings(info: dict) -> dict:
    """How a stage samples by default, from its radsynth.json (`info`; files older than a setting lack it)."""
    return {"default_aug_step": int(info.get("default_aug_step", 100)),
            "default_steps": int(info.get("default_steps", 20)),
            "default_start": float(info.get("default_start", 1.0)), "keep_low": keep_low_of(info)}


def keep_low_factor(value: int) -> int:
    """A `keep_low` argument as the factor (0: off); a flag is refused rather than read as factor 1 (keep
    everything)."""
    if isinstance(value, bool) or int(value) < 0:
        raise ValueError("keep_low is a factor (0: off), not a flag")
    return int(value)


def keep_low_of(info: dict) -> int:
    """A stage's `keep_low` factor from its radsynth.json: 0 = off. Older files held a flag and
    a separate factor (none: the stage's scale)."""
    keep = info.get("keep_low", 0)
    if isinstance(keep, bool):
        return int(info.get("keep_low_factor") or info["scale"]) if keep else 0
    return int(keep)


def stage_summary(info: dict) -> dict:
    """The `superres` entry of a generator's radsynth.json, from its stage's own radsynth.json (`info`): how it
    samples by default, and its training steps when known. `GET /models` reports it."""
    scale = int(info["scale"])
    if info.get("one_pass"):  # the detail network: nothing to tune
        return {"scale": scale, "kind": info.get("kind"), "one_pass": True} | (
            {"keep_low": int(info["keep_low"])} if info.get("keep_low") else {}) | (
            {"steps": info["steps"]} if info.get("steps") is not None else {})
    settings = stage_settings(info)
    summary = {"scale": scale} | settings
    return summary | ({"steps": info["steps"]} if info.get("steps") is not None else {})


class SuperResPipeline:
    """Sampling and a self-describing folder (unet/, scheduler/, radsynth.json) for a SuperResUNet."""

    def __init__(self, unet: SuperResUNet, scheduler: DDPMScheduler, *, default_aug_step: int = 100,
                 default_steps: int = 20, default_start: float = 1.0, keep_low: int = 0):
        """`default_steps` are the steps from pure noise; `default_start` is where a request that names none
        starts (below 1: from the upsampled base image, with the steps scaled by it); `keep_low` = n > 0: the output
        keeps the base image's coarse content, seen at 1/n of the output's side (keep_base_low_frequencies); 0: off."""
        self.unet, self.scheduler = unet, scheduler
        self.default_aug_step, self.default_steps = default_aug_step, default_steps
        self.default_start, self.keep_low = float(default_start), keep_low_factor(keep_low)

    def steps_from(self, start: float) -> int:
        """The default steps of a run starting at `start`: the default density (half the schedule, half the steps)."""
        return scaled_superres_steps(self.default_steps, start)

    @property
    def scale(self) -> int:
        return int(self.unet.config.scale)

    @torch.inference_mode()
    def __call__(self, low: np.ndarray, seeds: Sequence[int], *, num_inference_steps: int | None = None,
                 aug_step: int | None = None, sampler: str = DEFAULT_SAMPLER, batch_size: int = 4,
                 start: float | None = None, keep_low: int | None = None, callback=None) -> np.ndarray:
        """Super-resolve grey [0, 1] images (N, h, w) to (N, h*scale, w*scale) in [0, 1]; image i uses seeds[i].

        `start` < 1 begins from the upsampled input noised to start x T instead of pure noise (the coarse
        structure is known), spreading the steps over [0, start x T] only. `keep_low` = n > 0 puts the input's
        coarse content, seen at 1/n of the output's side, back into the output (keep_base_low_frequencies); 0: off.
        None: the stage's defaults (steps scaled by the start)."""
        start = self.default_start if start is None else float(start)
        if not 0.0 < start <= 1.0:
            raise ValueError("start must be in (0, 1]")
        low = np.asarray(low, dtype=np.float32)
        if low.ndim != 3 or len(seeds) != len(low):
            raise ValueError("give low-resolution images (N, h, w) and one seed per image")
        steps = int(num_inference_steps or self.steps_from(start))
        s = self.default_aug_step if aug_step is None else int(aug_step)
        factor = self.keep_low if keep_low is None else keep_low_factor(keep_low)
        out = []
        total = -(-len(low) // batch_size) * steps
        done = 0
        for first in range(0, len(low), batch_size):
            chunk = torch.from_numpy(low[first:first + batch_size])[:, None] * 2 - 1
            chunk_seeds = list(seeds[first:first + batch_size])

            def step_done(i: int, n: int, base: int = done) -> None:
                if callback:
                    callback(base + i, total)

            high = self._sample(chunk, chunk_seeds, steps, s, sampler, step_done, start)
            if factor:
                high = keep_base_low_frequencies(high, chunk.to(high), factor)
            out.append(((high.float() + 1) / 2)[:, 0].cpu().numpy())
            done += steps
        return np.concatenate(out)

    def _sample(self, low: torch.Tensor, seeds: list[int], steps: int, aug_step: int, sampler: str,
                callback, start: float = 1.0) -> torch.Tensor:
        device, dtype = self.unet.device, self.unet.dtype
        size = low.shape[-1] * self.scale
        low_up = upsample(low, size).to(device, dtype)
        s = torch.full((len(seeds),), aug_step, dtype=torch.long)
        gens = [torch.Generator("cpu").manual_seed(seed) for seed in seeds]
        cond_gens = [torch.Generator("cpu").manual_seed(seed + 7_919) for seed in seeds]  # per image: batch-free
        cond = noise_condition(low_up, s.to(device), self.scheduler, generator=cond_gens)
        scheduler = make_scheduler(sampler, self.scheduler.config)
        x = randn_tensor((len(seeds), 1, size, size), generator=gens, device=torch.device("cpu"),
                         dtype=torch.float32).to(device, dtype)
        if start < 1.0:
            scheduler.set_timesteps(max(steps, round(steps / start)), device=device)
            timesteps = scheduler.timesteps[scheduler.timesteps <= start * scheduler.config.num_train_timesteps]
            scheduler.set_begin_index(len(scheduler.timesteps) - len(timesteps))
            x = scheduler.add_noise(low_up, x, timesteps[:1])
        else:
            scheduler.set_timesteps(steps, device=device)
            timesteps = scheduler.timesteps
            x = x * scheduler.init_noise_sigma
        for i, t in enumerate(timesteps):
            model_in = scheduler.scale_model_input(x, t)
            pred = self.unet(model_in, t.expand(len(seeds)), cond, s).float()
            x = scheduler.step(pred, t, x).prev_sample
            callback(i + 1, len(timesteps))
        return x.float().clamp(-1, 1)

    def info(self) -> dict:
        """What its radsynth.json says of it (besides any training metadata)."""
        return {"kind": SR_KIND, "scale": self.scale, "resolution": int(self.unet.config.sample_size),
                "default_aug_step": self.default_aug_step, "default_steps": self.default_steps,
                "default_start": self.default_start, "keep_low": self.keep_low}

    def save(self, path: str | Path, *, metadata: dict | None = None, half: bool = True) -> Path:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        save_copy(self.unet, path / "unet", half)
        self.scheduler.save_pretrained(path / "scheduler")
        (path / "radsynth.json").write_text(json.dumps(self.info() | (metadata or {}), indent=2, default=str))
        return path

    @classmethod
    def load(cls, path: str | Path, *, device: str | torch.device = "cpu") -> SuperResPipeline:
        path = Path(path)
        unet = SuperResUNet.from_pretrained(path / "unet", local_files_only=True, low_cpu_mem_usage=False,
                                               torch_dtype=torch.float32)
        scheduler = DDPMScheduler.from_pretrained(path / "scheduler", local_files_only=True)
        info = json.loads((path / "radsynth.json").read_text())
        return cls(unet.to(device).eval(), scheduler, **stage_settings(info))
