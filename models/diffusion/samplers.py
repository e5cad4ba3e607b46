"""Sampler names -> diffusers schedulers built from one training scheduler config."""

from __future__ import annotations

from diffusers import (
    DDIMScheduler,
    DDPMScheduler,
    DPMSolverMultistepScheduler,
    EulerAncestralDiscreteScheduler,
    EulerDiscreteScheduler,
    UniPCMultistepScheduler,
)
from diffusers.schedulers.scheduling_utils import SchedulerMixin

from models.vocabulary.sampler_defaults import DEFAULT_SAMPLER, SAMPLER_NAMES

SAMPLERS: dict[str, tuple[type, dict]] = {
    "ddpm": (DDPMScheduler, {}),
    "ddim": (DDIMScheduler, {"timestep_spacing": "trailing"}),
    "dpmsolver++": (DPMSolverMultistepScheduler, {
        "algorithm_type": "dpmsolver++", "solver_order": 2, "thresholding": True,
        "timestep_spacing": "trailing", "final_sigmas_type": "zero",
    }),
    # The cosine schedule ends at alpha_bar ~ 2e-9, where x0 = (x - sqrt(1 - alpha_bar) eps) / sqrt(alpha_bar)
    # amplifies any noise error ~20,000-fold: solvers that predict x0 need thresholding (clip to the data range)...
    "unipc": (UniPCMultistepScheduler, {"timestep_spacing": "trailing", "thresholding": True}),
    # ...and the Euler samplers, which cannot threshold, start one spacing below t = 999 instead.
    "euler": (EulerDiscreteScheduler, {"timestep_spacing": "leading", "steps_offset": 1}),
    "euler_a": (EulerAncestralDiscreteScheduler, {"timestep_spacing": "leading", "steps_offset": 1}),
}
# DPM-Solver++ and UniPC threshold, DDPM and DDIM clip their x0 estimate; the Euler samplers do neither.
CLIPS_X0 = frozenset({"ddpm", "ddim", "dpmsolver++", "unipc"})


assert tuple(SAMPLERS) == SAMPLER_NAMES, "models/vocabulary/sampler_defaults.py declares the sampler names"
__all__ = ["CLIPS_X0", "DEFAULT_SAMPLER", "SAMPLERS", "make_scheduler"]


def make_scheduler(name: str, base_config: dict) -> SchedulerMixin:
    """Build sampler `name` from the training scheduler's config (betas and prediction type kept)."""
    key = name.lower()
    if key not in SAMPLERS:
        raise ValueError(f"unknown sampler {name!r}; valid samplers: {', '.join(SAMPLERS)}")
    cls, overrides = SAMPLERS[key]
    return cls.from_config(base_config, **overrides)
