"""Generate images with a RadSynth generator and write PNG/DICOM/GIF/grid files."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import numpy as np

from models import __version__
from models.catalog import resolve_model
from models.diffusion.pipeline import GenerationOutput, RadSynthPipeline
from models.io.writers import atomic_write_bytes, gif_bytes, grid, write_png, write_synthetic_dicom


def provenance(model_name: str, out: GenerationOutput, seed: int) -> dict:
    return {"model": model_name, "version": __version__, "finding": "+".join(out.findings), "seed": seed,
            "sampler": out.sampler, "steps": out.steps, "guidance": out.guidance_scale, "synthetic": "yes"}


def write_outputs(out: GenerationOutput, out_dir: Path, *, model_name: str, formats: str = "png", bits: int = 8,
                  gif: bool = False, prefix: str = "") -> dict:
    """Write every image (and optionally the trajectory GIF) of `out` into `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    items = []
    for i, (img, seed) in enumerate(zip(out.images, out.seeds, strict=True)):
        stem = f"{prefix}{i:03d}_seed{seed}"
        prov = provenance(model_name, out, seed)
        files = []
        if formats in ("png", "both"):
            files.append(str(write_png(out_dir / f"{stem}.png", img, bits=bits, text=prov)))
        if formats in ("dicom", "both"):
            files.append(str(write_synthetic_dicom(out_dir / f"{stem}.dcm", img, prov,
                                                   description=f"RadSynth {prov['finding']}")))
        items.append({"index": i, "seed": seed, "files": files, "stem": stem})
    result: dict = {"images": items, "findings": out.findings, "sampler": out.sampler, "steps": out.steps,
                    "guidance": out.guidance_scale}
    sheet = grid(list(out.images), cols=min(8, len(out.images)))
    result["grid"] = str(write_png(out_dir / f"{prefix}grid.png", sheet))
    if gif and out.frames is not None:
        frames = [grid(list(f), cols=min(8, f.shape[0])) for f in out.frames]
        result["gif"] = str(atomic_write_bytes(out_dir / f"{prefix}denoising.gif", gif_bytes(frames, scale=2)))
    return result


def generate_to_folder(*, model: str | Path, finding: str, n: int, out_dir: str | Path, formats: str = "png",
                       sampler: str = "dpmsolver++", steps: int | None = None, guidance: float = 2.0,
                       seed: int | None = None, gif: bool = False, bits: int = 8, device: str | None = None,
                       progress: Callable[[int, int], None] | None = None) -> dict:
    """Load `model`, generate `n` images of `finding`, write them; returns files and the seeds used."""
    from models.runtime_info import pick_device

    folder = resolve_model(model, kind="generator")
    pipe = RadSynthPipeline.load(folder, device=pick_device(device))
    base = seed if seed is not None else random.SystemRandom().randrange(2**31 - n)
    out = pipe(finding, n, seeds=[base + i for i in range(n)], sampler=sampler, num_inference_steps=steps,
               guidance_scale=guidance, return_frames=gif, callback=progress)
    return write_outputs(out, Path(out_dir), model_name=folder.name, formats=formats, bits=bits, gif=gif)


def as_uint8(images: np.ndarray) -> np.ndarray:
    return np.round(np.clip(images, 0, 1) * 255).astype(np.uint8)
