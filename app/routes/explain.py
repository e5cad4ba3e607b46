"""POST /explain: upload an X-ray (PNG, JPEG or DICOM) and queue an integrated-gradients explanation."""

from __future__ import annotations

from typing import Annotated, Literal

import anyio
from fastapi import APIRouter, File, Form, UploadFile

from app.catalog import canonical_findings, model_info
from app.deps import IDEMPOTENCY_HEADER, ArtifactsDep, OwnerDep, SettingsDep, StoreDep
from app.schemas import JOB_ACCEPTED, ErrorBody, JobOut
from app.submit import submit_with_upload
from app.uploads import accept_upload
from core.contracts import ExplainParams

router = APIRouter(tags=["explain"])
UPLOAD_LIMITER = anyio.CapacityLimiter(2)
ERRORS = {s: {"model": ErrorBody} for s in (401, 413, 415, 422, 429, 503)}


@router.post("/explain", status_code=202, response_model=JobOut, operation_id="explain",
             responses=ERRORS | JOB_ACCEPTED)
async def explain(
    owner: OwnerDep,
    settings: SettingsDep,
    store: StoreDep,
    artifacts: ArtifactsDep,
    file: Annotated[UploadFile, File(description="PNG, JPEG or DICOM chest X-ray")],
    findings: Annotated[str | None, Form(description="comma-separated findings; default: the 3 most probable")] = None,
    method: Annotated[Literal["ig", "smoothgrad"], Form(description="ig or smoothgrad")] = "ig",
    n_steps: Annotated[int, Form(ge=4, le=500, description="integration steps")] = 50,
    baseline: Annotated[Literal["black", "blur"], Form(description="IG baseline")] = "black",
    model: Annotated[str | None, Form(description="classifier name; default: the bundled one")] = None,
    idempotency_key: Annotated[str | None, IDEMPOTENCY_HEADER] = None,
) -> JobOut:
    """Queue an explanation of an uploaded X-ray; DICOM is de-identified before it is stored."""
    data = await file.read(settings.max_upload_bytes + 1)

    def check_store_and_queue() -> JobOut:
        info = model_info(settings, model, "classifier", owner=owner)
        wanted = canonical_findings(info, findings) if findings and findings.strip() else None
        upload_id, fmt = accept_upload(data, artifacts, max_bytes=settings.max_upload_bytes,
                                       max_pixels=settings.max_pixels)
        params = ExplainParams(upload=upload_id, source_format=fmt, findings=wanted, method=method,
                               n_steps=n_steps, baseline=baseline, model=info["name"])
        return submit_with_upload(store, settings, artifacts, "explain", owner, params.model_dump(mode="json"),
                                  idempotency_key)

    # Decoding and de-identifying run off the event loop, a few at a time, so that a burst of large uploads
    # never holds up other requests (/health answered in 30 s during one before).
    return await anyio.to_thread.run_sync(check_store_and_queue, limiter=UPLOAD_LIMITER)
