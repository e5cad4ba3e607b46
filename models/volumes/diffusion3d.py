"""VolumePipeline: a class-conditional 3D DDPM (MONAI DiffusionModelUNet, spatial_dims=3) sampled with the same
diffusers schedulers as the 2D generator (DPM-Solver++, DDIM, UniPC, DDPM), classifier-free guidance in one batch."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from diffusers.utils.torch_utils import randn_tensor

from models.diffusion.pipeline import new_scheduler
from models.diffusion.samplers import DEFAULT_SAMPLER, make_scheduler
from models.errors import InputError
from models.vocabulary.findings import resolve
from models.vocabulary.model_kinds import VOLUME_GENERATOR
from models.vocabulary.sampler_defaults import default_steps

UNET_FILE, CONFIG_FILE = "unet3d.safetensors", "unet3d.json"
PREDICTIONS = ("epsilon", "v_prediction")


@dataclass
class VolumeOutput:
    """Volumes in [0, 1] as (N, Z, Y, X), one seed each."""

    volumes: np.ndarray
    seeds: list[int]
    finding: str
    sampler: str
    steps: int
    guidance_scale: float


def build_unet(n_classes: int, channels: Sequence[int] = (16, 32, 64), num_res_blocks: int = 1,
               attention_last: bool = False, in_channels: int = 1):
    """MONAI's 3D diffusion UNet with one class embedding per finding plus a null class (for guidance).
    `in_channels` > 1 when it denoises an autoencoder's latents (latent diffusion)."""
    from monai.networks.nets import DiffusionModelUNet

    levels = len(channels)
    return DiffusionModelUNet(
        spatial_dims=3, in_channels=in_channels, out_channels=in_channels, channels=tuple(channels),
        num_res_blocks=num_res_blocks,
        attention_levels=tuple([False] * (levels - 1) + [attention_last]), norm_num_groups=min(8, channels[0]),
        num_head_channels=channels[-1] if attention_last else 8, num_class_embeds=n_classes + 1)


