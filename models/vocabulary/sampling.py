"""How images are sampled, as one object (torch-free): built once from a request, passed unchanged from the route's
parameters through the worker to the pipeline."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

from models.vocabulary.sampler_defaults import DEFAULT_SAMPLER

GIF_FRAMES = 24  # trajectory frames kept for a denoising GIF
# The pipeline's older keyword names, and the field each sets.
KEYWORDS = {"num_inference_steps": "steps", "guidance_scale": "guidance", "classifier_scale": "classifier_guidance"}


@dataclass(frozen=True)
class Sampling:
    """Sampler, steps, guidance (and where in the schedule it applies), resolution and super-resolution settings.

    None means the model's own default (its radsynth.json) or the sampler's default steps."""

    sampler: str = DEFAULT_SAMPLER
    steps: int | None = None
    guidance: float | None = None  # classifier-free guidance scale
    guidance_interval: tuple[float, float] | None = None  # (lo, hi) shares of the schedule, t/T
    guidance_rescale: float | None = None  # 0-1: the guided prediction's spread moved towards the conditional's
    classifier_guidance: float | None = None  # scale of the noise-aware guide classifier
    resolution: int | None = None  # delivered side; above the base size the super-resolution stage runs
    superres_start: float | None = None
    superres_steps: int | None = None
    frames: int = 0  # trajectory frames kept for a denoising GIF (0: none)
    precision: str = "fp32"  # "bf16": the UNet under bfloat16 autocast
    redraw_noise: bool = True  # False: the raw generator, without the noise check's redraws

    @classmethod
    def from_keywords(cls, **keywords: Any) -> Sampling:
        """From the pipeline's keyword arguments (num_inference_steps, guidance_scale, classifier_scale,
        return_frames and num_frames are the older names); TypeError on an unknown one."""
        wants_frames, frame_count = keywords.pop("return_frames", False), keywords.pop("num_frames", GIF_FRAMES)
        values = {KEYWORDS.get(k, k): v for k, v in keywords.items()}
        unknown = sorted(set(values) - {f.name for f in fields(cls)})
        if unknown:
            raise TypeError(f"unknown sampling argument(s): {', '.join(unknown)}")
        if values.get("redraw_noise") is None:
            values.pop("redraw_noise", None)
        if wants_frames:
            values["frames"] = int(frame_count)
        return cls(**values)

    def but(self, **changes: Any) -> Sampling:
        """A copy with some fields changed (e.g. no GIF frames for a redraw)."""
        return replace(self, **changes)
