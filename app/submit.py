"""Create a job record and queue it; the one path every POST takes."""

from __future__ import annotations

import redis

from app.errors import ApiError
from app.schemas import JobOut
from core.contracts import JobRecord
from core.jobs import JobStore, TooManyJobs
from core.kinds import queue_of
from core.settings import Settings
from core.webhooks import WebhookRefused, check_webhook, parse_allow


def job_out(rec: JobRecord) -> JobOut:
    data = rec.model_dump(exclude={"owner"})
    return JobOut(**data, url=f"/jobs/{rec.id}", events_url=f"/jobs/{rec.id}/events")


def submit_with_upload(store: JobStore, settings: Settings, artifacts, kind: str, owner: str, params: dict,
                       idempotency_key: str | None) -> JobOut:
    """`submit` for a job whose params name a stored upload: the upload is deleted when the job is refused (quota,
    Redis down) or when an idempotent retry returns the first request's job, so no upload outlives its job."""
    upload_id = params["upload"]
    try:
        job = submit(store, settings, kind, owner, params, idempotency_key)
    except BaseException:
        artifacts.delete_job(upload_id)
        raise
    if job.params.get("upload") != upload_id:
        artifacts.delete_job(upload_id)
    return job


def submit(store: JobStore, settings: Settings, kind: str, owner: str, params: dict,
           idempotency_key: str | None) -> JobOut:
    """Record the job (or return the one this idempotency key already made) and enqueue it by task name."""
    from core.queue import send_job

    if idempotency_key is not None and not (0 < len(idempotency_key) <= 200):
        raise ApiError("invalid_parameter", "Idempotency-Key must be 1-200 characters")
    if params.get("push"):
        check_push(settings, params)
    if params.get("webhook"):
        try:
            check_webhook(str(params["webhook"]), parse_allow(settings.webhook_allow))
        except WebhookRefused as exc:
            raise ApiError("invalid_parameter", str(exc)) from exc
    try:
        record, created = store.create(kind, owner, params, idempotency_key=idempotency_key,
                                       max_active=settings.max_active_jobs)
        if created:
            send_job(record.id, queue_of(kind))
    except TooManyJobs as exc:
        raise ApiError("too_many_jobs", f"you have {exc.limit} jobs queued or running; wait for some to finish or "
                       "cancel them", headers={"Retry-After": "30"}) from exc
    except redis.RedisError as exc:
        raise ApiError("unavailable", "the job queue (Redis) is unreachable; try again shortly",
                       headers={"Retry-After": "5"}) from exc
    return job_out(store.get(record.id, owner))


def check_push(settings: Settings, params: dict) -> None:
    """`push` names a DICOMweb target this deployment configured, and the job writes DICOM to send."""
    name, targets = params["push"], settings.dicomweb()
    if name not in targets:
        known = (f"configured targets: {', '.join(sorted(targets))}" if targets else
                 "this service has none configured (RADSYNTH_DICOMWEB_TARGETS)")
        raise ApiError("invalid_parameter", f"unknown DICOMweb target {name!r} in push; {known}")
    if "dicom" not in params.get("format", ["dicom"]):
        raise ApiError("invalid_parameter", "push sends the job's DICOM: add dicom to format (e.g. "
                       "format=png,dicom)")
