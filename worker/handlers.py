"""What each job kind does: call the models/ library, report progress, store artifacts."""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import time
from pathlib import Path

from models.sampler_defaults import request_steps
from worker import runtime
from worker.context import Context, JobCancelled
from worker.contracts import Artifact, ExplainParams, GenerateParams, JobRecord, TrainParams
from worker.settings import get_settings

log = logging.getLogger("radsynth.worker")


def find_model(name: str | None, kind: str, owner: str | None = None) -> Path:
    """A model folder by name as `owner` sees it ("generator" also finds 3D volume generators), or the configured
    default."""
    from models.catalog import resolve_model, service_kinds

    s = get_settings()
    default = s.default_generator if kind == "generator" else s.default_classifier
    kinds = service_kinds(kind)
    try:
        return resolve_model(name or default, kind=kinds, extra=s.model_search_dirs(), owner=owner)
    except ValueError:
        # Trained on another host: fetch it from the shared store (a no-op for the local store).
        if not runtime.artifact_store().sync_models(s.trained_models_dir, force=True):
            raise
        return resolve_model(name or default, kind=kinds, extra=s.model_search_dirs(), owner=owner)


def run_generate(ctx: Context) -> tuple[dict, list[Artifact]]:
    p = GenerateParams.model_validate(ctx.job.params)
    folder = find_model(p.model, "generator", ctx.job.owner)
    info = json.loads((folder / "radsynth.json").read_text())
    steps = sampler_steps(p, volume=info.get("kind") == "generator3d")
    if info.get("kind") == "generator3d":
        from worker.volume_jobs import run_generate_volumes

        return run_generate_volumes(ctx, p, folder, info, steps, image_seeds(p))
    pipe = runtime.generator(folder)
    companions = claim_batch(ctx, p, folder, steps)
    if not companions:
        ctx.progress(0, steps, "sampling")
        return deliver_generate(ctx, p, folder, pipe, steps, callback=lambda s, t: ctx.progress(s, t, "sampling"))
    jobs = [(ctx, p)]
    for rec in companions:
        jobs.append((Context(rec, ctx.workdir / rec.id), GenerateParams.model_validate(rec.params)))
    message = f"sampling in one batch with {len(companions)} other jobs"
    cancelled: set[str] = set()

    def progress_all(step: int, total: int) -> None:
        """Progress for every member; a member whose owner cancelled ends cancelled at this step (its images
        are dropped), and the batch stops once every member is cancelled."""
        store = runtime.job_store()
        for job_ctx, _ in jobs:
            job_id = job_ctx.job.id
            if job_id in cancelled:
                continue
            if store.cancel_requested(job_id):
                cancelled.add(job_id)
                end_cancelled_member(job_ctx, lead=job_ctx is ctx)
            else:
                store.progress(job_id, step, total, message)
        if len(cancelled) == len(jobs):
            raise JobCancelled()

    outs = pipe.sample_requests([(q.finding, image_seeds(q)) for _, q in jobs], sampler=p.sampler,
                                num_inference_steps=steps, guidance_scale=p.guidance,
                                classifier_scale=p.classifier_guidance, callback=progress_all,
                                precision=get_settings().precision, resolution=p.resolution)
    batch = {"jobs": len(jobs), "images": sum(q.n for _, q in jobs)}
    for (job_ctx, q), out in zip(jobs[1:], outs[1:], strict=True):
        if job_ctx.job.id not in cancelled:
            finish_companion(job_ctx, q, folder, pipe, steps, out, batch)
    if ctx.job.id in cancelled:
        raise JobCancelled()
    return deliver_generate(ctx, p, folder, pipe, steps, sampled=outs[0], batch=batch)


