"""Generate jobs for 3D models (kind generator3d): sample volumes, write NIfTI and/or a zipped DICOM series per
volume, mid-slice PNGs, a slice-sweep GIF and an overview, and store them as the job's artifacts."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from worker import runtime
from worker.contracts import Artifact, GenerateParams
from worker.settings import get_settings


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
    write_overview(ctx.workdir / "volumes.png", out.volumes)
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


def train_volume_job(ctx, p, root: Path, fmt: str | None, run_dir: Path) -> tuple[Path, dict, dict[str, Path]]:
    """Train a 3D generator on a volume data set; returns (model folder, result, files to attach)."""
    from models.volumes.sources import open_volume_source
    from models.volumes.train3d import save_volume_model, train_volume_generator
    from worker.context import JobCancelled

    ctx.progress(0, p.steps, "reading volumes")
    src = open_volume_source(root, "train", p.resolution, fmt=fmt,
                             progress=lambda i, n: ctx.progress(0, p.steps, f"reading volumes {i}/{n}"))
    channels = tuple(p.channels or ((32, 64) if p.latent else (16, 32, 64)))
    try:
        if p.latent:
            from models.volumes.latent3d import train_latent_volume_generator

            pipe, summary = train_latent_volume_generator(
                src.volumes, src.labels, src.findings, ae_steps=p.steps, steps=p.steps, batch_size=p.batch_size,
                channels=channels, should_stop=ctx.check_cancel,
                progress=lambda stage, s, t, _: ctx.progress(s, t, f"training the {stage}")
                if s % 5 == 0 or s == t else None)
        else:
            pipe, summary = train_volume_generator(
                src.volumes, src.labels, src.findings, size=p.resolution, steps=p.steps, batch_size=p.batch_size,
                channels=channels, device=runtime.device(),
                progress=lambda s, t, loss: ctx.progress(s, t, "training") if s % 5 == 0 or s == t else None,
                should_stop=ctx.check_cancel)
    except InterruptedError as exc:
        raise JobCancelled() from exc
    ctx.progress(p.steps, p.steps, "sampling previews")
    folder = save_volume_model(pipe, run_dir / "model", dataset=p.dataset, voxel_mm=src.voxel_mm, summary=summary)
    (folder / "training.json").write_text(json.dumps(summary, indent=2))
    files = {"samples.png": folder / "samples.png", "loss.png": folder / "loss.png",
             "training.json": folder / "training.json"}
    return folder, {"steps": p.steps, "final_loss": summary["final_loss"], "volumes": len(src.volumes)}, files
