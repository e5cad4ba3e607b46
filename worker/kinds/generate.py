"""Generate jobs: finding-conditional images from a 2D generator (sampled alone or in one batch with other
waiting jobs), or volumes from a 3D generator (worker/kinds/generate_volumes.py)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from core.contracts import Artifact, GenerateParams, JobRecord
from core.settings import get_settings
from models.vocabulary.model_kinds import makes_volumes
from models.vocabulary.sampler_defaults import model_guidance, request_steps
from worker import runtime
from worker.context import Context, JobCancelled
from worker.runtime import find_model

log = logging.getLogger("radsynth.worker")


def run(ctx: Context) -> tuple[dict, list[Artifact]]:
    p = GenerateParams.model_validate(ctx.job.params)
    folder = find_model(p.model, "generator", ctx.job.owner)
    info = json.loads((folder / "radsynth.json").read_text())
    if p.guidance is None:  # the API resolves it; a job stored without one takes the model's
        p.guidance = model_guidance(info)
    steps = sampler_steps(p, volume=makes_volumes(info))
    if makes_volumes(info):
        from worker.kinds.generate_volumes import run_generate_volumes

        return run_generate_volumes(ctx, p, folder, info, steps, image_seeds(p))
    pipe = runtime.generator(folder)
    companions = claim_batch(ctx, p, folder, steps)
    if not companions:
        total = pipe.progress_total(p.n, steps, resolution=p.resolution, superres_start=p.superres_start,
                                    superres_steps=p.superres_steps)
        ctx.progress(0, total, "sampling")
        return deliver_generate(ctx, p, folder, pipe, total=total)
    jobs = [(ctx, p)]
    for rec in companions:
        jobs.append((Context(rec, ctx.workdir / rec.id), GenerateParams.model_validate(rec.params)))
    message = f"sampling in one batch with {len(companions)} other jobs"
    cancelled: set[str] = set()

    def progress_all(step: int, total: int) -> None:
        """Progress for every member; a member whose owner cancelled ends cancelled at this step (its images
        are dropped), and the batch stops once every member is cancelled."""
        report_members(jobs, cancelled, step, total, message, lead=ctx)
        if len(cancelled) == len(jobs):
            raise JobCancelled()

    sampling = p.sampling(steps, get_settings().precision).but(frames=0)  # a shared batch draws no GIF
    outs = pipe.sample_requests([(q.finding, image_seeds(q)) for _, q in jobs], sampling, callback=progress_all)
    batch = {"jobs": len(jobs), "images": sum(q.n for _, q in jobs)}
    for (job_ctx, q), out in zip(jobs[1:], outs[1:], strict=True):
        if job_ctx.job.id not in cancelled:
            finish_companion(job_ctx, q, folder, pipe, out, batch)
    if ctx.job.id in cancelled:
        raise JobCancelled()
    return deliver_generate(ctx, p, folder, pipe, sampled=outs[0], batch=batch)


def report_members(jobs: list[tuple[Context, GenerateParams]], cancelled: set[str], step: int, total: int,
                   message: str, *, lead: Context | None) -> None:
    """A sampler step for every member of a shared batch not yet cancelled; one whose owner cancelled ends now
    (added to `cancelled`)."""
    store = runtime.job_store()
    for job_ctx, _ in jobs:
        job_id = job_ctx.job.id
        if job_id in cancelled:
            continue
        if store.cancel_requested(job_id):
            cancelled.add(job_id)
            end_cancelled_member(job_ctx, lead=job_ctx is lead)
        else:
            store.progress(job_id, step, total, message)


def end_cancelled_member(ctx: Context, *, lead: bool) -> None:
    """A batch member cancelled mid-sampling ends now; the lead's files and webhook are the task's to handle."""
    from core.webhooks import notify

    final = runtime.job_store().mark_cancelled(ctx.job.id)
    if not lead:
        runtime.artifact_store().delete_job(ctx.job.id)
        notify(final)


def sampler_steps(p: GenerateParams, *, volume: bool = False) -> int:
    """The job's sampler steps (the API records them; older queued jobs may lack them)."""
    return request_steps(p.sampler, p.steps, get_settings().generate_default_steps, volume=volume)


def image_seeds(p: GenerateParams) -> list[int]:
    seed = p.seed or 0  # the API always records the seed it chose
    return [seed + i for i in range(p.n)]


