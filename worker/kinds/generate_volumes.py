"""Generate jobs for 3D models (kind generator3d): sample volumes, write NIfTI and/or a zipped DICOM series per
volume, mid-slice PNGs, a slice-sweep GIF and an overview, and store them as the job's artifacts."""

from __future__ import annotations

import zipfile
from pathlib import Path

from core.contracts import Artifact, GenerateParams
from core.settings import get_settings
from worker import runtime


def zip_series(folder: Path, target: Path) -> Path:
    """A DICOM series folder as one zip (slices in instance order), so a volume is one download."""
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(folder.iterdir()):
            zf.write(path, arcname=f"{folder.name}/{path.name}")
    return target


def run_generate_volumes(ctx, p: GenerateParams, folder: Path, info: dict, steps: int, seeds: list[int]
                         ) -> tuple[dict, list[Artifact]]:
    """`info`: the model's radsynth.json (its voxel size)."""
    from models.volumes.generate3d import voxel_spacing, write_volumes
    from models.volumes.write import write_overview

    pipe = runtime.volume_generator(folder)
    ctx.progress(0, steps, "sampling volumes")
    out = pipe(p.finding, p.n, seeds=seeds, sampler=p.sampler, num_inference_steps=steps, guidance_scale=p.guidance,
               callback=lambda s, t: ctx.progress(s, t, "sampling volumes"), precision=get_settings().precision)
    ctx.progress(steps, steps, "writing volumes")
    spacing = voxel_spacing(info)
    items = write_volumes(out, ctx.workdir, model_name=folder.name, spacing=spacing, formats=p.format)
    names, volumes = ["volumes.png"], []
    write_overview(ctx.workdir / "volumes.png", out.volumes, labels=[f"seed {s}" for s in seeds],
                   text={"synthetic": "yes", "model": folder.name, "finding": str(out.finding)})
    for item in items:
        files = []
        if item["nifti"]:
            files.append(Path(item["nifti"]).name)
        if item["dicom_dir"]:
            series = Path(item["dicom_dir"])
            files.append(zip_series(series, ctx.workdir / f"{series.name}.zip").name)
        previews = [Path(item["slices"]).name, Path(item["sweep"]).name]
        names.extend(files + previews)
        volumes.append({"index": item["index"], "seed": item["seed"], "files": files, "slices": previews[0],
                        "sweep": previews[1]})
    z, y, x = out.volumes.shape[1:]
    result = {"model": folder.name, "kind": "volumes", "findings": [out.finding], "sampler": out.sampler,
              "steps": out.steps, "guidance": out.guidance_scale, "seeds": out.seeds, "shape_zyx": [z, y, x],
              "spacing_mm_xyz": list(spacing), "volumes": volumes}
    return result, ctx.store(names)
