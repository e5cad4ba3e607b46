"""Generate images with a RadSynth generator and write PNG/DICOM/GIF/grid files."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom.uid import generate_uid

from models import __version__
from models.catalog import resolve_model
from models.diffusion.pipeline import GenerationOutput, RadSynthPipeline
from models.io.writers import atomic_write_bytes, gif_bytes, grid, write_png, write_synthetic_dicom
from models.qc.folder import ARTIFACT_KEY
from models.vocabulary.output_formats import resolve_formats
from models.vocabulary.sampling import Sampling

# How the second stage sampled, when there was one.
SUPERRES_KEYS = ("superres_steps", "superres_start", "superres_aug_step", "superres_keep_low")
# What else a job's result and each file's provenance report when the sampling had it.
SAMPLING_KEYS = (*SUPERRES_KEYS, "detail_stage", "guidance_interval", "guidance_rescale")


def provenance(model_name: str, out: GenerationOutput, seed: int) -> dict:
    return {"model": model_name, "version": __version__, "finding": "+".join(out.findings), "seed": seed,
            "sampler": out.sampler, "steps": out.steps, "guidance": out.guidance_scale,
            "classifier_guidance": out.classifier_scale, "synthetic": "yes"} | {
                k: out.extra[k] for k in ("resolution", "base_resolution", *SAMPLING_KEYS) if k in out.extra}


def write_outputs(out: GenerationOutput, out_dir: Path, *, model_name: str, formats: str | Sequence[str] = "png",
                  bits: int = 8, gif: bool = False, prefix: str = "") -> dict:
    """Write every image (and optionally the trajectory GIF) of `out` into `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    formats = resolve_formats(formats, "image")
    items = []
    # One request is one study and one series with one synthetic patient, so a PACS shows it as one study.
    study = {"study_uid": generate_uid(), "series_uid": generate_uid()}
    study["patient_id"] = f"SYNTHETIC-{study['study_uid'][-12:]}"
    redraws = out.extra.get("noise_redraws")
    for i, (img, seed) in enumerate(zip(out.images, out.seeds, strict=True)):
        stem = f"{prefix}{i:03d}_seed{seed}"
        prov = provenance(model_name, out, seed)
        if redraws is not None:
            prov["noise_redraws"] = int(redraws[i])
        files = []
        if "png" in formats:
            files.append(str(write_png(out_dir / f"{stem}.png", img, bits=bits, text=prov)))
        if "dicom" in formats:
            files.append(str(write_synthetic_dicom(out_dir / f"{stem}.dcm", img, prov, instance_number=i + 1,
                                                   description=f"RadSynth {prov['finding']}",
                                                   pixel_spacing_mm=NIH_FIELD_OF_VIEW_MM / img.shape[-1], **study)))
        items.append({"index": i, "seed": seed, "files": files, "stem": stem}
                     | ({"noise_redraws": int(redraws[i])} if redraws is not None else {}))
    result: dict = {"images": items, "findings": out.findings, "sampler": out.sampler, "steps": out.steps,
                    "guidance": out.guidance_scale, "classifier_guidance": out.classifier_scale,
                    "resolution": int(out.images.shape[-1])}
    result |= {k: out.extra[k] for k in SAMPLING_KEYS if k in out.extra}
    if redraws is not None:
        result["noise_redraws"] = int(sum(redraws))
    sheet = grid(list(out.images), cols=min(8, len(out.images)))
    result["grid"] = str(write_png(out_dir / f"{prefix}grid.png", sheet, text={
        ARTIFACT_KEY: "grid", "synthetic": "yes", "model": model_name, "findings": out.findings}))
    if gif and out.frames is not None:
        # Frames are the base stage's; with a super-resolution stage they are shown at the delivered size and the
        # last frame is the delivered images themselves.
        factor = out.images.shape[-1] // out.frames.shape[-1]
        frames = [np.kron(grid(list(f), cols=min(8, f.shape[0]), pad=2), np.ones((factor, factor)))
                  for f in out.frames]
        if factor > 1:
            frames.append(grid(list(out.images), cols=min(8, len(out.images)), pad=2 * factor))
        scale = 2 if out.images.shape[-1] < 128 else 1
        result["gif"] = str(atomic_write_bytes(out_dir / f"{prefix}denoising.gif", gif_bytes(frames, scale=scale)))
    return result


REPLACEMENT_SEED_STRIDE = 1_000_003
# The median width of the NIH ChestX-ray14 originals in mm (width x OriginalImagePixelSpacing over all 112,120 rows
# of the official label file): a generated frame shows that field of view, so its pixels are 420/side mm wide.
NIH_FIELD_OF_VIEW_MM = 420.0


def flagged_copies(report: list[dict]) -> list[int]:
    """Indices of images whose memorisation check flagged them as training copies."""
    return [i for i, r in enumerate(report) if r["memorisation"] and r["memorisation"]["flagged"]]


@dataclass(frozen=True)
class Acceptance:
    """Which QC results a delivery refuses, and how often a refused image is redrawn."""

    reject_copies: bool = False  # flagged training copies
    min_agreement: float | None = None  # the QC classifier's probability of every requested finding
    max_attempts: int = 3

    def passes(self, report: dict | None) -> bool:
        """Whether one image's QC report passes."""
        if report is None:
            return True
        mem = report.get("memorisation")
        if self.reject_copies and mem and mem.get("flagged"):
            return False
        if self.min_agreement is None:
            return True
        return all(a["probability"] >= self.min_agreement for a in report["label_agreement"].values())


def generate_checked(pipe: RadSynthPipeline, finding: str, seeds: list[int], sampling: Sampling, *, qc=None,
                     accept: Acceptance = Acceptance(), callback: Callable[[int, int], None] | None = None,
                     sampled: GenerationOutput | None = None) -> tuple[GenerationOutput, list[dict] | None]:
    """Generate (or take `sampled`, images already made for these seeds, e.g. in a batch with other jobs); with
    `qc`, score every image, and regenerate on new seeds those that `accept` refuses: flagged copies and images
    whose classifier agreement is below its minimum. Images still failing after `accept.max_attempts` are not
    delivered (the output says how many were dropped and why).

    A replacement's seed is its original seed plus a fixed stride per attempt, so it is reported and reproducible.
    """
    out = sampled if sampled is not None else pipe(finding, len(seeds), seeds=seeds, sampling=sampling,
                                                   callback=callback)
    if qc is None:
        return out, None
    report = qc.run(out.images, out.findings)

    def failing() -> list[int]:
        return [i for i, r in enumerate(report) if not accept.passes(r)]

    min_agreement, reject_copies, max_attempts = accept.min_agreement, accept.reject_copies, accept.max_attempts
    for attempt in range(1, max_attempts + 1):
        flagged = failing()
        if not flagged:
            break
        new_seeds = [out.seeds[i] + attempt * REPLACEMENT_SEED_STRIDE for i in flagged]
        redo = pipe(finding, len(flagged), seeds=new_seeds, sampling=sampling.but(frames=0))
        redo_qc = qc.run(redo.images, redo.findings)
        for j, i in enumerate(flagged):
            out.images[i], out.seeds[i] = redo.images[j], redo.seeds[j]
            report[i] = redo_qc[j] | {"replaced_attempts": attempt}
            if "noise_redraws" in out.extra and "noise_redraws" in redo.extra:
                out.extra["noise_redraws"][i] = redo.extra["noise_redraws"][j]
    still = failing()
    if len(still) == len(report):
        from models.errors import InputError

        raise InputError(f"none of the {len(report)} images passed the checks asked for after {max_attempts} "
                         "redraws (" + (f"agreement below {min_agreement}" if min_agreement is not None else
                                        "training copies") + "); lower min_agreement or ask for another finding")
    if still:  # never deliver an image that failed a check the request asked for
        copies = set(flagged_copies(report)) if reject_copies else set()
        keep = [i for i in range(len(report)) if i not in still]
        out.images, out.seeds = out.images[keep], [out.seeds[i] for i in keep]
        if "noise_redraws" in out.extra:
            out.extra["noise_redraws"] = [out.extra["noise_redraws"][i] for i in keep]
        if copies & set(still):
            out.extra["dropped_as_copies"] = len(copies & set(still))
        if set(still) - copies:
            out.extra["dropped_below_agreement"] = len(set(still) - copies)
        report = [report[i] for i in keep]
    return out, report


@dataclass(frozen=True)
class GenerationRequest:
    """One generate request outside the service (the CLI's): what to make, how to sample and check it, and how
    to write it."""

    model: str | Path
    finding: str
    n: int
    sampling: Sampling = Sampling()
    accept: Acceptance | None = None  # None: no QC; otherwise QC runs and refuses what this refuses
    seed: int | None = None
    formats: str | Sequence[str] = "png"
    bits: int = 8


def generate_to_folder(request: GenerationRequest, out_dir: str | Path, *, device: str | None = None,
                       progress: Callable[[int, int], None] | None = None) -> dict:
    """Load the request's model, generate its images, write them; returns files, seeds and optional QC."""
    from models.runtime_info import pick_device

    folder = resolve_model(request.model, kind="generator")
    dev = pick_device(device)
    pipe = RadSynthPipeline.load(folder, device=dev)
    checker = None
    if request.accept is not None:
        from models.qc.context import load_qc

        checker = load_qc(folder, device=dev)
    n = request.n
    base = request.seed if request.seed is not None else random.SystemRandom().randrange(2**31 - n)
    out, report = generate_checked(pipe, request.finding, [base + i for i in range(n)], request.sampling,
                                   qc=checker, accept=request.accept or Acceptance(), callback=progress)
    result = write_outputs(out, Path(out_dir), model_name=folder.name, formats=request.formats, bits=request.bits,
                           gif=request.sampling.frames > 0)
    if report is not None:
        for item, q in zip(result["images"], report, strict=True):
            item["qc"] = q
        result["qc_summary"] = qc_summary(report, out)
    return result


def qc_summary(report: list[dict], out: GenerationOutput) -> dict:
    """The QC summary of a delivery, with how many images were left out as copies or below the agreement asked."""
    from models.qc.checks import summarise

    return summarise(report) | {key: out.extra.get(key, 0) for key in ("dropped_as_copies",
                                                                        "dropped_below_agreement")}



def sample_sheet(pipe, findings: list[str], per_finding: int, *, size: int | None = None, seed: int = 0) -> np.ndarray:
    """One labelled row per finding, `per_finding` images each at the pipeline's defaults (shown at `size` px)."""
    from models.data.preprocess import resize
    from models.io.writers import grid, label_rows

    images = []
    for j, name in enumerate(findings):
        out = pipe(name, per_finding, seeds=[seed + 1000 * j + i for i in range(per_finding)])
        images += [resize(im, size) if size else im for im in out.images]
    return label_rows(grid(images, cols=per_finding), findings)
