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
from models.output_formats import resolve_formats
from models.sampler_defaults import model_guidance, request_steps

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
    check_output_kind(params, info)
    if params.seed is None:
        params.seed = secrets.randbelow(2**31 - 1000)
    if params.guidance is None:
        params.guidance = model_guidance(info)
    if params.steps is None:
        params.steps = request_steps(params.sampler, None, settings.generate_default_steps,
                                     volume=info.get("kind") == "generator3d")
    return submit(store, settings, "generate", owner, params.model_dump(mode="json"), idempotency_key)


MAX_VOLUMES = 8


def check_guide_and_size(info: dict, classifier_guidance: float | None, resolution: int | None) -> None:
    """Classifier guidance needs the generator's guide; a 2D resolution must be one the generator makes."""
    if classifier_guidance and not info.get("guide"):
        raise ApiError("invalid_parameter", f"{info['name']} has no guide classifier, so classifier_guidance must be "
                       "0 or left out; GET /models shows which generators have one")
    if resolution is not None and info.get("kind") != "generator3d":
        sizes = info.get("resolutions") or [info.get("resolution")]
        if resolution not in sizes:
            raise ApiError("invalid_parameter", f"{info['name']} makes {' or '.join(map(str, sizes))}-px images; "
                           f"resolution={resolution} is not one of them")


def check_superres(params: GenerateParams, info: dict) -> None:
    """superres_start and superres_steps tune the super-resolution stage: refuse them where none runs."""
    given = [k for k in ("superres_start", "superres_steps") if getattr(params, k) is not None]
    if not given:
        return
    sizes = info.get("resolutions") or [info.get("resolution")]
    if info.get("kind") == "generator3d" or len(sizes) < 2:
        raise ApiError("invalid_parameter", f"{info['name']} has no super-resolution stage, so leave out "
                       f"{' and '.join(given)}")
    if params.resolution is not None and params.resolution != max(sizes):
        raise ApiError("invalid_parameter", f"{' and '.join(given)} tune the super-resolution stage, which runs "
                       f"only at resolution={max(sizes)}; got resolution={params.resolution}")


def check_output_kind(params: GenerateParams, info: dict) -> None:
    """Images and volumes take different formats and options: refuse what the model cannot give, saying why."""
    check_guide_and_size(info, params.classifier_guidance, params.resolution)
    check_superres(params, info)
    volume = info.get("kind") == "generator3d"
    try:
        params.format = resolve_formats(params.format, "volume" if volume else "image")
    except ValueError as exc:
        what = "makes volumes (every volume also comes with mid-slice PNGs and a slice-sweep GIF)" if volume \
            else "makes 2D images"
        raise ApiError("invalid_parameter", f"{info['name']} {what}: {exc}") from exc
    if not volume:
        return
    if "+" in params.finding:
        raise ApiError("invalid_parameter", f"{info['name']} generates one finding per volume; got {params.finding}")
    if params.gif:
        raise ApiError("invalid_parameter", "gif (a denoising GIF) is for 2D models; every volume comes with a "
                       "slice-sweep GIF")
    if params.guidance_interval is not None:
        raise ApiError("invalid_parameter", f"{info['name']} guides every step of a volume; leave out "
                       "guidance_interval (it is for 2D models)")
    if params.n > MAX_VOLUMES:
        raise ApiError("invalid_parameter", f"n must be at most {MAX_VOLUMES} for volume models (got {params.n})")
    params.qc = False  # per-image label agreement and copy checks are 2D; the model card measures volumes
