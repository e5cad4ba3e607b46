"""Data sets as the service sees them: the built-in and operator ones from settings (everyone's), and each
owner's uploaded ones under RADSYNTH_DATA_DIR/datasets (nobody else's). Reads manifests only; torch-free."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from core.settings import Settings
from models.data.paths import OutsideDataset, inside

NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{1,62}$"
MANIFEST = "dataset.json"  # written by models/data/ingest.py


@dataclass
class DatasetEntry:
    name: str
    path: Path  # the data root a loader opens
    format: str | None
    owner: str | None  # None: built in or registered by the operator
    manifest: dict | None = None


def owner_prefix(owner: str) -> str:
    return f"u{hashlib.sha1(owner.encode()).hexdigest()[:12]}--"


def owned_folder(settings: Settings, owner: str, name: str) -> Path:
    if not re.match(NAME_PATTERN, name):
        raise ValueError(f"data set names are 2-63 lower-case letters, digits, '.', '_' or '-' (got {name!r})")
    return settings.datasets_dir / f"{owner_prefix(owner)}{name}"


def read_manifest(folder: Path) -> dict | None:
    try:
        return json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        return None


def builtin(settings: Settings) -> dict[str, DatasetEntry]:
    return {name: DatasetEntry(name, path, fmt, None) for name, (path, fmt) in settings.dataset_roots().items()}


def owned(settings: Settings, owner: str) -> dict[str, DatasetEntry]:
    """The owner's ingested data sets (complete ones only: an ingest in progress has no manifest yet)."""
    prefix = owner_prefix(owner)
    out: dict[str, DatasetEntry] = {}
    if not settings.datasets_dir.is_dir():
        return out
    for folder in sorted(settings.datasets_dir.glob(f"{prefix}*")):
        manifest = read_manifest(folder)
        if manifest is None:
            continue
        name = folder.name[len(prefix):]
        try:  # the manifest is the service's own, but a data root outside the owner's folder is never opened
            inside(folder, str(manifest["root"]), where=f"data set {name}")
        except (OutsideDataset, KeyError):
            continue
        out[name] = DatasetEntry(name, folder / manifest["root"], manifest["format"], owner, manifest)
    return out


def visible(settings: Settings, owner: str) -> dict[str, DatasetEntry]:
    """What `owner` may train on: the built-in ones, then their own (built-in names cannot be taken)."""
    return owned(settings, owner) | builtin(settings)


def delete(settings: Settings, owner: str, name: str) -> bool:
    folder = owned_folder(settings, owner, name)
    if not (folder / MANIFEST).exists():
        return False
    trash = folder.with_name(f".{folder.name}.deleting")
    folder.rename(trash)  # gone from listings at once; the files follow
    shutil.rmtree(trash, ignore_errors=True)
    return True
