"""Find models by name: the bundled ones in models/pretrained, plus folders listed in RADSYNTH_MODEL_DIRS."""

from __future__ import annotations

import json
import os
from pathlib import Path

BUNDLED_DIR = Path(__file__).resolve().parent / "pretrained"
DEFAULT_GENERATOR = "nih-cxr14-64"
DEFAULT_CLASSIFIER = "nih-cxr14-64-classifier"
GENERATOR_KINDS = ("generator", "generator3d")  # 2D images and 3D volumes; both answer POST /generate


def service_kinds(kind: str) -> str | tuple[str, ...]:
    """The model kinds a service lookup of `kind` accepts: "generator" means any generator, 2D or 3D."""
    return GENERATOR_KINDS if kind == "generator" else kind


class UnknownModelError(ValueError):
    def __init__(self, name: str, valid: list[str]):
        self.name, self.valid = name, valid
        super().__init__(f"unknown model {name!r}; available models: {', '.join(valid) or '(none)'}")


def search_dirs(extra: list[Path] | None = None) -> list[Path]:
    dirs = list(extra or [])
    for part in os.environ.get("RADSYNTH_MODEL_DIRS", "").split(os.pathsep):
        if part:
            dirs.append(Path(part))
    dirs.append(BUNDLED_DIR)
    return dirs


def describe(folder: Path) -> dict | None:
    """The model's radsynth.json (kind, findings, resolution, ...) or None if not a model folder."""
    meta = folder / "radsynth.json"
    if not meta.is_file():
        return None
    try:
        info = json.loads(meta.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return {"name": folder.name, "path": str(folder)} | {
        k: info[k] for k in ("kind", "findings", "resolution", "dataset", "steps", "wall_time_s", "hardware",
                             "metrics", "created", "guide", "default_classifier_scale") if k in info}


def list_models(extra: list[Path] | None = None, kind: str | tuple[str, ...] | None = None) -> list[dict]:
    """Models found in the search folders (first wins by name), optionally of one kind or several."""
    kinds = (kind,) if isinstance(kind, str) else kind
    seen: dict[str, dict] = {}
    for d in search_dirs(extra):
        if not d.is_dir():
            continue
        for folder in sorted(d.iterdir()):
            info = describe(folder) if folder.is_dir() else None
            if info and folder.name not in seen and (kinds is None or info.get("kind") in kinds):
                seen[folder.name] = info
    return list(seen.values())


def resolve_model(name_or_path: str | Path, kind: str | tuple[str, ...] | None = None,
                  extra: list[Path] | None = None) -> Path:
    """A model folder from a name (searched in order) or an explicit folder path."""
    path = Path(name_or_path)
    if path.is_dir() and describe(path):
        return path
    for info in list_models(extra, kind):
        if info["name"] == str(name_or_path):
            return Path(info["path"])
    raise UnknownModelError(str(name_or_path), [m["name"] for m in list_models(extra, kind)])
