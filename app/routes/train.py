"""POST /train: queue training of a generator or classifier on a registered data set."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter

from app.catalog import sync_models
from app.deps import IDEMPOTENCY_HEADER, OwnerDep, SettingsDep, StoreDep
from app.errors import ApiError
from app.schemas import JOB_ACCEPTED, ErrorBody, JobOut
from app.submit import submit
from core import datasets
from core.contracts import MAX_UNET_LEVELS, TrainParams
from core.settings import VOLUME_FORMATS
from models.catalog import list_models
from models.data.formats import label_vocabulary
from models.vocabulary.findings import UnknownFindingError, resolve
from models.vocabulary.model_kinds import model_kind

router = APIRouter(tags=["train"])
ERRORS = {s: {"model": ErrorBody} for s in (401, 409, 422, 429, 503)}


@router.post("/train", status_code=202, response_model=JobOut, operation_id="train",
             responses=ERRORS | JOB_ACCEPTED)
def train(params: TrainParams, owner: OwnerDep, settings: SettingsDep, store: StoreDep,
          idempotency_key: Annotated[str | None, IDEMPOTENCY_HEADER] = None) -> JobOut:
    """Queue training; on success the model appears in GET /models under `name`. An augmentation_study installs
    no model: its job returns AUROC per finding and arm with CIs, verdicts, study.png and study.json."""
    roots = datasets.visible(settings, owner)
    if params.dataset not in roots:
        raise ApiError("unknown_dataset", f"unknown dataset {params.dataset!r}; the ones you can use (GET /datasets): "
                       f"{', '.join(roots)}")
    entry = roots[params.dataset]
    check_dimensions(params, params.dataset, entry.format)
    vocabulary = dataset_vocabulary(entry.path, entry.format)
    if params.findings and vocabulary:
        try:
            params.findings = resolve(params.findings, vocabulary)
        except UnknownFindingError as exc:
            raise ApiError("unknown_finding", f"{exc} (dataset {params.dataset})") from exc
    if not model_kind(params.kind).installs_model:  # a study: real and synthetic data sets, no model name
        synthetic = roots.get(params.synthetic or "")
        if synthetic is None:
            raise ApiError("unknown_dataset", f"unknown synthetic data set {params.synthetic!r}; make one with POST "
                           "/synthesize (GET /datasets lists yours)")
        if entry.format in VOLUME_FORMATS or synthetic.format in VOLUME_FORMATS:
            raise ApiError("invalid_parameter", "augmentation studies are for 2D image data sets")
        return submit(store, settings, "train", owner, params.model_dump(mode="json"), idempotency_key)
    sync_models(settings, force=True)
    if not (idempotency_key and store.job_of_key(owner, idempotency_key)):  # a retry gets its first job back
        check_name_free(settings, params.name, owner)
    if params.channels and (len(params.channels) < 2 or any(c < 4 or c > 512 or c % 4 for c in params.channels)):
        raise ApiError("invalid_parameter", f"channels: 2 to {MAX_UNET_LEVELS} widths, each a multiple of 4 between "
                       "4 and 512")
    return submit(store, settings, "train", owner, params.model_dump(mode="json"), idempotency_key)


def check_name_free(settings, name: str, owner: str) -> None:
    """A bundled or operator model's name can never be taken, and an owner's names are their own."""
    for info in list_models(settings.model_search_dirs(), owner=owner):
        if info["name"] != name:
            continue
        if not info.get("owner"):
            raise ApiError("model_exists", f"{name!r} is the name of a model the service provides; choose another")
        if info["owner"] == owner:
            raise ApiError("model_exists", f"you already have a model named {name!r}; choose another name")


def check_dimensions(params: TrainParams, dataset: str, fmt: str | None) -> None:
    """A kind trains only on the data it is declared for (2D images or volumes), at sizes its network takes."""
    try:
        params.check_dataset(dataset, "volume" if fmt in VOLUME_FORMATS else "image")
    except ValueError as exc:
        raise ApiError("invalid_parameter", str(exc)) from exc


def dataset_vocabulary(path: Path, fmt: str | None) -> list[str] | None:
    """The data set's finding names, from its labels only; None when it cannot be read here (the worker
    then reports the problem in the job's error)."""
    try:
        return label_vocabulary(path, fmt)  # type: ignore[arg-type]
    except (OSError, ValueError, KeyError):
        return None