def end_cancelled_member(ctx: Context, *, lead: bool) -> None:
    """A batch member cancelled mid-sampling ends now; the lead's files and webhook are the task's to handle."""
    from worker.webhooks import notify

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
    from worker.batching import batch_key, wait_for_companions
    from worker.jobs import runner_id

    s = get_settings()
    key = batch_key(p, folder, steps)
    if key is None or s.batch_max_images <= p.n:
        return []

    # one catalog lookup per (owner, model name), not per job: names are resolved as each job's owner sees them
    folders: dict[tuple[str, str | None], Path] = {(ctx.job.owner, p.model): folder}

    def key_of(q: GenerateParams, owner: str):
        if (owner, q.model) not in folders:
            folders[(owner, q.model)] = find_model(q.model, "generator", owner)
        return batch_key(q, folders[(owner, q.model)], sampler_steps(q))

    claimed = wait_for_companions(runtime.job_store(), ctx.job, key, s.batch_max_images - p.n, s.batch_wait,
                                  runner=runner_id(), heartbeat_timeout=s.heartbeat_timeout, key_of=key_of)
    ctx.keep_alive(claimed)
    return claimed


def deliver_generate(ctx: Context, p: GenerateParams, folder: Path, pipe, steps: int, *, sampled=None,
                     batch: dict | None = None, callback=None) -> tuple[dict, list[Artifact]]:
    """Sample (unless `sampled` came from a batch), check, write and store one generate job's images."""
    from models.generate import generate_checked, write_outputs
    from models.qc.checks import summarise

    qc = runtime.qc_context(folder) if p.qc else None
    out, report = generate_checked(
        pipe, p.finding, image_seeds(p), qc=qc, reject_copies=p.reject_copies and qc is not None, sampled=sampled,
        sampler=p.sampler, num_inference_steps=steps, guidance_scale=p.guidance,
        classifier_scale=p.classifier_guidance, return_frames=p.gif, resolution=p.resolution,
        callback=callback, precision=get_settings().precision)
    ctx.progress(steps, steps, "writing files")
    written = write_outputs(out, ctx.workdir, model_name=folder.name, formats=p.format, bits=p.bits, gif=p.gif)
    names = [Path(f).name for item in written["images"] for f in item["files"]] + [Path(written["grid"]).name]
    if written.get("gif"):
        names.append(Path(written["gif"]).name)
    images = []
    for i, item in enumerate(written["images"]):
        entry = {"index": i, "seed": item["seed"], "files": [Path(f).name for f in item["files"]]}
        if report is not None:
            entry["qc"] = report[i]
        images.append(entry)
    result = {"model": folder.name, "findings": out.findings, "sampler": out.sampler, "steps": out.steps,
              "guidance": out.guidance_scale, "classifier_guidance": out.classifier_scale, "seeds": out.seeds,
              "images": images}
    if report is not None:
        result["qc_summary"] = summarise(report) | {"dropped_as_copies": out.extra.get("dropped_as_copies", 0)}
    if batch:
        result["batch"] = batch
    return result, ctx.store(names)


def finish_companion(ctx: Context, p: GenerateParams, folder: Path, pipe, steps: int, sampled, batch: dict) -> None:
    """Check, write, store and record a job that was sampled in another job's batch; then notify its webhook."""
    from worker.contracts import JobError, JobStatus
    from worker.webhooks import notify

    store = runtime.job_store()
    job = ctx.job
    try:
        result, artifacts = deliver_generate(ctx, p, folder, pipe, steps, sampled=sampled, batch=batch)
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


def run_explain(ctx: Context) -> tuple[dict, list[Artifact]]:
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


def run_train(ctx: Context) -> tuple[dict, list[Artifact]]:
    from models.data.registry import open_dataset

    p = TrainParams.model_validate(ctx.job.params)
    s = get_settings()
    root, fmt = s.dataset_roots()[p.dataset]
    run_dir = s.data_dir / "runs" / ctx.job.id  # survives redelivery: training resumes from its checkpoint
    if p.kind == "generator3d":
        from worker.volume_jobs import train_volume_job

        folder, result, files = train_volume_job(ctx, p, root, fmt, run_dir)
    else:
        train = open_dataset(root, "train", p.resolution, fmt=fmt)
        val = open_dataset(root, "val", p.resolution, fmt=fmt)
        if p.findings:
            train.restrict(p.findings)
            val.restrict(p.findings)
        if p.kind == "generator":
            folder, result, files = train_generator_job(ctx, p, train, val, run_dir)
        else:
            folder, result, files = train_classifier_job(ctx, p, train, val, run_dir)
    target = install_trained_model(folder, p.name, ctx.job)
    runtime.artifact_store().publish_model(target, target.name)  # other hosts sync it from a shared store
    for name, src in files.items():
        shutil.copyfile(src, ctx.workdir / name)
    result |= {"model": p.name, "kind": p.kind, "dataset": p.dataset}
    return result, ctx.store(list(files))


