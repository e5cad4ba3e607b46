"""GET /models and GET /findings: what can be generated and explained."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse

from app.catalog import find_model, model_info, sync_models
from app.deps import OwnerDep, SettingsDep
from app.errors import ApiError
from app.schemas import ErrorBody, FindingsOut, ModelChange, ModelInfo
from core.contracts import GenerateParams
from core.settings import Settings
from models.catalog import list_models
from models.vocabulary.model_kinds import KINDS
from models.vocabulary.sampler_defaults import SAMPLER_NAMES, model_guidance, request_steps, scaled_superres_steps

router = APIRouter(tags=["models"])


@router.get("/models", response_model=list[ModelInfo], operation_id="list_models")
def models(owner: OwnerDep, settings: SettingsDep) -> list[ModelInfo]:
    """The bundled models, your own trained ones and those other owners shared, with the findings each knows."""
    defaults = {settings.default_generator, settings.default_classifier}
    sync_models(settings)
    return [model_out(info, settings, owner, defaults) for info in list_models(settings.model_search_dirs(),
                                                                                 owner=owner)]


def model_out(info: dict, settings: Settings, owner: str, defaults: set[str]) -> ModelInfo:
    details = {k: v for k, v in info.items() if k not in ("name", "kind", "findings", "resolution", "dataset",
                                                          "path", "owner", "shared")}
    kind = KINDS.get(info.get("kind", ""))
    return ModelInfo(name=info["name"], kind=info.get("kind", "unknown"), makes=kind.makes if kind else None,
                     findings=info.get("findings", []),
                     resolution=output_resolution(info), dataset=str(info.get("dataset") or "") or None,
                     default=info["name"] in defaults, details=details,
                     generate_defaults=generate_defaults(info, settings),
                     origin="bundled" if not info.get("owner") else "yours" if info["owner"] == owner else "shared",
                     shared=bool(info.get("shared")))


@router.patch("/models/{name}", response_model=ModelInfo, operation_id="update_model",
              responses={404: {"model": ErrorBody}, 422: {"model": ErrorBody}})
def update_model(name: str, change: ModelChange, owner: OwnerDep, settings: SettingsDep) -> ModelInfo:
    """Share one of your trained models with every other user of the service (or stop sharing it)."""
    info = next((m for m in list_models(settings.model_search_dirs(), owner=owner)
                 if m["name"] == name and m.get("owner") == owner), None)
    if info is None:
        raise ApiError("not_found", f"you have no trained model {name!r}; only a model's owner can share it")
    meta_path = Path(info["path"]) / "radsynth.json"
    meta = json.loads(meta_path.read_text()) | {"shared": change.shared}
    tmp = meta_path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(meta, indent=2, default=str))
    tmp.replace(meta_path)
    return model_out(info | {"shared": change.shared}, settings, owner,
                     {settings.default_generator, settings.default_classifier})


def output_resolution(info: dict) -> int | None:
    """The largest image side a model delivers (its super-resolution stage's, when it has one)."""
    return max(info.get("resolutions") or [info.get("resolution") or 0]) or None


def generate_defaults(info: dict, settings: Settings) -> dict | None:
    """The values a POST /generate for this model takes when the request leaves them out (the page shows them)."""
    kind = KINDS.get(info.get("kind", ""))
    if kind is None or not kind.is_generator:
        return None
    fields = GenerateParams.model_fields
    volume = kind.makes == "volume"
    per_sampler = {name: request_steps(name, None, settings.generate_default_steps, volume=volume)
                   for name in SAMPLER_NAMES}
    sampler = fields["sampler"].default
    return {"n": fields["n"].default, "sampler": sampler, "steps": per_sampler[sampler],
            "steps_per_sampler": per_sampler, "guidance": model_guidance(info),
            "classifier_guidance": float(info.get("default_classifier_scale", 0.0)) if info.get("guide") else 0.0,
            "format": list(kind.default_formats), "formats": list(kind.formats), "gif": fields["gif"].default,
            "resolution": output_resolution(info), **superres_defaults(info),
            "qc": fields["qc"].default and kind.qc,
            **({"guidance_interval": info["default_guidance_interval"]} if info.get("default_guidance_interval")
               else {}),
            **({"guidance_rescale": info["default_guidance_rescale"]} if info.get("default_guidance_rescale")
               else {})}


def superres_defaults(info: dict) -> dict:
    """Where a generator's super-resolution stage starts and how many steps it takes by default (none: {})."""
    sr = info.get("superres")
    if not sr or sr.get("one_pass") or len(info.get("resolutions") or []) < 2:
        return {}
    start = float(sr.get("default_start", 1.0))
    steps = sr.get("default_steps")
    return {"superres_start": start, "superres_steps": scaled_superres_steps(steps, start) if steps else None}


@router.get("/models/{name}/samples.png", operation_id="model_samples",
            responses={404: {"model": ErrorBody}, 200: {"content": {"image/png": {}}}})
def model_samples(name: str, owner: OwnerDep, settings: SettingsDep) -> FileResponse:
    """The sample grid a generator saved at the end of its training (one row per finding)."""
    try:
        path = Path(find_model(settings, name, owner=owner)["path"]) / "samples.png"
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
    info = find_model(settings, model, owner=owner) if model else model_info(settings, None, "generator", owner=owner)
    return FindingsOut(model=info["name"], findings=info.get("findings", []))