class VolumePipeline:
    """Findings, the 3D UNet and the training noise schedule; `__call__` holds the sampling loop."""

    def __init__(self, unet: torch.nn.Module, findings: Sequence[str], config: dict,
                 scheduler_config: dict | None = None):
        self.unet, self.findings, self.config = unet, list(findings), dict(config)
        self.scheduler_config = dict(scheduler_config or new_scheduler().config)

    @classmethod
    def new(cls, findings: Sequence[str], size: int = 32, channels: Sequence[int] = (16, 32, 64),
            num_res_blocks: int = 1, attention_last: bool = False, seed: int = 0,
            in_channels: int = 1, prediction: str = "v_prediction") -> VolumePipeline:
        """`prediction`: what the UNet outputs, "epsilon" (the noise) or "v_prediction" (better conditioned at high
        noise, where an epsilon error is amplified into the whole volume's estimate)."""
        if prediction not in PREDICTIONS:
            raise ValueError(f"prediction must be one of {', '.join(PREDICTIONS)}; got {prediction!r}")
        torch.manual_seed(seed)
        config = {"size": size, "channels": list(channels), "num_res_blocks": num_res_blocks,
                  "attention_last": attention_last, "in_channels": in_channels}
        scheduler_config = dict(new_scheduler().config) | {"prediction_type": prediction}
        return cls(build_unet(len(findings), channels, num_res_blocks, attention_last, in_channels), findings,
                   config, scheduler_config)

    @property
    def in_channels(self) -> int:
        return int(self.config.get("in_channels", 1))

    @property
    def size(self) -> int:
        return int(self.config["size"])

    @property
    def null_class(self) -> int:
        return len(self.findings)

    def class_index(self, finding: str) -> int:
        names = resolve(finding, self.findings)
        if len(names) != 1:
            raise InputError(f"a volume model generates one finding at a time; got {', '.join(names)}")
        return self.findings.index(names[0])

    @torch.inference_mode()
    def __call__(self, finding: str, num_volumes: int = 1, *, seeds: Sequence[int] | None = None,
                 sampler: str = DEFAULT_SAMPLER, num_inference_steps: int | None = None, guidance_scale: float = 2.0,
                 callback: Callable[[int, int], None] | None = None, precision: str = "fp32",
                 decode: Callable[[torch.Tensor], torch.Tensor] | None = None) -> VolumeOutput:
        """`num_volumes` volumes of `finding`; each from its own seed, whatever batch it is in. `precision="bf16"`
        runs the UNet under bfloat16 autocast (as in 2D). `decode` maps the denoised samples to volumes in
        [-1, 1] (latent diffusion's decoder); without it the samples are the volumes."""
        latents, label, steps, seeds = self.sample_latents(finding, num_volumes, seeds=seeds, sampler=sampler,
                                                           num_inference_steps=num_inference_steps,
                                                           guidance_scale=guidance_scale, callback=callback,
                                                           precision=precision)
        images = decode(latents.float()) if decode is not None else latents.float()
        volumes = ((images.clamp(-1, 1) + 1) / 2)[:, 0].cpu().numpy()
        return VolumeOutput(volumes, seeds, self.findings[label], sampler.lower(), steps, float(guidance_scale))

    @torch.inference_mode()
    def sample_latents(self, finding: str, num_volumes: int = 1, *, seeds: Sequence[int] | None = None,
                       sampler: str = DEFAULT_SAMPLER, num_inference_steps: int | None = None,
                       guidance_scale: float = 2.0, callback: Callable[[int, int], None] | None = None,
                       precision: str = "fp32") -> tuple[torch.Tensor, int, int, list[int]]:
        """The denoised samples (N, C, S, S, S) as the UNet sees them, the class index, the steps taken and the
        seeds."""
        label = self.class_index(finding)
        seeds = [int(s) for s in (seeds if seeds is not None else range(num_volumes))]
        if len(seeds) != num_volumes or num_volumes < 1:
            raise ValueError(f"got {len(seeds)} seeds for {num_volumes} volumes")
        steps = int(num_inference_steps or default_steps(sampler, volume=True))
        scheduler = make_scheduler(sampler, self.scheduler_config)
        device = next(self.unet.parameters()).device
        generators = [torch.Generator("cpu").manual_seed(s) for s in seeds]
        shape = (num_volumes, self.in_channels, self.size, self.size, self.size)
        latents = randn_tensor(shape, generator=generators, device=torch.device("cpu"), dtype=torch.float32)
        scheduler.set_timesteps(steps, device=device)  # first: init_noise_sigma depends on the schedule set
        latents = latents.to(device) * scheduler.init_noise_sigma
        guided = guidance_scale != 1.0
        labels = torch.full((num_volumes,), label, dtype=torch.long)
        if guided:
            labels = torch.cat([labels, torch.full((num_volumes,), self.null_class, dtype=torch.long)])
        labels = labels.to(device)
        self.unet.eval()
        for i, t in enumerate(scheduler.timesteps):
            model_in = scheduler.scale_model_input(torch.cat([latents, latents]) if guided else latents, t)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
                eps = self.unet(model_in, t.expand(model_in.shape[0]).to(device), class_labels=labels).float()
            if guided:
                eps_cond, eps_uncond = eps.chunk(2)
                eps = eps_uncond + guidance_scale * (eps_cond - eps_uncond)
            step_kwargs = {"generator": generators} if "generator" in scheduler.step.__code__.co_varnames else {}
            latents = scheduler.step(eps, t, latents, **step_kwargs).prev_sample
            if callback is not None:
                callback(i + 1, len(scheduler.timesteps))
        return latents, label, steps, seeds

    def save(self, path: str | Path, *, metadata: dict | None = None) -> Path:
        """A self-describing folder: the UNet's weights (safetensors, float16) and config, radsynth.json."""
        from safetensors.torch import save_file

        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        save_file({k: v.detach().half().contiguous() for k, v in self.unet.state_dict().items()}, path / UNET_FILE)
        (path / CONFIG_FILE).write_text(json.dumps({"unet": self.config, "scheduler": dict(self.scheduler_config)},
                                                   indent=2, default=str))
        info = {"kind": VOLUME_GENERATOR.name, "findings": self.findings, "resolution": self.size}
        (path / "radsynth.json").write_text(json.dumps(info | (metadata or {}), indent=2, default=str))
        return path

    @classmethod
    def load(cls, path: str | Path, *, device: str | torch.device = "cpu") -> VolumePipeline:
        from safetensors.torch import load_file

        path = Path(path)
        cfg = json.loads((path / CONFIG_FILE).read_text())
        info = json.loads((path / "radsynth.json").read_text())
        u = cfg["unet"]
        unet = build_unet(len(info["findings"]), u["channels"], u["num_res_blocks"], u["attention_last"],
                          u.get("in_channels", 1))
        unet.load_state_dict({k: v.float() for k, v in load_file(path / UNET_FILE).items()})
        return cls(unet.to(device), info["findings"], u, cfg["scheduler"])
