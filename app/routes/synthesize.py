"""POST /synthesize: queue a labelled synthetic data set (NIH layout with provenance) made by a generator,
registered as the owner's data set when it ends."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter

from app.catalog import canonical_findings, model_info
from app.deps import IDEMPOTENCY_HEADER, OwnerDep, SettingsDep, StoreDep
from app.errors import ApiError
from app.routes.datasets import check_name
from app.schemas import JOB_ACCEPTED, ErrorBody, JobOut
from app.submit import submit
from core import datasets
from core.contracts import SynthesizeParams, check_guide_and_size
from models.data.formats import finding_counts
from models.vocabulary.findings import UnknownFindingError, resolve
from models.vocabulary.model_kinds import makes_volumes
from models.vocabulary.sampler_defaults import model_guidance, request_steps

router = APIRouter(tags=["datasets"])
ERRORS = {s: {"model": ErrorBody} for s in (401, 409, 422, 429, 503)}


@router.post("/synthesize", status_code=202, response_model=JobOut, operation_id="synthesize",
             responses=ERRORS | JOB_ACCEPTED)
def synthesize(params: SynthesizeParams, owner: OwnerDep, settings: SettingsDep, store: StoreDep,
               idempotency_key: Annotated[str | None, IDEMPOTENCY_HEADER] = None) -> JobOut:
    """Queue a synthetic data set: `per_finding` images of each finding (or enough to bring `dataset` up to
    `balance_to` per finding), each checked by QC and redrawn on a new seed when rejected. The job writes
    `images/` and `Data_Entry_2017.csv` (a Synthetic column, per-row provenance and QC scores); the data set then
    appears in GET /datasets, trains with POST /train and downloads from GET /datasets/{name}/archive."""
    info = model_info(settings, params.model, "generator", owner=owner)
    if makes_volumes(info):
        raise ApiError("invalid_parameter", f"{info['name']} makes volumes; synthetic data sets are 2D (NIH layout)")
    params.model = info["name"]
    if params.balance_to is not None:  # the job records the counts it was resolved to
        params.per_finding, params.balance_to = balance(settings, owner, params, info["findings"]), None
    params.per_finding = {"+".join(canonical_findings(info, name)): n for name, n in params.per_finding.items()}
    total = sum(params.per_finding.values())
    if total > settings.max_synthesize_images:
        raise ApiError("invalid_parameter", f"{total} images asked; one job makes at most "
                       f"{settings.max_synthesize_images} (RADSYNTH_MAX_SYNTHESIZE_IMAGES)")
    try:
        check_guide_and_size(info, params.classifier_guidance, params.resolution)
    except ValueError as exc:
        raise ApiError("invalid_parameter", str(exc)) from exc
    if not (idempotency_key and store.job_of_key(owner, idempotency_key)):
        check_name(settings, owner, params.name)
    if params.seed is None:
        params.seed = secrets.randbelow(2**31 - 10_000_000)
    params.steps = request_steps(params.sampler, params.steps, settings.generate_default_steps, volume=False)
    if params.guidance is None:
        params.guidance = model_guidance(info)
    return submit(store, settings, "synthesize", owner, params.model_dump(mode="json"), idempotency_key)


def balance(settings, owner: str, params: SynthesizeParams, vocabulary: list[str]) -> dict[str, int]:
    """Per finding of the model that `dataset` has: what brings its count up to `balance_to` (none if above)."""
    entry = datasets.visible(settings, owner).get(params.dataset or "")
    if entry is None:
        raise ApiError("unknown_dataset", f"unknown dataset {params.dataset!r}; GET /datasets lists yours")
    counts = (entry.manifest or {}).get("per_finding") or finding_counts(entry.path, entry.format)  # type: ignore[arg-type]
    wanted: dict[str, int] = {}
    for name, have in counts.items():
        try:
            model_name = resolve([name], vocabulary)[0]
        except UnknownFindingError:
            continue
        if params.balance_to > have:
            wanted[model_name] = params.balance_to - have
    if not wanted:
        raise ApiError("invalid_parameter", f"every finding the model makes already has {params.balance_to} or more "
                       f"images in {params.dataset}; nothing to synthesize")
    return wanted
