"""Model lookups for request validation (reads radsynth.json files only; no torch)."""

from __future__ import annotations

from app.errors import ApiError
from models.catalog import GENERATOR_KINDS, list_models, service_kinds
from models.findings import UnknownFindingError, resolve
from worker.settings import Settings
from worker.stores import open_store


def sync_models(settings: Settings, *, force: bool = False) -> list[str]:
    """Bring models trained on other hosts from the shared store (nothing to do for the local store)."""
    return open_store(settings).sync_models(settings.trained_models_dir, force=force)


def find_model(settings: Settings, name: str, kind: str | tuple[str, ...] | None = None) -> dict:
    """A model's info by name (never a path: names come from clients). One this host lacks is first fetched from
    the shared store; an unknown name is a 422 listing the available ones."""
    def lookup() -> dict | None:
        return next((m for m in list_models(settings.model_search_dirs(), kind=kind) if m["name"] == name), None)

    info = lookup()
    if info is None and sync_models(settings, force=True):
        info = lookup()
    if info is None:
        names = [m["name"] for m in list_models(settings.model_search_dirs(), kind=kind)]
        what = kind if isinstance(kind, str) else "generator" if kind == GENERATOR_KINDS else "model"
        raise ApiError("unknown_model", f"unknown {what} {name!r}; available: "
                       f"{', '.join(names) or '(none)'}")
    return info


def model_info(settings: Settings, name: str | None, kind: str) -> dict:
    """The named model of this kind ("generator" also finds 3D volume generators), or the configured default."""
    default = settings.default_generator if kind == "generator" else settings.default_classifier
    return find_model(settings, name or default, service_kinds(kind))


def canonical_findings(info: dict, names: str | list[str]) -> list[str]:
    try:
        return resolve(names, info["findings"])
    except UnknownFindingError as exc:
        raise ApiError("unknown_finding", f"{exc} (model {info['name']})") from exc

