"""Explain jobs: per-finding probabilities and an attribution heatmap (integrated gradients) of an upload."""

from __future__ import annotations

from core.contracts import Artifact, ExplainParams
from core.settings import get_settings
from worker import runtime
from worker.context import Context
from worker.runtime import find_model


def run(ctx: Context) -> tuple[dict, list[Artifact]]:
    from models.data.preprocess import load_image_bytes
    from models.explain.attribution import explain
    from models.explain.report import write_explanation
    from models.io.overlay_dicom import source_dataset

    p = ExplainParams.model_validate(ctx.job.params)
    s = get_settings()
    upload = runtime.artifact_store().path(p.upload, "input")
    if upload is None:
        raise FileNotFoundError("the uploaded image is no longer stored")
    data = upload.read_bytes()
    image = load_image_bytes(data, max_pixels=s.max_pixels)
    folder = find_model(p.model, "classifier", ctx.job.owner)
    ens = runtime.classifier(folder)
    ctx.progress(0, len(p.findings or []) or 3, "explaining")
    expl = explain(ens, image.pixels, p.findings, method=p.method, n_steps=p.n_steps, baseline=p.baseline,
                   progress=lambda i, n: ctx.progress(i, n, "explaining"))
    names = write_explanation(expl, image.pixels, ctx.workdir, source_format=image.source_format,
                              model_name=folder.name, source_dicom=source_dataset(data), study_key=ctx.job.id)
    result = expl.summary() | {"model": folder.name, "image_shape": list(image.pixels.shape)}
    return result, ctx.store(names)
