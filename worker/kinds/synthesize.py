"""Synthesize jobs: a labelled synthetic data set written in the NIH layout, resumed where a killed worker
stopped (same job, same folder), and registered as the owner's data set when complete. Waiting compatible
generate jobs ride along in its batches (worker/kinds/synthesize_riders.py)."""

from __future__ import annotations

import json
import shutil
import time

from core.contracts import Artifact, SynthesizeParams
from core.datasets import MANIFEST, owned_folder
from core.settings import get_settings
from models.errors import InputError
from models.vocabulary.sampler_defaults import request_steps
from models.vocabulary.sampling import Sampling
from models.workflows.synthesize import done_rows, plan, synthesize, write_labels
from worker import runtime
from worker.batching import sampling_key
from worker.context import Context, JobCancelled
from worker.kinds.synthesize_riders import GenerateRiders
from worker.runtime import find_model


def run(ctx: Context) -> tuple[dict, list[Artifact]]:
    p = SynthesizeParams.model_validate(ctx.job.params)
    s = get_settings()
    folder = find_model(p.model, "generator", ctx.job.owner)
    dest = owned_folder(s, ctx.job.owner, p.name)
    work = dest.with_name(f".{dest.name}.{ctx.job.id}.partial")  # a redelivery of this job resumes here
    work.parent.mkdir(parents=True, exist_ok=True)
    pipe = runtime.generator(folder)
    if p.guidance is None:  # the API resolves it; a job stored without one takes the model's
        p.guidance = pipe.default_guidance
    checking = p.qc.min_agreement is not None or p.qc.reject_copies
    qc = runtime.qc_context(folder) if checking else None
    items = plan(p.per_finding or {}, p.seed or 0)
    steps = request_steps(p.sampler, p.steps, s.generate_default_steps, volume=False)  # as a generate job's
    key = sampling_key(folder, Sampling(sampler=p.sampler, steps=steps, guidance=p.guidance,
                                        classifier_guidance=p.classifier_guidance, resolution=p.resolution))
    riders = (GenerateRiders(ctx, folder, pipe, key, s.batch_max_images)
              if s.batch_max_images > s.synthesize_batch else None)
    started = time.time()
    try:
        summary = synthesize(
            pipe, work, items, model_name=folder.name, qc=qc, min_agreement=p.qc.min_agreement,
            reject_copies=p.qc.reject_copies, bits=p.bits, batch_size=s.synthesize_batch,
            sampling={"sampler": p.sampler, "num_inference_steps": steps, "guidance_scale": p.guidance,
                      "classifier_scale": p.classifier_guidance, "resolution": p.resolution,
                      "precision": s.precision},
            progress=lambda done, total: ctx.progress(done, total, "synthesizing"), should_stop=ctx.check_cancel,
            ride_along=riders)
    except InterruptedError as exc:
        shutil.rmtree(work, ignore_errors=True)
        raise JobCancelled() from exc
    ctx.progress(len(items), len(items), "writing labels")
    write_labels(work, model_name=folder.name)
    made = [r for r in done_rows(work).values() if not r.get("dropped")]
    per_finding = {f: sum(r["finding"] == f for r in made) for f in (p.per_finding or {})}
    sizes = sorted(r["size"] for r in made) or [0]
    manifest = {"name": p.name, "format": "nih", "root": ".", "synthetic": True, "model": folder.name,
                "images": summary["made"], "patients": summary["made"], "per_finding": per_finding,
                "image_size": {"min": sizes[0], "median": sizes[len(sizes) // 2], "max": sizes[-1]},
                "problems": [f"{summary['dropped']} image(s) failed QC on every draw and were left out"]
                if summary["dropped"] else [], "created": time.time(), "owner_job": ctx.job.id,
                "qc": p.qc.model_dump(), "rejected_draws": summary["rejected_draws"]}
    (work / MANIFEST).write_text(json.dumps(manifest, indent=2))
    if dest.exists():
        raise InputError(f"you already have a data set named {p.name!r}; the images stay in this job's folder "
                         "until you delete the job")
    work.rename(dest)
    seconds = time.time() - started
    result = {"dataset": p.name, "images": summary["made"], "requested": summary["requested"],
              "dropped": summary["dropped"], "rejected_draws": summary["rejected_draws"],
              "per_finding": per_finding, "generate_jobs_batched": riders.served if riders else 0,
              "images_per_minute": round(60 * summary["made"] / max(seconds, 1e-9), 1),
              "download": f"/datasets/{p.name}/archive"}
    return result, []
