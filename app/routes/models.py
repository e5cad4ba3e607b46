"""GET /models and GET /findings: what can be generated and explained."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse

from app.catalog import find_model, model_info, sync_models
from app.deps import OwnerDep, SettingsDep
from app.errors import ApiError
from app.schemas import ErrorBody, FindingsOut, ModelInfo
from models.catalog import list_models

router = APIRouter(tags=["models"])


@router.get("/models", response_model=list[ModelInfo], operation_id="list_models")
def models(owner: OwnerDep, settings: SettingsDep) -> list[ModelInfo]:
    """Bundled and trained models, with the findings each knows."""
    defaults = {settings.default_generator, settings.default_classifier}
    sync_models(settings)
    out = []
    for info in list_models(settings.model_search_dirs()):
        details = {k: v for k, v in info.items() if k not in ("name", "kind", "findings", "resolution", "dataset",
                                                              "path")}
        out.append(ModelInfo(name=info["name"], kind=info.get("kind", "unknown"), findings=info.get("findings", []),
                             resolution=info.get("resolution"), dataset=str(info.get("dataset") or "") or None,
                             default=info["name"] in defaults, details=details))
    return out


@router.get("/models/{name}/samples.png", operation_id="model_samples",
            responses={404: {"model": ErrorBody}, 200: {"content": {"image/png": {}}}})
def model_samples(name: str, owner: OwnerDep, settings: SettingsDep) -> FileResponse:
    """The sample grid a generator saved at the end of its training (one row per finding)."""
    try:
        path = Path(find_model(settings, name)["path"]) / "samples.png"
    except ApiError:
        path = None
    if path is None or not path.is_file():
        raise ApiError("not_found", f"model {name!r} has no sample grid")
    return FileResponse(path, media_type="image/png")


@router.get("/findings", response_model=FindingsOut, operation_id="list_findings",
            responses={422: {"model": ErrorBody}})
def findings(owner: OwnerDep, settings: SettingsDep,
             model: Annotated[str | None, Query(description="model name; default: the bundled generator")] = None
             ) -> FindingsOut:
    """The finding names a model accepts (matched case-insensitively, ignoring '_' and spaces)."""
    info = find_model(settings, model) if model else model_info(settings, None, "generator")
    return FindingsOut(model=info["name"], findings=info.get("findings", []))
