"""Model lookups for request validation (reads radsynth.json files only; no torch)."""

from __future__ import annotations

from app.errors import ApiError
from core.settings import Settings
from core.stores import open_store
from models.catalog import list_models, service_kinds
from models.vocabulary.findings import UnknownFindingError, resolve


def sync_models(settings: Settings, *, force: bool = False) -> list[str]:
    """Bring models trained on other hosts from the shared store (nothing to do for the local store)."""
    return open_store(settings).sync_models(settings.trained_models_dir, force=force)


def find_model(settings: Settings, name: str, kind: str | tuple[str, ...] | None = None, *, owner: str) -> dict:
    """A model's info by name as `owner` sees it (never a path: names come from clients). One this host lacks is
    first fetched from the shared store; an unknown name is a 422 listing the ones this owner may use."""
    def lookup() -> dict | None:
        return next((m for m in list_models(settings.model_search_dirs(), kind=kind, owner=owner)
                     if m["name"] == name), None)

    info = lookup()
    if info is None and sync_models(settings, force=True):
        info = lookup()
    if info is None:
        names = [m["name"] for m in list_models(settings.model_search_dirs(), kind=kind, owner=owner)]
        what = kind if isinstance(kind, str) else "generator"  # a tuple: every generator kind
        raise ApiError("unknown_model", f"unknown {what} {name!r}; available: "
                       f"{', '.join(names) or '(none)'}")
    return info


def model_info(settings: Settings, name: str | None, kind: str, *, owner: str) -> dict:
    """The named model of this kind ("generator" also finds 3D volume generators), or the configured default."""
    return find_model(settings, name or settings.default_model(kind), service_kinds(kind), owner=owner)


def canonical_findings(info: dict, names: str | list[str]) -> list[str]:
    """The model's own spelling of the asked findings; a 422 that suggests the spelling that works."""
    try:
        return resolve(names, info["findings"])
    except UnknownFindingError as exc:
        hint = plus_as_space_hint(exc.name, info["findings"])
        raise ApiError("unknown_finding", f"{exc} (model {info['name']}){hint}") from exc


def plus_as_space_hint(name: str, vocabulary: list[str]) -> str:
    """A '+' in a URL query arrives as a space: when every space-separated word is a finding, say how to ask."""
    words = name.split()
    if len(words) < 2:
        return ""
    try:
        found = resolve(words, vocabulary)
    except UnknownFindingError:
        return ""
    joined = ",".join(f.lower() for f in found)
    return (f". A '+' in a URL arrives as a space: join findings with commas (finding={joined}), repeat the "
            f"parameter (finding={found[0].lower()}&finding=...), or send '+' encoded as %2B")

