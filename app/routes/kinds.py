"""The registry of job kinds over HTTP: GET /kinds lists them with their parameters; POST /kinds/{kind}/jobs
queues a kind that has no route of its own (one registered by an operator or a plugin) from a JSON body."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body
from pydantic import BaseModel, ValidationError

from app.deps import IDEMPOTENCY_HEADER, OwnerDep, SettingsDep, StoreDep
from app.errors import ApiError, readable
from app.schemas import JOB_ACCEPTED, ErrorBody, JobOut
from app.submit import submit
from core.kinds import UnknownKind, get, names

router = APIRouter(tags=["jobs"])


class KindInfo(BaseModel):
    name: str
    summary: str
    queue: str
    route: str = ""
    formats: list[str] = []
    parameters: dict[str, Any]  # the JSON schema of its parameters


def spec_of(kind: str):
    try:
        return get(kind)
    except UnknownKind as exc:
        raise ApiError("not_found", str(exc)) from exc


@router.get("/kinds", response_model=list[KindInfo], operation_id="list_kinds")
def list_kinds(owner: OwnerDep) -> list[KindInfo]:
    """The job kinds this service runs, where to submit each, and the JSON schema of its parameters."""
    out = []
    for name in names():
        spec = get(name)
        out.append(KindInfo(name=name, summary=spec.summary, queue=spec.queue,
                            route=spec.route or f"/kinds/{name}/jobs", formats=list(spec.formats),
                            parameters=spec.params.model_json_schema()))
    return out


@router.post("/kinds/{kind}/jobs", status_code=202, response_model=JobOut, operation_id="submit_job",
             responses={s: {"model": ErrorBody} for s in (404, 422, 429, 503)} | JOB_ACCEPTED)
def submit_job(kind: str, owner: OwnerDep, settings: SettingsDep, store: StoreDep,
               body: Annotated[dict[str, Any] | None, Body(description="the kind's parameters (GET /kinds)")] = None,
               idempotency_key: Annotated[str | None, IDEMPOTENCY_HEADER] = None) -> JobOut:
    """Queue a job of a registered kind that has no route of its own; its parameters are validated against the
    kind's model. Built-in kinds answer at their own routes (POST /generate, /explain, /train)."""
    spec = spec_of(kind)
    if spec.route:
        raise ApiError("invalid_parameter", f"{kind} jobs are submitted at POST {spec.route}")
    try:
        params = spec.params.model_validate(body or {})
    except ValidationError as exc:
        raise ApiError("invalid_parameter", readable(exc.errors())) from exc
    return submit(store, settings, kind, owner, params.model_dump(mode="json"), idempotency_key)
