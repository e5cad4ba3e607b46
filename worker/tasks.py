"""Celery tasks: thin wrappers that take a job id, run its handler and record the outcome."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

import redis
from celery.exceptions import SoftTimeLimitExceeded
from celery.signals import worker_process_init, worker_ready, worker_shutdown

from core.contracts import FINAL, Artifact, JobError, JobRecord, JobStatus
from core.jobs import runner_id
from core.kinds import handler_of
from core.queue import RUN_JOB_TASK
from core.settings import get_settings
from core.webhooks import notify
from worker import runtime
from worker.celery_app import celery_app
from worker.context import Context
from worker.heartbeat import Heartbeat

log = logging.getLogger("radsynth.worker")


@celery_app.task(name=RUN_JOB_TASK, ignore_result=True)
def run_job(job_id: str, generation: int = 0) -> None:
    """Run one job by id. Redelivered jobs are counted and failed after RADSYNTH_MAX_DELIVERIES; a message
    older than the job's generation (it was requeued after its worker died) is skipped."""
    store = runtime.job_store()
    settings = get_settings()
    record = store.start(job_id, generation, runner=runner_id(), heartbeat_timeout=settings.heartbeat_timeout)
    if record.already_running:
        log.warning("job %s is running in %s; this delivery is a duplicate and is dropped", job_id, record.runner)
        return
    if record.status == JobStatus.cancelled:  # whatever a killed earlier delivery left behind goes too
        runtime.artifact_store().delete_job(job_id)
    if record.status != JobStatus.running or record.generation != generation:
        log.info("job %s is %s (generation %d, message %d); skipping", job_id, record.status, record.generation,
                 generation)
        return
    with Heartbeat(store, [job_id], every=max(1.0, settings.heartbeat_timeout / 4)) as beat:
        try:
            final = _execute(store, record, generation, beat)
        except redis.RedisError as exc:
            log.warning("job %s lost the job store (%s); requeueing it once Redis answers", job_id,
                        type(exc).__name__)
            requeue_when_redis_returns(store, [job_id, *beat.job_ids[1:]], generation, settings.heartbeat_timeout)
            return
    if final.status == JobStatus.cancelled:
        runtime.artifact_store().delete_job(job_id)
    log.info("job %s ended %s", job_id, final.status)
    notify(final)


def requeue_when_redis_returns(store, job_ids: list[str], generation: int, patience: float) -> None:
    """After a lost Redis connection: wait up to `patience` seconds for Redis, then put the jobs this process ran
    back in their queues at once (instead of leaving them 'running' until the reaper's heartbeat timeout)."""
    from core.kinds import queue_of

    deadline = time.monotonic() + patience
    pending = list(dict.fromkeys(job_ids))
    while pending and time.monotonic() < deadline:
        try:
            store.r.ping()
            for job_id in list(pending):
                rec = store.requeue(job_id, generation=generation if job_id == job_ids[0] else None)
                pending.remove(job_id)
                if rec is not None and rec.status == JobStatus.queued:
                    run_job.apply_async(args=[rec.id, rec.generation], queue=queue_of(rec.kind))
                    log.warning("job %s requeued as generation %d after Redis returned", rec.id, rec.generation)
        except redis.RedisError:
            time.sleep(0.5)


def _execute(store, record, generation: int, heartbeat: Heartbeat):
    """Run the handler and record the outcome (or the redelivery-limit failure)."""
    from models.errors import InputError
    from models.vocabulary.findings import UnknownFindingError
    from worker.context import JobCancelled

    job_id = record.id
    limit = get_settings().max_deliveries
    if record.deliveries > limit:
        return store.finish(job_id, generation=generation, error=JobError(
            code="redelivery_limit", message=f"the job stopped its worker {record.deliveries - 1} times "
                                             f"(limit {limit}); it will not be retried"))
    log.info("job %s (%s) delivery %d", job_id, record.kind, record.deliveries)
    try:
        result, artifacts = run_handler(record, heartbeat)
        if record.params.get("push"):
            from worker.push import push_record

            result = result | {"push": push_record(record, artifacts)}
        return store.finish(job_id, result=result, artifacts=artifacts, generation=generation)
    except redis.RedisError:
        raise  # the job store is gone, not the job: run_job requeues it when Redis answers
    except JobCancelled:
        return store.mark_cancelled(job_id)
    except (InputError, UnknownFindingError, FileNotFoundError) as exc:
        code = getattr(exc, "code", "invalid_input")
        return store.finish(job_id, generation=generation, error=JobError(code=code, message=str(exc)))
    except SoftTimeLimitExceeded:
        return store.finish(job_id, generation=generation,
                            error=JobError(code="time_limit", message="the job ran past its time limit"))
    except Exception as exc:
        log.exception("job %s failed", job_id)
        return store.finish(job_id, generation=generation, error=JobError(
            code="internal_error", message=f"the worker failed: {type(exc).__name__}"))


def run_handler(job: JobRecord, heartbeat: Heartbeat | None = None) -> tuple[dict, list[Artifact]]:
    """Run the job's kind handler (found through the registry) in a fresh work folder."""
    base = get_settings().data_dir / "tmp"
    base.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=base, prefix=f"{job.id}-") as tmp:
        return handler_of(job.kind)(Context(job, Path(tmp), heartbeat))


