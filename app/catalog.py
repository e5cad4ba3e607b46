"""Model lookups for request validation (reads radsynth.json files only; no torch)."""

from __future__ import annotations

from app.errors import ApiError
from models.catalog import list_models, resolve_model
from models.findings import UnknownFindingError, resolve
from worker.settings import Settings
from worker.stores import open_store


def sync_models(settings: Settings, *, force: bool = False) -> list[str]:
    """Bring models trained on other hosts from the shared store (nothing to do for the local store)."""
    return open_store(settings).sync_models(settings.trained_models_dir, force=force)


def model_info(settings: Settings, name: str | None, kind: str) -> dict:
    default = settings.default_generator if kind == "generator" else settings.default_classifier
    wanted = name or default
    for attempt in range(2):
        for info in list_models(settings.model_search_dirs(), kind=kind):
            if info["name"] == wanted:
                return info
        if attempt == 0 and not sync_models(settings, force=True):
            break
    names = [m["name"] for m in list_models(settings.model_search_dirs(), kind=kind)]
    raise ApiError("unknown_model", f"unknown {kind} {wanted!r}; available: {', '.join(names) or '(none)'}")


def canonical_findings(info: dict, names: str | list[str]) -> list[str]:
    try:
        return resolve(names, info["findings"])
    except UnknownFindingError as exc:
        raise ApiError("unknown_finding", f"{exc} (model {info['name']})") from exc


def any_model(settings: Settings, name: str) -> dict:
    try:
        folder = resolve_model(name, extra=settings.model_search_dirs())
    except ValueError as exc:
        if not sync_models(settings, force=True):
            raise ApiError("unknown_model", str(exc)) from exc
        folder = resolve_model(name, extra=settings.model_search_dirs())
    for info in list_models(settings.model_search_dirs()):
        if info["path"] == str(folder):
            return info
    raise ApiError("unknown_model", f"unknown model {name!r}")