def claim_batch(ctx: Context, p: GenerateParams, folder: Path, steps: int) -> list[JobRecord]:
    """Waiting generate jobs that can share this job's UNet batch, claimed for this process (none if batching
    is off or this job cannot be batched)."""
    from core.jobs import runner_id
    from worker.batching import batch_key, wait_for_companions

    s = get_settings()
    key = batch_key(p, folder, steps)
    if key is None or s.batch_max_images <= p.n:
        return []

    claimed = wait_for_companions(runtime.job_store(), ctx.job, key, s.batch_max_images - p.n, s.batch_wait,
                                  runner=runner_id(), heartbeat_timeout=s.heartbeat_timeout,
                                  key_of=companion_key_of({(ctx.job.owner, p.model): folder}))
    ctx.keep_alive(claimed)
    return claimed


def companion_key_of(folders: dict[tuple[str, str | None], Path]):
    """`key_of` for claiming waiting generate jobs: one catalog lookup per (owner, model name), not per job, as
    each job's owner sees the name. `folders` holds the lookups already made."""
    from worker.batching import batch_key

    def key_of(q: GenerateParams, owner: str):
        if (owner, q.model) not in folders:
            folders[(owner, q.model)] = find_model(q.model, "generator", owner)
        return batch_key(q, folders[(owner, q.model)], sampler_steps(q))

    return key_of


def deliver_generate(ctx: Context, p: GenerateParams, folder: Path, pipe, *, sampled=None,
                     batch: dict | None = None, total: int | None = None) -> tuple[dict, list[Artifact]]:
    """Sample (unless `sampled` came from a batch), check, write and store one generate job's images; `total`:
    the step count its progress reports to."""
    from models.workflows.generate import SAMPLING_KEYS, Acceptance, generate_checked, qc_summary, write_outputs

    qc = runtime.qc_context(folder) if p.qc else None
    accept = Acceptance(p.reject_copies, p.min_agreement) if qc is not None else Acceptance()
    steps = sampler_steps(p)
    callback = (lambda s, t: ctx.progress(s, t, "sampling")) if sampled is None else None
    out, report = generate_checked(pipe, p.finding, image_seeds(p), p.sampling(steps, get_settings().precision),
                                   qc=qc, accept=accept, callback=callback, sampled=sampled)
    ctx.progress(total or steps, total or steps, "writing files")  # the same total as sampling
    written = write_outputs(out, ctx.workdir, model_name=folder.name, formats=p.format, bits=p.bits, gif=p.gif)
    names = [Path(f).name for item in written["images"] for f in item["files"]] + [Path(written["grid"]).name]
    if written.get("gif"):
        names.append(Path(written["gif"]).name)
    images = []
    for i, item in enumerate(written["images"]):
        entry = {"index": i, "seed": item["seed"], "files": [Path(f).name for f in item["files"]]}
        if "noise_redraws" in item:
            entry["noise_redraws"] = item["noise_redraws"]
        if report is not None:
            entry["qc"] = report[i]
        images.append(entry)
    result = {"model": folder.name, "findings": out.findings, "sampler": out.sampler, "steps": out.steps,
              "guidance": out.guidance_scale, "classifier_guidance": out.classifier_scale, "seeds": out.seeds,
              "images": images, "resolution": written["resolution"]}
    result |= {k: written[k] for k in (*SAMPLING_KEYS, "noise_redraws") if k in written}
    if report is not None:
        result["qc_summary"] = qc_summary(report, out)
    if batch:
        result["batch"] = batch
    return result, ctx.store(names)


def finish_companion(ctx: Context, p: GenerateParams, folder: Path, pipe, sampled, batch: dict) -> None:
    """Check, write, store and record a job that was sampled in another job's batch; then notify its webhook."""
    from core.contracts import JobError, JobStatus
    from core.webhooks import notify

    store = runtime.job_store()
    job = ctx.job
    try:
        result, artifacts = deliver_generate(ctx, p, folder, pipe, sampled=sampled, batch=batch)
        final = store.finish(job.id, result=result, artifacts=artifacts, generation=job.generation)
    except JobCancelled:
        final = store.mark_cancelled(job.id)
    except Exception as exc:  # noqa: BLE001 - one companion's failure must not fail the others
        log.exception("batched job %s failed", job.id)
        final = store.finish(job.id, generation=job.generation, error=JobError(
            code="internal_error", message=f"the worker failed: {type(exc).__name__}"))
    if final.status == JobStatus.cancelled:
        runtime.artifact_store().delete_job(job.id)
    notify(final)
