"""Counterfactual explanations: what would this X-ray look like without the finding?

SDEdit (Meng et al. 2022) with a paired reference. The upload, brought to the generator's base size, is noised
to step `strength` x T with one noise draw, then denoised twice from that same point with a deterministic DDIM
sampler: once asking for the finding (the *reconstruction*) and once asking for "No Finding" (the
*counterfactual*). Their difference is where the generator had to change the image to remove the finding; taking
it against the reconstruction rather than against the upload cancels what the 64-px generator cannot reproduce
anyway (fine detail, burned-in text), so the map shows the finding's change and not the generator's blur.
The ensemble reads all three images, so a reader sees whether the finding's probability drops and whether the
other findings stay.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from models.classifier.ensemble import ClassifierEnsemble
from models.data.preprocess import SquareGeometry, heatmap_to_original, resize, to_model_input
from models.diffusion.samplers import make_scheduler
from models.vocabulary.counterfactual_defaults import DDIM_STEPS as DEFAULT_STEPS
from models.vocabulary.counterfactual_defaults import GUIDANCE as DEFAULT_GUIDANCE
from models.vocabulary.counterfactual_defaults import STRENGTH as DEFAULT_STRENGTH
from models.vocabulary.findings import NO_FINDING, resolve


@dataclass
class Counterfactual:
    """One finding's counterfactual at the generator's base size, and its difference map on the upload's grid."""

    finding: str
    reconstruction: np.ndarray  # (R, R) in [0, 1]: the upload regenerated with the finding
    counterfactual: np.ndarray  # (R, R) in [0, 1]: the same, regenerated as "No Finding"
    difference_model: np.ndarray  # (R, R): reconstruction - counterfactual (signed; brighter with the finding > 0)
    difference: np.ndarray  # the absolute difference on the upload's own (H, W) grid
    probabilities: dict[str, dict[str, float]]  # finding -> {original, reconstruction, counterfactual}
    settings: dict = field(default_factory=dict)

    def summary(self) -> dict:
        """JSON-ready: the finding's probability change, how much the other findings moved, the settings."""
        own = self.probabilities.get(self.finding, {})
        others = [abs(p["counterfactual"] - p["reconstruction"]) for name, p in self.probabilities.items()
                  if name not in (self.finding, NO_FINDING)]
        return {"finding": self.finding, "probability": own,
                "probability_drop": own.get("reconstruction", 0.0) - own.get("counterfactual", 0.0),
                "other_findings_mean_abs_change": float(np.mean(others)) if others else 0.0,
                "difference_mean": float(np.abs(self.difference_model).mean()),
                "settings": self.settings}


def summaries(counterfactuals: list[Counterfactual], generator_name: str) -> list[dict]:
    """Each counterfactual's summary with the generator that made it (the job result and explanation.json)."""
    return [cf.summary() | {"generator": generator_name} for cf in counterfactuals]


def generator_input(pixels: np.ndarray, size: int) -> tuple[np.ndarray, SquareGeometry]:
    """The upload as the generator was trained to see images: centre-cropped square at its base size."""
    return to_model_input(pixels, size, mode="crop")


@torch.inference_mode()
def regenerate(pipe, square: np.ndarray, conditions: list[str], *, strength: float = DEFAULT_STRENGTH,
               steps: int = DEFAULT_STEPS, guidance: float = DEFAULT_GUIDANCE, seed: int = 0) -> np.ndarray:
    """Noise `square` (R, R in [0, 1]) to `strength` x T once, and denoise it under each condition (a finding
    name, or "a+b"); returns (len(conditions), R, R) in [0, 1]. Deterministic for a seed (DDIM, eta 0)."""
    return regenerate_many(pipe, np.asarray(square)[None], conditions, strength=strength, steps=steps,
                           guidance=guidance, seeds=[seed])[0]


