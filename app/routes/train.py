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
from models.findings import UnknownFindingError, resolve

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
    if params.kind == "augmentation_study":
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
    """2D models train on image data sets and 3D generators on volume data sets, at sizes their UNets take."""
    volumes = fmt in VOLUME_FORMATS
    if params.kind == "generator3d" and not volumes:
        raise ApiError("invalid_parameter", f"dataset {dataset!r} holds 2D images; a generator3d trains on a 3D "
                       "dataset (format medmnist3d or volumes), e.g. adrenal3d-demo")
    if params.kind != "generator3d" and volumes:
        raise ApiError("invalid_parameter", f"dataset {dataset!r} holds volumes; train kind generator3d on it")
    if volumes and (params.resolution > 64 or params.resolution % 8):
        raise ApiError("invalid_parameter", f"resolution for a 3D generator: a multiple of 8 from 16 to 64 voxels "
                       f"per side (got {params.resolution})")
    if volumes and params.channels and (not 2 <= len(params.channels) <= 4
                                        or any(c % 8 or c > 128 for c in params.channels)):
        raise ApiError("invalid_parameter", "channels for a 3D generator: 2 to 4 widths, each a multiple of 8 up "
                       "to 128, e.g. [16, 32, 64]")
    if params.latent and params.kind != "generator3d":
        raise ApiError("invalid_parameter", "latent is for kind generator3d (latent diffusion of volumes)")
    if params.latent and params.resolution % 16:
        raise ApiError("invalid_parameter", f"a latent 3D generator needs a resolution that is a multiple of 16 "
                       f"(the autoencoder compresses 4x; got {params.resolution})")
    if volumes and params.findings:
        raise ApiError("invalid_parameter", "findings cannot be restricted for 3D data sets; leave it out")


def dataset_vocabulary(path: Path, fmt: str | None) -> list[str] | None:
    """The data set's finding names, from its labels only; None when it cannot be read here (the worker
    then reports the problem in the job's error)."""
    try:
        return label_vocabulary(path, fmt)  # type: ignore[arg-type]
    except (OSError, ValueError, KeyError):
        return None

