"""RadSynthPipeline: finding-conditional sampling with classifier-free guidance in one batch."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from diffusers import DDPMScheduler, DiffusionPipeline
from diffusers.utils.torch_utils import randn_tensor

from models.diffusion.detail_net import CONFIG as DETAIL_CONFIG
from models.diffusion.detail_net import DetailStage
from models.diffusion.guide import (
    GUIDE_FOLDER,
    NoisyFindingClassifier,
    clip_noise_estimate,
    eps_from_v,
    guidance_shift,
    load_guide,
    v_from_eps,
)
from models.diffusion.noise_check import NoiseCheck
from models.diffusion.samplers import CLIPS_X0, make_scheduler
from models.diffusion.superres import SUPERRES_FOLDER, SuperResPipeline, stage_summary
from models.diffusion.unet import FindingUNet
from models.diffusion.weights import save_copy
from models.vocabulary.findings import resolve
from models.vocabulary.model_kinds import GENERATOR
from models.vocabulary.sampler_defaults import (
    DEFAULT_GUIDANCE,
    checked_guidance_interval,
    checked_guidance_rescale,
    default_steps,
    model_guidance,
)
from models.vocabulary.sampling import Sampling

ProgressCallback = Callable[[int, int], None]
SUPERRES_SEED_OFFSET = 7_777_777  # the super-resolution noise of the image of seed s comes from seed s + this
NOISE_REDRAW_SEED_STRIDE = 2_000_003  # a base image redrawn as noise for the k-th time takes its seed + k * this


@dataclass(frozen=True)
class BaseSampling:
    """How the base stage samples: shared by every image of a batch and by its noise redraws."""

    sampler: str
    steps: int
    guidance_scale: float
    classifier_scale: float
    precision: str = "fp32"
    num_frames: int = 0
    # Classifier-free guidance only where lo <= t / T <= hi (Kynkaeenniemi et al. 2024); elsewhere the plain
    # conditional prediction, with no unconditional pass. None: every step.
    guidance_interval: tuple[float, float] | None = None
    # Guidance rescale (Lin et al. 2024): the guided prediction's standard deviation brought back towards the
    # conditional one's by this share, against the over-exposure a large scale brings. 0: plain guidance.
    guidance_rescale: float = 0.0

    def guidance_at(self, t: int, num_train_timesteps: int) -> float:
        """The classifier-free guidance scale of the step at training timestep `t`."""
        if self.guidance_interval is None:
            return self.guidance_scale
        lo, hi = self.guidance_interval
        return self.guidance_scale if lo <= t / num_train_timesteps <= hi else 1.0


@dataclass
class GenerationOutput:
    """Images in [0, 1] (N, H, W), one seed per image, optional trajectory frames (T, N, H, W)."""

    images: np.ndarray
    seeds: list[int]
    findings: list[str]
    sampler: str
    steps: int
    guidance_scale: float
    frames: np.ndarray | None = None
    classifier_scale: float = 0.0
    extra: dict = field(default_factory=dict)


class RadSynthPipeline(DiffusionPipeline):
    """Wires a FindingUNet and a scheduler; `__call__` holds the whole denoising loop."""

    def __init__(self, unet: FindingUNet, scheduler: DDPMScheduler):
        super().__init__()
        self.register_modules(unet=unet, scheduler=scheduler)
        self.guide: NoisyFindingClassifier | None = None  # optional classifier guidance (models/diffusion/guide.py)
        self.default_classifier_scale = 0.0
        self.default_guidance = DEFAULT_GUIDANCE  # classifier-free guidance when a call names none
        self.default_guidance_interval: tuple[float, float] | None = None  # where it applies (None: every step)
        self.default_guidance_rescale = 0.0  # guidance rescale when a call names none
        # optional second stage: diffusion super-resolution (superres.py) or the one-pass detail network
        self.superres: SuperResPipeline | DetailStage | None = None
        # redraws base images that are pixel noise or featureless (models/diffusion/noise_check.py)
        self.noise_check: NoiseCheck | None = None

    def attach_guide(self, guide: NoisyFindingClassifier, default_scale: float = 0.0) -> None:
        """Use `guide` for classifier guidance; `default_scale` applies when a call names no classifier_scale."""
        if guide.findings != self.findings:
            raise ValueError(f"the guide's findings {guide.findings} differ from the generator's {self.findings}")
        self.guide = guide.to(self.unet.device).eval()
        self.default_classifier_scale = float(default_scale)

    def resolve_classifier_scale(self, scale: float | None) -> float:
        """The classifier-guidance scale a call uses: as asked, else the model's default (0 without a guide)."""
        scale = self.default_classifier_scale if scale is None else float(scale)
        if scale > 0 and self.guide is None:
            raise ValueError("this generator has no guide classifier: classifier guidance needs one "
                             "(radsynth train-guide); use classifier_guidance=0")
        return scale

    @property
    def findings(self) -> list[str]:
        return self.unet.findings

    def attach_superres(self, superres: SuperResPipeline | DetailStage) -> None:
        """Add a super-resolution stage: `resolution=` its output size then samples base -> super-resolution."""
        self.superres = superres

    @property
    def resolutions(self) -> list[int]:
        """Image sides this generator delivers: its own, and its super-resolution stage's when it has one."""
        base = int(self.unet.config.sample_size)
        return [base] + ([base * self.superres.scale] if self.superres is not None else [])

    def check_resolution(self, resolution: int | None) -> int:
        """The side a call delivers (None: the largest); a ValueError names the ones available."""
        if resolution is None:
            return self.resolutions[-1]
        if int(resolution) not in self.resolutions:
            raise ValueError(f"this generator makes {' or '.join(map(str, self.resolutions))}-px images, not "
                             f"{resolution}")
        return int(resolution)

    def __call__(
        self,
        findings: str | Sequence[str],
        num_images: int = 1,
        *,
        seeds: Sequence[int] | None = None,
        generator: torch.Generator | None = None,
        sampling: Sampling | None = None,
        callback: ProgressCallback | None = None,
        **keywords: Any,
    ) -> GenerationOutput:
        """Generate `num_images` images showing `findings` (one name, 'a+b', or a list).

        Each image draws its noise from its own seed, so an image is reproducible from its seed alone,
        whatever batch it was made in. `sampling` says how (models/vocabulary/sampling.py); without it,
        `keywords` build one (sampler, num_inference_steps, guidance_scale, return_frames, num_frames, ...:
        `Sampling.from_keywords`).
        """
        if num_images < 1:
            raise ValueError("num_images must be at least 1")
        if seeds is None:
            base = int(torch.randint(0, 2**31 - 1, (1,), generator=generator).item())
            seeds = [base + i for i in range(num_images)]
        if len(seeds) != num_images:
            raise ValueError(f"got {len(seeds)} seeds for {num_images} images")
        sampling = sampling if sampling is not None else Sampling.from_keywords(**keywords)
        return self.sample_requests([(findings, seeds)], sampling, callback=callback)[0]

    def second_stage_record(self, start: float, steps: int) -> dict:
        """What the 256-px stage did, for the output's provenance."""
        if getattr(self.superres, "one_pass", False):
            return {"detail_stage": "one-pass detail network"} | (
                {"superres_keep_low": self.superres.keep_low} if self.superres.keep_low else {})
        return {"superres_steps": steps, "superres_start": start, "superres_aug_step": self.superres.default_aug_step,
                "superres_keep_low": self.superres.keep_low, "superres_seed_offset": SUPERRES_SEED_OFFSET}

    @torch.inference_mode()
    def superres_plan(self, resolution: int, superres_start: float | None,
                      superres_steps: int | None) -> tuple[float, int]:
        """(start, steps) of the super-resolution stage for a request at `resolution`; (1.0, 0) when none runs."""
        if resolution == self.unet.config.sample_size:
            return 1.0, 0
        start = float(superres_start) if superres_start is not None else self.superres.default_start
        return start, self.superres_steps(superres_steps, start)

    def progress_total(self, num_images: int, steps: int, *, resolution: int | None = None,
                       superres_start: float | None = None, superres_steps: int | None = None) -> int:
        """The steps a job's progress counts to: the base's, then the super-resolution stage's per batch of 4, so a
        job reports one total from start to end."""
        _, sr_steps = self.superres_plan(self.check_resolution(resolution), superres_start, superres_steps)
        return steps + -(-num_images // 4) * sr_steps

    def sample_requests(
        self,
        requests: Sequence[tuple[str | Sequence[str], Sequence[int]]],
        sampling: Sampling | None = None,
        *,
        callback: ProgressCallback | None = None,
        **keywords: Any,
    ) -> list[GenerationOutput]:
        """Sample several requests (findings, seeds) in one UNet batch; one output per request.

        This is how the worker batches waiting jobs: the requests share one `sampling` (without it, `keywords`
        build one: `Sampling.from_keywords`), and each image still comes from its own seed and its own finding
        labels. `precision="bf16"` runs the UNet
        under bfloat16 autocast (the sampler's arithmetic stays float32): about 2x faster on GPUs and on CPUs
        with AMX; images differ from float32 ones by about one grey level on average (docs/benchmarks.md).
        `guidance_scale` None takes the model's chosen classifier-free guidance (`default_guidance`).
        `guidance_interval` (lo, hi) applies classifier-free guidance only at steps with lo <= t / T <= hi (None:
        the model's `default_guidance_interval`; (0, 1): every step).
        `guidance_rescale` (0-1) moves the guided prediction's spread towards the conditional one's (None: the
        model's `default_guidance_rescale`).
        `classifier_scale` > 0 adds classifier guidance from the attached guide (None: the model's default).
        `resolution` above the base size runs the super-resolution stage on every image (its own seed + a fixed
        offset); None delivers the largest size the generator has. Frames stay at the base size.
        `superres_start` < 1 starts that stage from the upsampled base image noised to that share of the schedule
        (with, unless `superres_steps` says otherwise, the model's steps scaled by it); None: the stage's default.
        With a noise check (`noise_check`, models/diffusion/noise_check.py), base images rougher than its limit are
        redrawn on new seeds before super-resolution (`redraw_noise=False` turns that off, to measure the raw
        generator); the seeds returned are those of the images delivered, and `extra["noise_redraws"]` counts the
        redraws.
        """
        s = sampling if sampling is not None else Sampling.from_keywords(**keywords)
        guidance_scale = self.default_guidance if s.guidance is None else float(s.guidance)
        classifier_scale = self.resolve_classifier_scale(s.classifier_guidance)
        resolution = self.check_resolution(s.resolution)
        sampler, superres_start, superres_steps = s.sampler, s.superres_start, s.superres_steps
        named = [(resolve(findings, self.findings), [int(s) for s in seeds]) for findings, seeds in requests]
        if any(not seeds for _, seeds in named):
            raise ValueError("every request needs at least one seed")
        seeds = [s for _, request_seeds in named for s in request_seeds]
        num_images = len(seeds)
        steps = int(s.steps or default_steps(sampler))
        size = self.unet.config.sample_size
        cond = torch.cat([self.unet.encode_findings(names, len(request_seeds)) for names, request_seeds in named])

        upscale = resolution != size
        sr_start, sr_steps = self.superres_plan(resolution, superres_start, superres_steps)
        progress_total = self.progress_total(num_images, steps, resolution=resolution, superres_start=superres_start,
                                             superres_steps=superres_steps)
        base = self.base_sampling(s, steps, guidance_scale, classifier_scale)
        images, frames = self.sample_base(cond, seeds, base, callback=callback, progress_total=progress_total)
        redraws = self.redraw_noisy(images, frames, cond, seeds, base) if self.noise_check is not None \
            and s.redraw_noise else None
        if upscale:
            images = self.superres(
                images, [s + SUPERRES_SEED_OFFSET for s in seeds], num_inference_steps=sr_steps, start=sr_start,
                callback=None if callback is None else lambda d, t: callback(steps + d, progress_total))
        outputs, start = [], 0
        for names, request_seeds in named:
            stop = start + len(request_seeds)
            stages = {"base_resolution": int(size), "resolution": int(resolution)}
            if upscale:
                stages |= self.second_stage_record(sr_start, sr_steps)
            if redraws is not None:
                stages["noise_redraws"] = redraws[start:stop].tolist()
            if base.guidance_interval is not None:
                stages["guidance_interval"] = list(base.guidance_interval)
            if base.guidance_rescale:
                stages["guidance_rescale"] = base.guidance_rescale
            outputs.append(GenerationOutput(
                images=images[start:stop], seeds=seeds[start:stop], findings=names, sampler=sampler.lower(),
                steps=steps, guidance_scale=float(guidance_scale), classifier_scale=classifier_scale,
                frames=None if frames is None else frames[:, start:stop], extra=dict(stages)))
            start = stop
        return outputs

    def base_sampling(self, s: Sampling, steps: int, guidance_scale: float, classifier_scale: float) -> BaseSampling:
        """How a call's base stage samples: `s` with the model's defaults filled in."""
        rescale = self.default_guidance_rescale if s.guidance_rescale is None else s.guidance_rescale
        return BaseSampling(sampler=s.sampler, steps=steps, guidance_scale=guidance_scale,
                            classifier_scale=classifier_scale, precision=s.precision, num_frames=s.frames,
                            guidance_interval=self.resolve_guidance_interval(s.guidance_interval),
                            guidance_rescale=checked_guidance_rescale(rescale))

    @torch.inference_mode()
    def sample_base(self, cond: torch.Tensor, seeds: Sequence[int], base: BaseSampling, *,
                    callback: ProgressCallback | None = None,
                    progress_total: int | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        """Base-size images (N, H, W) in [0, 1] for finding labels `cond` and one seed each; with
        `base.num_frames`, also up to that many trajectory frames (T, N, H, W)."""
        num_images = len(seeds)
        scheduler = make_scheduler(base.sampler, self.scheduler.config)
        device, dtype = self.unet.device, self.unet.dtype
        generators = [torch.Generator("cpu").manual_seed(int(s)) for s in seeds]
        size = self.unet.config.sample_size
        shape = (num_images, self.unet.config.in_channels, size, size)
        latents = randn_tensor(shape, generator=generators, device=torch.device("cpu"), dtype=torch.float32)
        scheduler.set_timesteps(base.steps, device=device)  # first: init_noise_sigma depends on the schedule set
        latents = latents.to(device=device, dtype=dtype) * scheduler.init_noise_sigma

        classifier_scale = base.classifier_scale
        both = torch.cat([cond, self.unet.null_labels(num_images)]).to(device=device, dtype=dtype)
        cond_only = both[:num_images]
        train_steps = int(self.scheduler.config.num_train_timesteps)
        targets = cond[:, :-1].to(device)  # the asked findings, for the guide (without the null flag)

        timesteps = scheduler.timesteps
        alphas = self.scheduler.alphas_cumprod.to(device)
        clips_itself = base.sampler.lower() in CLIPS_X0
        keep = set(np.linspace(0, len(timesteps) - 1, min(base.num_frames, len(timesteps))).round().astype(int)
                   .tolist()) if base.num_frames else set()
        frames: list[torch.Tensor] = []
        for i, t in enumerate(timesteps):
            x_t = scheduler.scale_model_input(latents, t)
            scale = base.guidance_at(int(t), train_steps)
            guided = scale != 1.0
            model_in = torch.cat([x_t, x_t]) if guided else x_t
            labels = both if guided else cond_only
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=base.precision == "bf16"):
                eps = self.unet(model_in, t.expand(model_in.shape[0]), labels).float()
            if guided:
                eps_cond, eps_uncond = eps.chunk(2)
                eps = rescaled_guidance(eps_uncond + scale * (eps_cond - eps_uncond), eps_cond,
                                        base.guidance_rescale)
            if classifier_scale > 0:
                eps = self.classifier_guided(eps, x_t.float(), t, targets, alphas, classifier_scale, clips_itself)
            step_kwargs = {"generator": generators} if "generator" in scheduler.step.__code__.co_varnames else {}
            latents = scheduler.step(eps, t, latents, **step_kwargs).prev_sample
            if i in keep:
                frames.append(latents.detach().float().cpu())
            if callback is not None:
                callback(i + 1, progress_total or len(timesteps))
        images = ((latents.float().clamp(-1, 1) + 1) / 2)[:, 0].cpu().numpy()
        frame_arr = ((torch.stack(frames).clamp(-1, 1) + 1) / 2)[:, :, 0].numpy() if frames else None
        return images, frame_arr

    def redraw_noisy(self, images: np.ndarray, frames: np.ndarray | None, cond: torch.Tensor, seeds: list[int],
                     base: BaseSampling) -> np.ndarray:
        """Redraw, in place, base images the noise check fails (too rough, or featureless), each on its seed plus a
        fixed stride per attempt (so the delivered image is reproducible from the seed reported); returns redraws
        per image.

        An image still failing after the last attempt is delivered as the least failing of its candidates (the
        smallest violation of the limits); its count says how many were drawn."""
        redraws = np.zeros(len(seeds), dtype=int)
        first = list(seeds)
        worst = self.noise_check.violation(images)
        for attempt in range(1, self.noise_check.max_attempts + 1):
            which = np.flatnonzero(worst > 0)
            if not len(which):
                break
            new_seeds = [first[i] + attempt * NOISE_REDRAW_SEED_STRIDE for i in which]
            redo, redo_frames = self.sample_base(cond[which], new_seeds, base)
            redraws[which] = attempt
            beyond = self.noise_check.violation(redo)
            for j in np.flatnonzero(beyond < worst[which]):
                i = which[j]
                images[i], seeds[i], worst[i] = redo[j], new_seeds[j], beyond[j]
                if frames is not None and redo_frames is not None:
                    frames[:, i] = redo_frames[:, j]
        return redraws

    def resolve_guidance_interval(self, interval: Sequence[float] | None) -> tuple[float, float] | None:
        """The interval a call guides in: as asked, else the model's default; (0, 1) and None mean every step."""
        interval = self.default_guidance_interval if interval is None else interval
        if interval is None:
            return None
        lo, hi = checked_guidance_interval(float(interval[0]), float(interval[1]))
        return None if lo == 0.0 and hi == 1.0 else (lo, hi)

    def superres_steps(self, steps: int | None, start: float) -> int:
        """The super-resolution steps of a request: its own, else the model's default scaled by where it starts
        (half the schedule, half the steps: the same step density)."""
        if not 0.0 < start <= 1.0:
            raise ValueError("superres_start must be in (0, 1]")
        return int(steps) if steps else self.superres.steps_from(start)

    def classifier_guided(self, pred: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor, targets: torch.Tensor,
                          alphas: torch.Tensor, scale: float, clips_itself: bool) -> torch.Tensor:
        """The model output shifted by classifier guidance; the shift is made on the noise estimate, so a
        v-prediction is converted to one and back."""
        v_pred = self.scheduler.config.prediction_type == "v_prediction"
        eps = eps_from_v(pred, x_t, t, alphas) if v_pred else pred
        eps = eps + guidance_shift(self.guide, x_t, t, targets, alphas, scale)
        if not clips_itself:
            eps = clip_noise_estimate(eps, x_t, t, alphas)
        return v_from_eps(eps, x_t, t, alphas) if v_pred else eps

    def save(self, path: str | Path, *, metadata: dict | None = None, half: bool = True) -> Path:
        """Write a self-describing folder: unet/ (safetensors + config), scheduler/, radsynth.json.

        Weights are stored in float16 by default (half the size; loading upcasts to float32).
        """
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        save_copy(self.unet, path / "unet", half)
        self.scheduler.save_pretrained(path / "scheduler")
        info = {"kind": GENERATOR.name, "findings": self.findings, "resolution": self.unet.config.sample_size,
                "default_guidance": self.default_guidance}
        if self.default_guidance_interval is not None:
            info["default_guidance_interval"] = list(self.default_guidance_interval)
        if self.default_guidance_rescale:
            info["default_guidance_rescale"] = self.default_guidance_rescale
        if self.guide is not None:
            save_copy(self.guide, path / GUIDE_FOLDER, half)
            info |= {"guide": True, "default_classifier_scale": self.default_classifier_scale}
        if self.noise_check is not None:
            info["noise_check"] = self.noise_check.to_json()
        if self.superres is not None:
            self.superres.save(path / SUPERRES_FOLDER, half=half)
            info |= {"superres": stage_summary(self.superres.info()), "resolutions": self.resolutions}
        (path / "radsynth.json").write_text(json.dumps(info | (metadata or {}), indent=2, default=str))
        return path

    @classmethod
    def load(cls, path: str | Path, *, device: str | torch.device = "cpu") -> RadSynthPipeline:
        """Load from local files only (never a hub)."""
        path = Path(path)
        unet = FindingUNet.from_pretrained(path / "unet", local_files_only=True, low_cpu_mem_usage=False,
                                           torch_dtype=torch.float32)
        scheduler = DDPMScheduler.from_pretrained(path / "scheduler", local_files_only=True)
        pipe = cls(unet=unet.to(device).eval(), scheduler=scheduler)
        info = json.loads((path / "radsynth.json").read_text()) if (path / "radsynth.json").exists() else {}
        pipe.default_guidance = model_guidance(info)
        pipe.default_guidance_interval = pipe.resolve_guidance_interval(info.get("default_guidance_interval"))
        pipe.default_guidance_rescale = checked_guidance_rescale(float(info.get("default_guidance_rescale", 0.0)))
        pipe.noise_check = NoiseCheck.from_json(info.get("noise_check"))
        if (path / SUPERRES_FOLDER / DETAIL_CONFIG).exists():
            pipe.attach_superres(DetailStage.load(path / SUPERRES_FOLDER, device=device))
        elif (path / SUPERRES_FOLDER / "radsynth.json").exists():
            pipe.attach_superres(SuperResPipeline.load(path / SUPERRES_FOLDER, device=device))
        if (path / GUIDE_FOLDER / "config.json").exists():
            pipe.attach_guide(load_guide(path / GUIDE_FOLDER, device), info.get("default_classifier_scale", 0.0))
        return pipe


def rescaled_guidance(guided: torch.Tensor, conditional: torch.Tensor, share: float) -> torch.Tensor:
    """`guided` with its per-image standard deviation moved `share` of the way to `conditional`'s (Lin et al.
    2024, eq. 15-16; the prediction here is v, as in their v-prediction models)."""
    if share <= 0:
        return guided
    dims = tuple(range(1, guided.ndim))
    matched = guided * (conditional.std(dim=dims, keepdim=True) / guided.std(dim=dims, keepdim=True).clamp_min(1e-8))
    return share * matched + (1 - share) * guided


def new_scheduler(num_train_timesteps: int = 1000, prediction_type: str = "epsilon") -> DDPMScheduler:
    """The training noise schedule (cosine: better than linear at 64 px); the UNet predicts noise ("epsilon")
    or velocity ("v_prediction")."""
    return DDPMScheduler(num_train_timesteps=num_train_timesteps, beta_schedule="squaredcos_cap_v2",
                         prediction_type=prediction_type, clip_sample=True)