@torch.inference_mode()
def regenerate_many(pipe, squares: np.ndarray, conditions: list[str], *, strength: float = DEFAULT_STRENGTH,
                    steps: int = DEFAULT_STEPS, guidance: float = DEFAULT_GUIDANCE,
                    seeds: list[int] | None = None) -> np.ndarray:
    """`regenerate` for a batch (B, R, R), one seed per image, in one UNet batch: (B, len(conditions), R, R)."""
    if not 0.0 < strength <= 1.0:
        raise ValueError("strength must be in (0, 1]")
    squares = np.asarray(squares, np.float32)
    seeds = list(range(len(squares))) if seeds is None else list(seeds)
    unet = pipe.unet
    device, dtype = unet.device, unet.dtype
    scheduler = make_scheduler("ddim", pipe.scheduler.config)
    scheduler.set_timesteps(steps, device=device)
    t_start = strength * scheduler.config.num_train_timesteps
    timesteps = scheduler.timesteps[scheduler.timesteps <= t_start]
    if len(timesteps) == 0:
        timesteps = scheduler.timesteps[-1:]
    n = len(conditions)
    x0 = torch.from_numpy(squares)[:, None].to(device) * 2 - 1
    noise = torch.cat([torch.randn((1, *x0.shape[1:]), generator=torch.Generator("cpu").manual_seed(int(s)))
                       for s in seeds]).to(device)
    latents = scheduler.add_noise(x0, noise, timesteps[0:1]).repeat_interleave(n, 0).to(dtype)
    cond = torch.cat([unet.encode_findings(c, 1) for c in conditions]).repeat(len(squares), 1)
    guided = guidance != 1.0
    labels = (torch.cat([cond, unet.null_labels(len(cond))]) if guided else cond).to(device=device, dtype=dtype)
    for t in timesteps:
        x_t = scheduler.scale_model_input(latents, t)
        model_in = torch.cat([x_t, x_t]) if guided else x_t
        pred = unet(model_in, t.expand(model_in.shape[0]), labels).float()
        if guided:
            p_cond, p_uncond = pred.chunk(2)
            pred = p_uncond + guidance * (p_cond - p_uncond)
        latents = scheduler.step(pred, t, latents).prev_sample
    out = ((latents.float().clamp(-1, 1) + 1) / 2)[:, 0].cpu().numpy()
    return out.reshape(len(squares), n, *out.shape[1:])


def ensemble_reads(ens: ClassifierEnsemble, images: list[np.ndarray]) -> np.ndarray:
    """The ensemble's mean probabilities (N, K) for square [0, 1] images of any side."""
    batch = np.stack([resize(img, ens.input_size) for img in images]).clip(0, 1)
    return ens.predict(batch).mean


def counterfactuals(pipe, ens: ClassifierEnsemble, pixels: np.ndarray, findings: list[str], *,
                    strength: float = DEFAULT_STRENGTH, steps: int = DEFAULT_STEPS,
                    guidance: float = DEFAULT_GUIDANCE, seed: int = 0, progress=None) -> list[Counterfactual]:
    """One counterfactual per finding the generator knows (others are skipped), for a grey [0, 1] image."""
    size = int(pipe.unet.config.sample_size)
    square, geom = generator_input(pixels, size)
    known = [f for f in findings if f != NO_FINDING and resolve_or_none(f, pipe.findings)]
    if NO_FINDING not in pipe.findings:
        raise ValueError("this generator has no 'No Finding' condition, so it cannot make counterfactuals")
    original = ensemble_reads(ens, [square])[0]
    # one noise draw for all: the "No Finding" regeneration is the same for every finding, so it runs once
    images = regenerate(pipe, square, [*known, NO_FINDING], strength=strength, steps=steps, guidance=guidance,
                        seed=seed) if known else []
    out = []
    for i, finding in enumerate(known):
        recon, counter = images[i], images[-1]
        probs = ensemble_reads(ens, [recon, counter])
        table = {name: {"original": float(original[k]), "reconstruction": float(probs[0, k]),
                        "counterfactual": float(probs[1, k])} for k, name in enumerate(ens.findings)}
        diff = (recon - counter).astype(np.float32)
        settings = {"method": "counterfactual (SDEdit, paired reconstruction)", "strength": strength,
                    "ddim_steps": steps, "steps_run": int(round(strength * steps)), "guidance": guidance,
                    "seed": seed, "generator_input": [size, size], "square": "crop",
                    "original_shape": list(pixels.shape),
                    # why "original" here differs from the explanation's own probability of the full upload
                    "probabilities_read_on": f"the {size}-px square the generator sees, brought to the "
                                             f"ensemble's {ens.input_size} px (original, reconstruction and "
                                             "counterfactual alike)"}
        on_upload = np.clip(heatmap_to_original(np.abs(diff), geom), 0, None)
        out.append(Counterfactual(finding, recon, counter, diff, on_upload, table, settings))
        if progress:
            progress(i + 1, len(known))
    return out


def resolve_or_none(name: str, vocabulary: list[str]) -> str | None:
    try:
        return resolve(name, vocabulary)[0]
    except ValueError:
        return None
