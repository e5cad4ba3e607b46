"""Find models by name: the bundled ones in models/pretrained, folders listed in RADSYNTH_MODEL_DIRS, and models
trained by the service.

Models have owners like jobs: a trained model's radsynth.json records its `owner` (and `model_name`, the name its
owner gave it), and an owner sees the bundled and operator models, their own, and those another owner marked
`shared`. Bundled and operator folders are searched first, so no trained model can ever take their names.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

BUNDLED_DIR = Path(__file__).resolve().parent / "pretrained"
DEFAULT_GENERATOR = "nih-cxr14"
DEFAULT_CLASSIFIER = "nih-cxr14-256-classifier"


def service_kinds(kind: str) -> str | tuple[str, ...]:
    """The model kinds a service lookup of `kind` accepts: "generator" means any generator, 2D or 3D."""
    from models.vocabulary.model_kinds import generator_kinds

    return {"generator": generator_kinds()}.get(kind, kind)


class UnknownModelError(ValueError):
    def __init__(self, name: str, valid: list[str]):
        self.name, self.valid = name, valid
        super().__init__(f"unknown model {name!r}; available models: {', '.join(valid) or '(none)'}")


def search_dirs(extra: list[Path] | None = None) -> list[Path]:
    """Bundled models first, then RADSYNTH_MODEL_DIRS, then `extra` (the service's operator and trained folders)."""
    dirs = [BUNDLED_DIR]
    for part in os.environ.get("RADSYNTH_MODEL_DIRS", "").split(os.pathsep):
        if part:
            dirs.append(Path(part))
    return dirs + [d for d in (extra or []) if d not in dirs]


def owned_folder_name(owner: str, name: str) -> str:
    """The folder of `owner`'s model `name` among trained models: two owners may both have a model `name`."""
    return f"u{hashlib.sha1(owner.encode()).hexdigest()[:12]}--{name}"


def visible_to(info: dict, owner: str | None) -> bool:
    """Bundled and operator models (no owner) are everyone's; a trained one is its owner's unless shared."""
    return owner is None or info.get("owner") in (None, owner) or bool(info.get("shared"))


def describe(folder: Path) -> dict | None:
    """The model's radsynth.json (kind, findings, resolution, ...) or None if not a model folder."""
    meta = folder / "radsynth.json"
    if not meta.is_file():
        return None
    try:
        info = json.loads(meta.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    out = {"name": str(info.get("model_name") or folder.name), "path": str(folder)} | {
        k: info[k] for k in ("kind", "findings", "resolution", "dataset", "steps", "wall_time_s", "hardware",
                             "metrics", "created", "guide", "default_classifier_scale", "default_guidance", "owner",
                             "shared",
                             "resolutions", "superres", "noise_check", "default_guidance_interval")
        if k in info}
    if "metrics" not in out and isinstance(info.get("test_auroc"), dict):  # a classifier measured on its test split
        out["metrics"] = test_auroc_metrics(info["test_auroc"])
    return out


def test_auroc_metrics(test_auroc: dict) -> dict:
    """A classifier's test AUROC per finding (and their mean) as the models list shows metrics."""
    values = {k: float(v) for k, v in test_auroc.items() if v is not None and v == v}
    mean = {"test_auroc_mean": sum(values.values()) / len(values)} if values else {}
    return mean | {f"test_auroc_{k}": v for k, v in values.items()}


def list_models(extra: list[Path] | None = None, kind: str | tuple[str, ...] | None = None,
                owner: str | None = None) -> list[dict]:
    """Models found in the search folders, optionally of one kind or several and as `owner` sees them (None: all).

    By name, the first folder wins, except that an owner's own model wins over another owner's shared one."""
    kinds = (kind,) if isinstance(kind, str) else kind
    seen: dict[str, dict] = {}
    for d in search_dirs(extra):
        if not d.is_dir():
            continue
        for folder in sorted(d.iterdir()):
            info = describe(folder) if folder.is_dir() and not folder.name.startswith(".") else None
            if not info or (kinds is not None and info.get("kind") not in kinds) or not visible_to(info, owner):
                continue
            previous = seen.get(info["name"])
            if previous is None or (owner is not None and info.get("owner") == owner
                                    and previous.get("owner") not in (None, owner)):
                seen[info["name"]] = info
    return list(seen.values())


def resolve_model(name_or_path: str | Path, kind: str | tuple[str, ...] | None = None,
                  extra: list[Path] | None = None, owner: str | None = None) -> Path:
    """A model folder from a name (searched in order, as `owner` sees them) or, without an owner (the command
    line), an explicit folder path."""
    path = Path(name_or_path)
    if owner is None and path.is_dir() and describe(path):
        return path
    for info in list_models(extra, kind, owner):
        if info["name"] == str(name_or_path):
            return Path(info["path"])
    raise UnknownModelError(str(name_or_path), [m["name"] for m in list_models(extra, kind, owner)])
