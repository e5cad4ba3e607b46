"""How many steps each sampler takes when a request names none. Torch-free, so the API can read it."""

from __future__ import annotations

from typing import Literal

# The samplers, declared once: every allowed-value list (API, CLI, OpenAPI, page) derives from this.
SamplerName = Literal["ddpm", "ddim", "dpmsolver++", "unipc", "euler", "euler_a"]
SAMPLER_NAMES: tuple[str, ...] = SamplerName.__args__
DEFAULT_SAMPLER = "dpmsolver++"
# 2D: DPM-Solver++ 15 steps matched DDPM-1000's FID and KID at 80x its speed (docs/benchmarks.md); 25 steps did not.
DEFAULT_STEPS = {"ddpm": 1000, "ddim": 50, "dpmsolver++": 15, "unipc": 10, "euler": 30, "euler_a": 30}
assert set(DEFAULT_STEPS) == set(SAMPLER_NAMES)
# 3D volumes keep 25 DPM-Solver++ steps: their model card was measured there.
VOLUME_DEFAULT_STEPS = DEFAULT_STEPS | {"dpmsolver++": 25, "unipc": 20}


DEFAULT_GUIDANCE = 2.0  # classifier-free guidance of a generator that names none


def model_guidance(info: dict) -> float:
    """A generator's classifier-free guidance when a request names none: the scale chosen on its validation split
    (`default_guidance` in its radsynth.json), else DEFAULT_GUIDANCE."""
    return float(info.get("default_guidance", DEFAULT_GUIDANCE))


def parse_guidance_interval(text: str) -> tuple[float, float]:
    """'lo:hi' (shares of the noise schedule, t/T) as (lo, hi); ValueError saying what to fix otherwise."""
    parts = str(text).split(":")
    try:
        lo, hi = (float(x) for x in parts)
    except ValueError:
        raise ValueError("guidance_interval is 'lo:hi', two shares of the noise schedule such as 0:0.7; "
                         f"got {text!r}") from None
    return checked_guidance_interval(lo, hi)


def checked_guidance_interval(lo: float, hi: float) -> tuple[float, float]:
    """(lo, hi) when 0 <= lo < hi <= 1 (shares of the noise schedule); ValueError saying what to fix otherwise."""
    if not 0.0 <= lo < hi <= 1.0:
        raise ValueError(f"guidance_interval needs 0 <= lo < hi <= 1 (0:1 guides every step); got {lo:g}:{hi:g}")
    return float(lo), float(hi)


def checked_guidance_rescale(share: float) -> float:
    """A guidance-rescale share when 0 <= share <= 1; ValueError saying what to fix otherwise."""
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"guidance_rescale is a share from 0 (plain guidance) to 1 (the conditional prediction's "
                         f"spread kept); got {share:g}")
    return float(share)


def scaled_superres_steps(default_steps: int, start: float) -> int:
    """A super-resolution stage's steps when a run starts at `start` of its schedule and names none: its steps from
    pure noise at the same density (half the schedule, half the steps)."""
    return max(1, round(default_steps * start))


def default_steps(sampler: str, *, volume: bool = False) -> int:
    """The sampler's own default, for 2D image or 3D volume models."""
    table = VOLUME_DEFAULT_STEPS if volume else DEFAULT_STEPS
    return table.get(sampler.lower(), 25)


def request_steps(sampler: str, steps: int | None, configured: int | None, *, volume: bool) -> int:
    """A job's steps: as asked; else DDPM's 1000; else the operator's setting; else the sampler's default."""
    if steps:
        return steps
    if sampler.lower() == "ddpm":
        return 1000
    return configured or default_steps(sampler, volume=volume)
