"""Ingest jobs: an uploaded archive becomes the owner's data set (checked, unpacked, DICOM de-identified,
summarised); the stored archive is deleted either way."""

from __future__ import annotations

from core.contracts import Artifact, IngestParams
from core.datasets import owned_folder
from core.settings import get_settings
from models.data.archives import ArchiveRefused
from models.data.ingest import DatasetProblem, ingest_archive
from models.errors import InputError
from worker import runtime
from worker.context import Context


def run(ctx: Context) -> tuple[dict, list[Artifact]]:
    p = IngestParams.model_validate(ctx.job.params)
    s = get_settings()
    store = runtime.artifact_store()
    archive = store.path(p.upload, "input")
    if archive is None:
        raise FileNotFoundError("the uploaded archive is no longer stored; upload it again")
    dest = owned_folder(s, ctx.job.owner, p.name)
    dest.parent.mkdir(parents=True, exist_ok=True)
    ctx.progress(0, 1, "checking the archive")
    try:
        manifest = ingest_archive(archive, dest, fmt=p.format, max_bytes=s.max_dataset_bytes,
                                  progress=ctx.progress, max_pixels=s.max_pixels,
                                  meta={"name": p.name, "owner_job": ctx.job.id})
    except (ArchiveRefused, DatasetProblem) as exc:
        raise InputError(str(exc)) from exc
    finally:
        store.delete_job(p.upload)
    summary = {k: manifest[k] for k in ("format", "images", "patients", "per_finding", "image_size", "problems",
                                        "deidentified_dicom")}
    return {"dataset": p.name} | summary, []
