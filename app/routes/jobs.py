"""Job status, listing, artifacts, cancellation, deletion and a server-sent-events progress stream."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from typing import Annotated

import redis
from fastapi import APIRouter, Query, Response
from fastapi.responses import FileResponse
from sse_starlette.sse import EventSourceResponse

from app.deps import ArtifactsDep, OwnerDep, SettingsDep, StoreDep
from app.errors import ApiError
from app.schemas import ErrorBody, JobList, JobOut
from app.submit import job_out
from core.contracts import FINAL, JobStatus
from core.jobs import JobNotFound, JobStore
from core.kinds import names

router = APIRouter(prefix="/jobs", tags=["jobs"])
NOT_FOUND = {404: {"model": ErrorBody}, 401: {"model": ErrorBody}}


def owned(store: JobStore, job_id: str, owner: str):
    try:
        return store.get(job_id, owner)
    except JobNotFound as exc:
        raise ApiError("not_found", f"no job {job_id!r} (unknown, or not yours)") from exc
    except redis.RedisError as exc:
        raise ApiError("unavailable", "the job store (Redis) is unreachable", headers={"Retry-After": "5"}) from exc


@router.get("", response_model=JobList, operation_id="list_jobs", responses=NOT_FOUND)
def list_jobs(owner: OwnerDep, store: StoreDep,
              kind: Annotated[str | None, Query(description="a job kind (GET /kinds)")] = None,
              status: Annotated[JobStatus | None, Query()] = None,
              offset: Annotated[int, Query(ge=0)] = 0, limit: Annotated[int, Query(ge=1, le=200)] = 50) -> JobList:
    """Your own jobs, newest first."""
    if kind is not None and kind not in names():
        raise ApiError("invalid_parameter", f"kind must be one of {', '.join(names())} (got {kind!r})")
    items, total = store.list(owner, kind=kind, status=status, offset=offset, limit=limit)
    return JobList(items=[job_out(r) for r in items], total=total, offset=offset, limit=limit)


@router.get("/{job_id}", response_model=JobOut, operation_id="get_job", responses=NOT_FOUND)
def get_job(job_id: str, owner: OwnerDep, store: StoreDep) -> JobOut:
    """Status, progress (queue position and ETA), parameters, result and artifacts of one job."""
    return job_out(owned(store, job_id, owner))


@router.post("/{job_id}/cancel", response_model=JobOut, operation_id="cancel_job", responses=NOT_FOUND)
def cancel_job(job_id: str, owner: OwnerDep, store: StoreDep) -> JobOut:
    """Cancel: a queued job never runs; a running job stops at its next step and keeps no results."""
    owned(store, job_id, owner)
    return job_out(store.cancel(job_id, owner))


@router.delete("/{job_id}", status_code=204, operation_id="delete_job", responses=NOT_FOUND | {
    409: {"model": ErrorBody, "description": "the job has not ended yet; cancel it first"}})
def delete_job(job_id: str, owner: OwnerDep, store: StoreDep, artifacts: ArtifactsDep) -> Response:
    """Delete an ended job with its artifacts and, for an explanation, the uploaded image. Afterwards the job
    answers 404."""
    rec = owned(store, job_id, owner)
    if rec.status not in FINAL:
        raise ApiError("conflict", f"the job is {rec.status.value}; cancel it first (POST /jobs/{job_id}/cancel) "
                       "and delete it once it has ended")
    store.delete(job_id, owner)
    artifacts.delete_job(job_id)
    if rec.params.get("upload"):
        artifacts.delete_job(rec.params["upload"])
    return Response(status_code=204)


@router.get("/{job_id}/artifacts/{name}", operation_id="get_artifact", responses=NOT_FOUND | {
    200: {"content": {"image/png": {}, "application/dicom": {}, "image/gif": {}, "application/json": {},
                      "application/octet-stream": {}}, "description": "the file"}})
def get_artifact(job_id: str, name: str, owner: OwnerDep, store: StoreDep, artifacts: ArtifactsDep) -> FileResponse:
    """Download one artifact of a finished job, by name (as listed in the job's artifacts)."""
    rec = owned(store, job_id, owner)
    match = next((a for a in rec.artifacts if a.name == name), None)
    path = artifacts.path(job_id, name) if match else None
    if match is None or path is None:
        raise ApiError("not_found", f"job {job_id} has no artifact {name!r}")
    return FileResponse(path, media_type=match.media_type, filename=name)


@router.post("/{job_id}/push", response_model=JobOut, operation_id="push_job", responses=NOT_FOUND | {
    409: {"model": ErrorBody}, 422: {"model": ErrorBody}})
async def push_job(job_id: str, owner: OwnerDep, store: StoreDep, settings: SettingsDep,
                   artifacts: ArtifactsDep) -> JobOut:
    """Send a finished job's DICOM that its DICOMweb archive has not stored (pending or refused instances) again;
    the job's `result.push` says per instance what happened. Instances already stored are not sent twice."""
    from core.dicomweb import job_dicom_files, resend_pending

    rec = owned(store, job_id, owner)
    record = (rec.result or {}).get("push")
    if rec.status != JobStatus.succeeded or record is None:
        raise ApiError("conflict", f"job {job_id} has nothing to push: only a succeeded job submitted with "
                       "push=<target> has DICOM to send again")
    target = settings.dicomweb().get(record["target"])
    if target is None:
        raise ApiError("invalid_parameter", f"DICOMweb target {record['target']!r} is no longer configured "
                       "(RADSYNTH_DICOMWEB_TARGETS)")
    files = dict(job_dicom_files(rec.id, rec.kind, rec.params, [a.name for a in rec.artifacts], artifacts))
    again = await asyncio.to_thread(resend_pending, record, target, files)
    store.set_result(job_id, (rec.result or {}) | {"push": again})
    return job_out(store.get(job_id, owner))


@router.get("/{job_id}/events", operation_id="job_events", responses=NOT_FOUND | {
    200: {"content": {"text/event-stream": {}}, "description": "progress events until the job ends"}})
async def job_events(job_id: str, owner: OwnerDep, store: StoreDep, settings: SettingsDep) -> EventSourceResponse:
    """Server-sent events: the job record now, then progress and status changes until it ends."""
    first = owned(store, job_id, owner)
    cap = settings.max_event_streams_per_owner
    if OPEN_STREAMS[owner] >= cap:
        raise ApiError("rate_limited", f"you have {cap} event streams open (RADSYNTH_MAX_EVENT_STREAMS_PER_OWNER); "
                       "close one, or poll GET /jobs/{id}", headers={"Retry-After": "5"})

    async def stream():
        yield {"event": "job", "data": job_out(first).model_dump_json()}
        if first.status in FINAL:
            return
        OPEN_STREAMS[owner] += 1
        client = store.async_client()
        pubsub = client.pubsub()
        try:
            await pubsub.subscribe(store.events_channel(job_id))
            while True:
                msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=2.0)
                rec = await asyncio.to_thread(store.get, job_id, owner)
                if msg:
                    yield {"event": "progress", "data": json.dumps(json.loads(msg["data"]) | {"status": rec.status})}
                if rec.status in FINAL:
                    yield {"event": "job", "data": job_out(rec).model_dump_json()}
                    return
        finally:
            OPEN_STREAMS[owner] -= 1
            await pubsub.aclose()
            await client.aclose()

    return EventSourceResponse(stream(), ping=15)


OPEN_STREAMS: Counter[str] = Counter()  # per owner, in this API process
