"""POST /generate: queue finding-conditional image generation."""

from __future__ import annotations

import secrets
from typing import Annotated, Literal

from fastapi import APIRouter, Body, Query, Request
from pydantic import ValidationError

from app.catalog import canonical_findings, model_info
from app.deps import IDEMPOTENCY_HEADER, OwnerDep, SettingsDep, StoreDep
from app.errors import ApiError, readable
from app.schemas import JOB_ACCEPTED, ErrorBody, JobOut
from app.submit import submit
from models.sampler_defaults import SamplerName, request_steps
from worker.contracts import GenerateParams, JobKind

router = APIRouter(tags=["generate"])
ERRORS = {401: {"model": ErrorBody}, 422: {"model": ErrorBody}, 429: {"model": ErrorBody}, 503: {"model": ErrorBody}}


@router.post("/generate", status_code=202, response_model=JobOut, operation_id="generate",
             responses=ERRORS | JOB_ACCEPTED)
def generate(
    request: Request,
    owner: OwnerDep,
    settings: SettingsDep,
    store: StoreDep,
    finding: Annotated[list[str] | None, Query(
        description="finding(s), e.g. consolidation (required); several joined with commas "
        "(finding=effusion,cardiomegaly) or by repeating the parameter")] = None,
    n: Annotated[int | None, Query(ge=1, le=64, description="number of images, 1-64")] = None,
    model: Annotated[str | None, Query(description="generator name; default: the bundled one")] = None,
    format: Annotated[Literal["png", "dicom", "both", "nifti"] | None,
                      Query(description="images: png, dicom or both; volumes: nifti, dicom (a series) or both")] = None,
    sampler: Annotated[SamplerName | None,
                       Query(description="sampler")] = None,
    steps: Annotated[int | None, Query(ge=1, le=1000, description="sampler steps")] = None,
    guidance: Annotated[float | None, Query(ge=0, le=20, description="guidance scale")] = None,
    classifier_guidance: Annotated[float | None, Query(ge=0, le=50, description="classifier-guidance scale "
                                                       "(0 = off; default: the model's own)")] = None,
    seed: Annotated[int | None, Query(ge=0, le=2**31 - 1000, description="seed of the first image")] = None,
    gif: Annotated[bool | None, Query(description="return a denoising GIF")] = None,
    qc: Annotated[bool | None, Query(description="label agreement and memorisation per image")] = None,
    body: Annotated[GenerateParams | None, Body(description="the same parameters as JSON")] = None,
    idempotency_key: Annotated[str | None, IDEMPOTENCY_HEADER] = None,
) -> JobOut:
    """Queue generation of synthetic images (2D models) or volumes (3D models, e.g. adrenal3d) of a finding;
    poll the returned job."""
    joined = ",".join(finding) if finding else None
    query = {k: v for k, v in {"finding": joined, "n": n, "model": model, "format": format, "sampler": sampler,
                               "steps": steps, "guidance": guidance,
                               "classifier_guidance": classifier_guidance, "seed": seed, "gif": gif, "qc": qc}.items()
             if v is not None}
    merged = (body.model_dump(exclude_unset=True, mode="json") if body else {}) | query
    if "finding" not in merged:
        raise ApiError("invalid_parameter", "finding is required, e.g. POST /generate?finding=consolidation")
    try:
        params = GenerateParams.model_validate(merged)
    except ValidationError as exc:
        raise ApiError("invalid_parameter", readable(exc.errors())) from exc
    info = model_info(settings, params.model, "generator", owner=owner)
    params.model = info["name"]
    params.finding = "+".join(canonical_findings(info, params.finding))
    check_output_kind(params, info, explicit=merged)
    if params.seed is None:
        params.seed = secrets.randbelow(2**31 - 1000)
    if params.steps is None:
        params.steps = request_steps(params.sampler, None, settings.generate_default_steps,
                                     volume=info.get("kind") == "generator3d")
    return submit(store, settings, JobKind.generate, owner, params.model_dump(mode="json"), idempotency_key)


MAX_VOLUMES = 8


def check_output_kind(params: GenerateParams, info: dict, explicit: dict) -> None:
    """Images and volumes take different formats and options: refuse what the model cannot give, saying why."""
    if params.classifier_guidance and not info.get("guide"):
        raise ApiError("invalid_parameter", f"{info['name']} has no guide classifier, so classifier_guidance must be "
                       "0 or left out; GET /models shows which generators have one")
    if info.get("kind") != "generator3d":
        if params.format == "nifti":
            raise ApiError("invalid_parameter", f"format=nifti is for volume models (GET /models, kind generator3d); "
                           f"{info['name']} makes 2D images: use png, dicom or both")
        return
    if params.format == "png":
        raise ApiError("invalid_parameter", f"{info['name']} makes volumes: use format nifti, dicom (a series) or "
                       "both; every volume also comes with mid-slice PNGs and a slice-sweep GIF")
    if "+" in params.finding:
        raise ApiError("invalid_parameter", f"{info['name']} generates one finding per volume; got {params.finding}")
    if params.gif:
        raise ApiError("invalid_parameter", "gif (a denoising GIF) is for 2D models; every volume comes with a "
                       "slice-sweep GIF")
    if params.n > MAX_VOLUMES:
        raise ApiError("invalid_parameter", f"n must be at most {MAX_VOLUMES} for volume models (got {params.n})")
    if "format" not in explicit:
        params.format = "nifti"
    params.qc = False  # per-image label agreement and copy checks are 2D; the model card measures volumes