def resend(changed: list[JobRecord]) -> None:
    """Send a message for each job the reaper put back in its queue; end those whose cancel was asked."""
    from core.kinds import queue_of

    for rec in changed:
        if rec.status == JobStatus.cancelled:
            log.warning("job %s lost its worker after a cancel request; cancelled", rec.id)
            runtime.artifact_store().delete_job(rec.id)
            continue
        log.warning("job %s lost its worker; requeued as generation %d", rec.id, rec.generation)
        run_job.apply_async(args=[rec.id, rec.generation], queue=queue_of(rec.kind))


def reap_forever(stop: threading.Event) -> None:
    """At once, requeue the jobs of this host's dead processes and clear their work folders; then, until `stop`,
    requeue running jobs whose heartbeat stopped (their worker was killed, host and all)."""
    timeout = get_settings().heartbeat_timeout
    rounds = 0
    try:
        resend(runtime.job_store().requeue_dead_runners())
    except Exception as exc:  # noqa: BLE001 - Redis may be restarting: the heartbeat rounds catch these jobs
        log.warning("requeueing the jobs of dead workers failed: %s", type(exc).__name__)
    while True:
        try:
            if rounds % 20 == 0:
                sweep_orphaned_uploads(get_settings().upload_grace_s)
                sweep_work_folders()
            if rounds:
                resend(runtime.job_store().requeue_stale(timeout))
        except Exception as exc:  # noqa: BLE001 - Redis may be restarting; try again next round
            log.warning("reaper round failed: %s", type(exc).__name__)
        rounds += 1
        if stop.wait(max(1.0, timeout / 4)):
            return


def sweep_work_folders(stray_age: float = 3600.0) -> list[Path]:
    """Remove job work folders (`tmp/<job id>-*`, `runs/<job id>`) whose job has ended, was deleted, or is no
    longer run by a live process here (a worker killed mid-job never removes its own); other stray folders in
    `tmp/` once older than `stray_age` seconds. Returns what was removed."""
    from core.jobs import JobNotFound, runner_alive

    data_dir = get_settings().data_dir
    store = runtime.job_store()
    removed: list[Path] = []
    candidates = [(p, p.name.split("-", 1)[0]) for p in (data_dir / "tmp").glob("*") if p.is_dir()]
    candidates += [(p, p.name) for p in (data_dir / "runs").glob("*") if p.is_dir()]
    for folder, job_id in candidates:
        try:
            rec = store.get(job_id) if len(job_id) == 32 else None
        except JobNotFound:
            rec = None
        if rec is None:
            if len(job_id) != 32 and time.time() - folder.stat().st_mtime < stray_age:
                continue  # not a job's folder (an upload being received): only once it is old
        elif folder.parent.name == "runs":
            if rec.status not in FINAL:
                continue  # a requeued or running job resumes from its checkpoint here
        elif rec.status == JobStatus.running and runner_alive(rec.runner):
            continue  # in use (a queued job's folder is a dead delivery's: a new run makes a new one)
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    if removed:
        log.info("removed %d work folder(s) of ended, deleted or dead jobs", len(removed))
    return removed


def sweep_orphaned_uploads(grace: float) -> list[str]:
    """Delete stored uploads that no existing job refers to once `grace` seconds old (a crash between storing an
    upload and creating its job, or a job deleted without its upload). Returns the ids deleted."""
    store, artifacts = runtime.job_store(), runtime.artifact_store()
    swept = [u for u in artifacts.stale_uploads(grace) if not store.upload_in_use(u)]
    for upload_id in swept:
        artifacts.delete_job(upload_id)
        store.forget_upload(upload_id)
        log.warning("deleted upload %s: no job refers to it", upload_id)
    return swept


_reaper_stop = threading.Event()


@worker_ready.connect
def start_reaper(**_: object) -> None:
    """Each worker's main process watches for jobs orphaned by dead workers (any host, any queue)."""
    threading.Thread(target=reap_forever, args=(_reaper_stop,), name="radsynth-reaper", daemon=True).start()


@worker_shutdown.connect
def stop_reaper(**_: object) -> None:
    _reaper_stop.set()


@worker_process_init.connect
def warm_up(**_: object) -> None:
    """Import the ML stack in each pool process at start and, with RADSYNTH_WARM_UP (the default), load the
    default generator, its QC checker and the default classifier and run one sampler step, so the first job pays
    for none of it."""
    import torch

    import models.classifier.ensemble  # noqa: F401
    import models.diffusion.pipeline  # noqa: F401

    log.info("pool process %d: torch %s, %d threads", os.getpid(), torch.__version__, torch.get_num_threads())
    if not get_settings().warm_up:
        return
    from worker.runtime import find_model

    try:
        folder = find_model(None, "generator")
        pipe = runtime.generator(folder)
        runtime.qc_context(folder)
        runtime.classifier(find_model(None, "classifier"))
        pipe(pipe.findings[0], 1, seeds=[0], num_inference_steps=1, superres_steps=1)  # both stages, one step
    except Exception as exc:  # noqa: BLE001 - a missing default model is reported by the job that needs it
        log.warning("warm-up skipped: %s", exc)
