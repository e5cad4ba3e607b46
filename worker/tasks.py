"""Celery tasks: thin wrappers that take a job id, run its handler and record the outcome."""

from __future__ import annotations

import logging
import urllib.request

from celery.exceptions import SoftTimeLimitExceeded
from celery.signals import worker_process_init

from worker import runtime
from worker.celery_app import celery_app
from worker.contracts import JobError, JobStatus
from worker.settings import get_settings

log = logging.getLogger("radsynth.worker")


def notify(record) -> None:
    """POST the final job record to its webhook; failures are logged, never fatal."""
    url = record.params.get("webhook")
    if not url:
        return
    body = record.model_dump_json().encode()
    req = urllib.request.Request(str(url), data=body, headers={"Content-Type": "application/json"}, method="POST")
    try:
        urllib.request.urlopen(req, timeout=5).close()
    except Exception as exc:  # a user's endpoint being down must not fail the job
        log.warning("webhook for job %s failed: %s", record.id, type(exc).__name__)


@celery_app.task(name="radsynth.run_job", ignore_result=True)
def run_job(job_id: str) -> None:
    """Run one job by id. Redelivered jobs are counted and failed after RADSYNTH_MAX_DELIVERIES."""
    from models.errors import InputError
    from models.findings import UnknownFindingError
    from worker.handlers import JobCancelled, run

    store = runtime.job_store()
    record = store.start(job_id)
    if record.status != JobStatus.running:
        log.info("job %s is %s; skipping", job_id, record.status)
        return
    limit = get_settings().max_deliveries
    if record.deliveries > limit:
        final = store.finish(job_id, error=JobError(
            code="redelivery_limit", message=f"the job stopped its worker {record.deliveries - 1} times "
                                             f"(limit {limit}); it will not be retried"))
        notify(final)
        return
    log.info("job %s (%s) delivery %d", job_id, record.kind, record.deliveries)
    try:
        result, artifacts = run(record)
        final = store.finish(job_id, result=result, artifacts=artifacts)
    except JobCancelled:
        final = store.mark_cancelled(job_id)
    except (InputError, UnknownFindingError, FileNotFoundError) as exc:
        code = getattr(exc, "code", "invalid_input")
        final = store.finish(job_id, error=JobError(code=code, message=str(exc)))
    except SoftTimeLimitExceeded:
        final = store.finish(job_id, error=JobError(code="time_limit", message="the job ran past its time limit"))
    except Exception as exc:
        log.exception("job %s failed", job_id)
        final = store.finish(job_id, error=JobError(code="internal_error",
                                                    message=f"the worker failed: {type(exc).__name__}"))
    if final.status == JobStatus.cancelled:
        runtime.artifact_store().delete_job(job_id)
    log.info("job %s ended %s", job_id, final.status)
    notify(final)


@worker_process_init.connect
def warm_up(**_: object) -> None:
    """Import the ML stack in each pool process at start, so the first job does not pay for it."""
    import models.classifier.ensemble  # noqa: F401
    import models.diffusion.pipeline  # noqa: F401