def install_trained_model(folder: Path, name: str, job: JobRecord) -> Path:
    """Move a trained model into the owner's namespace of the trained-models folder, recording its owner.

    It never replaces a folder another job created (a name taken meanwhile fails this job instead); only a
    redelivery of this same job may replace what its earlier delivery installed."""
    from models.catalog import owned_folder_name
    from models.errors import InputError

    s = get_settings()
    target = s.trained_models_dir / owned_folder_name(job.owner, name)
    staging = s.trained_models_dir / f".{target.name}.{job.id}"
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(folder, staging)
    info = json.loads((staging / "radsynth.json").read_text())
    info |= {"created": time.time(), "trained_by_job": job.id, "owner": job.owner, "model_name": name,
             "shared": False}
    (staging / "radsynth.json").write_text(json.dumps(info, indent=2, default=str))
    if target.exists():
        previous = json.loads((target / "radsynth.json").read_text()) if (target / "radsynth.json").exists() else {}
        if previous.get("trained_by_job") != job.id:
            shutil.rmtree(staging, ignore_errors=True)
            raise InputError(f"you already have a model named {name!r} (trained by another job); train again "
                             "with another name")
        shutil.rmtree(target)
    staging.rename(target)
    return target


def train_generator_job(ctx: Context, p: TrainParams, train, val, run_dir: Path):
    from models.diffusion.train import GeneratorConfig, GeneratorTrainer

    cfg = GeneratorConfig(resolution=p.resolution, steps=p.steps, batch_size=p.batch_size,
                          block_out_channels=tuple(p.channels or (32, 64, 128, 128)), layers_per_block=1,
                          sample_every=max(1, p.steps), checkpoint_every=max(1, min(250, p.steps // 4 or 1)),
                          samples_per_finding=2, dataset_name=p.dataset)
    trainer = GeneratorTrainer(train, run_dir, cfg, val_ds=val,
                               progress=lambda s, t, m, _: ctx.progress(s, t, m),
                               should_stop=ctx.check_cancel)
    try:
        folder = trainer.run(resume=True)
    except InterruptedError as exc:
        raise JobCancelled() from exc
    files = {"loss.png": run_dir / "loss.png", "training.json": folder / "training.json"}
    grids = sorted((run_dir / "samples").glob("step_*.png"))
    if grids:
        files["samples.png"] = grids[-1]
    result = {"steps": trainer.step, "final_loss": float(sum(trainer.losses[-20:]) / max(1, len(trainer.losses[-20:])))}
    return folder, result, files


def train_classifier_job(ctx: Context, p: TrainParams, train, val, run_dir: Path):
    from models.classifier.train import ClassifierConfig, train_classifier

    cfg = ClassifierConfig(resolution=p.resolution, epochs=p.steps, batch_size=p.batch_size, dataset_name=p.dataset,
                           bootstrap=200)
    folder, report = train_classifier(train, val, run_dir, cfg, progress=lambda s, t, m, _: ctx.progress(s, t, m))
    files = {"report.json": run_dir / "report.json"}
    return folder, {"val_auroc": {k: v["auroc"] for k, v in report["val"].items()}}, files


HANDLERS = {"generate": run_generate, "explain": run_explain, "train": run_train}


def run(job: JobRecord, heartbeat=None) -> tuple[dict, list[Artifact]]:
    base = get_settings().data_dir / "tmp"
    base.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=base, prefix=f"{job.id}-") as tmp:
        return HANDLERS[job.kind](Context(job, Path(tmp), heartbeat))
