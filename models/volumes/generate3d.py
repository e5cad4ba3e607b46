"""Generate volumes with a VolumePipeline and write NIfTI, a DICOM series per volume, and previews."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from pathlib import Path

from models import __version__
from models.vocabulary.output_formats import resolve_formats
from models.vocabulary.sampler_defaults import DEFAULT_SAMPLER
from models.volumes.diffusion3d import VolumeOutput
from models.volumes.geometry import Volume
from models.volumes.latent3d import load_volume_pipeline
from models.volumes.write import write_dicom_series, write_nifti, write_previews


def voxel_spacing(info: dict) -> tuple[float, float, float]:
    """The model's voxel size (x, y, z) in mm, recorded at training (one number or three; 1 mm if none)."""
    mm = info.get("voxel_mm", 1.0)
    if isinstance(mm, list | tuple):
        return (float(mm[0]), float(mm[1]), float(mm[2]))
    return (float(mm), float(mm), float(mm))


def write_volumes(out: VolumeOutput, out_dir: Path, *, model_name: str, spacing: tuple[float, float, float],
                  formats: str | Sequence[str] = "nifti") -> list[dict]:
    """Per volume: `<stem>.nii.gz` and/or `<stem>_dicom/`, plus `<stem>_slices.png` and `<stem>_sweep.gif`.

    Each item: index, seed, files (every file written), nifti (path or None), dicom_dir (path or None), slices,
    sweep."""
    formats = resolve_formats(formats, "volume")
    out_dir.mkdir(parents=True, exist_ok=True)
    items = []
    for i, (array, seed) in enumerate(zip(out.volumes, out.seeds, strict=True)):
        stem = f"{i:03d}_seed{seed}"
        volume = Volume(array, spacing)
        prov = {"model": model_name, "version": __version__, "finding": out.finding, "seed": seed,
                "sampler": out.sampler, "steps": out.steps, "guidance": out.guidance_scale, "synthetic": "yes"}
        files, nifti, dicom_dir = [], None, None
        if "nifti" in formats:
            nifti = str(write_nifti(out_dir / f"{stem}.nii.gz", volume))
            files.append(nifti)
        if "dicom" in formats:
            dicom_dir = out_dir / f"{stem}_dicom"
            series = write_dicom_series(dicom_dir, volume, prov, description=f"RadSynth {out.finding} volume")
            files.extend(str(p) for p in series)
        previews = write_previews(out_dir, array, stem=stem)
        items.append({"index": i, "seed": seed, "files": files, "nifti": nifti,
                      "dicom_dir": str(dicom_dir) if dicom_dir else None, "slices": str(previews["slices"]),
                      "sweep": str(previews["sweep"])})
    return items


def generate_volumes_to_folder(*, model: str | Path, finding: str, n: int, out_dir: str | Path,
                               formats: str | Sequence[str] = "nifti", sampler: str = DEFAULT_SAMPLER,
                               steps: int | None = None,
                               guidance: float = 2.0, seed: int | None = None,
                               progress: Callable[[int, int], None] | None = None) -> dict:
    import json

    folder = Path(model)
    info = json.loads((folder / "radsynth.json").read_text())
    pipe = load_volume_pipeline(folder)
    seed = random.randrange(2**31 - 1000) if seed is None else seed
    out = pipe(finding, n, seeds=[seed + i for i in range(n)], sampler=sampler, num_inference_steps=steps,
               guidance_scale=guidance, callback=progress)
    items = write_volumes(out, Path(out_dir), model_name=folder.name, spacing=voxel_spacing(info),
                          formats=formats)
    return {"model": folder.name, "finding": out.finding, "seeds": out.seeds, "volumes": items}
