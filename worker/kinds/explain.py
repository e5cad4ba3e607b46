"""Explain jobs: per-finding probabilities, an attribution heatmap (integrated gradients) and, on request, a
counterfactual (the upload regenerated without the finding) of an uploaded X-ray."""

from __future__ import annotations

from core.contracts import Artifact, ExplainParams
from core.settings import get_settings
from worker import runtime
from worker.context import Context
from worker.runtime import find_model

ATTRIBUTION_OF = {"ig": "ig", "smoothgrad": "smoothgrad", "both": "ig", "counterfactual": None}


def run(ctx: Context) -> tuple[dict, list[Artifact]]:
    from models.data.preprocess import load_image_bytes
    from models.explain.attribution import explain
    from models.explain.report import write_explanation
    from models.io.ai_report import ModelDescription
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
    attribution = ATTRIBUTION_OF[p.method]
    with_counterfactual = p.method in ("counterfactual", "both")
    n_findings = len(p.findings or []) or 3
    total = n_findings * (int(attribution is not None) + int(with_counterfactual))
    ctx.progress(0, total, "explaining")
    expl = explain(ens, image.pixels, p.findings, method=attribution or "ig", n_steps=p.n_steps,
                   baseline=p.baseline, with_maps=attribution is not None,
                   progress=lambda i, n: ctx.progress(i, total, "explaining"))
    counterfactuals, generator_name = None, ""
    if with_counterfactual:
        from models.explain.counterfactual import counterfactuals as make_counterfactuals

        gen_folder = find_model(p.generator, "generator", ctx.job.owner)
        generator_name = gen_folder.name
        done = len(expl.attributions)
        counterfactuals = make_counterfactuals(
            runtime.generator(gen_folder), ens, image.pixels, expl.findings, strength=p.strength,
            progress=lambda i, n: ctx.progress(done + i, total, "counterfactuals"))
    names = write_explanation(expl, image.pixels, ctx.workdir, source_format=image.source_format,
                              model_name=folder.name, source_dicom=source_dataset(data), study_key=ctx.job.id,
                              counterfactuals=counterfactuals, generator_name=generator_name,
                              model=ModelDescription.from_config(folder.name, ens.config))
    result = expl.summary() | {"model": folder.name, "image_shape": list(image.pixels.shape)}
    if counterfactuals is not None:
        from models.explain.counterfactual import summaries

        result["counterfactuals"] = summaries(counterfactuals, generator_name)
    return result, ctx.store(names)
