"""POST /generate: queue finding-conditional image generation."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Body, Query, Request

from app.catalog import canonical_findings, model_info
from app.deps import IDEMPOTENCY_HEADER, OwnerDep, SettingsDep, StoreDep
from app.errors import ApiError
from app.params import merge, query_model
from app.schemas import JOB_ACCEPTED, ErrorBody, JobOut
from app.submit import submit
from core.contracts import GenerateParams
from models.vocabulary.model_kinds import makes_volumes
from models.vocabulary.sampler_defaults import model_guidance, request_steps

router = APIRouter(tags=["generate"])
# finding may repeat in a query string (finding=effusion&finding=cardiomegaly)
GenerateQuery = query_model(GenerateParams, finding=list[str], format=list[str])
ERRORS = {401: {"model": ErrorBody}, 422: {"model": ErrorBody}, 429: {"model": ErrorBody}, 503: {"model": ErrorBody}}


@router.post("/generate", status_code=202, response_model=JobOut, operation_id="generate",
             responses=ERRORS | JOB_ACCEPTED)
def generate(
    request: Request,
    owner: OwnerDep,
    settings: SettingsDep,
    store: StoreDep,
    query: Annotated[GenerateQuery, Query()],
    body: Annotated[GenerateParams | None, Body(description="the same parameters as JSON")] = None,
    idempotency_key: Annotated[str | None, IDEMPOTENCY_HEADER] = None,
) -> JobOut:
    """Queue generation of synthetic images (2D models) or volumes (3D models, e.g. adrenal3d) of a finding;
    poll the returned job. Parameters come as query parameters or as a JSON body (the query wins)."""
    if not query.finding and (body is None or "finding" not in body.model_fields_set):
        raise ApiError("invalid_parameter", "finding is required, e.g. POST /generate?finding=consolidation")
    params = merge(GenerateParams, query, body)
    info = model_info(settings, params.model, "generator", owner=owner)
    params.model = info["name"]
    params.finding = "+".join(canonical_findings(info, params.finding))
    try:
        params.fit_to_model(info)
    except ValueError as exc:
        raise ApiError("invalid_parameter", str(exc)) from exc
    if params.push and makes_volumes(info):
        raise ApiError("invalid_parameter", f"push sends 2D DICOM instances; {info['name']} makes volumes, whose "
                       "DICOM series come zipped: download them from the job instead")
    if params.seed is None:
        params.seed = secrets.randbelow(2**31 - 1000)
    if params.guidance is None:
        params.guidance = model_guidance(info)
    if params.steps is None:
        params.steps = request_steps(params.sampler, None, settings.generate_default_steps,
                                     volume=makes_volumes(info))
    return submit(store, settings, "generate", owner, params.model_dump(mode="json"), idempotency_key)
