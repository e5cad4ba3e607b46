"""Which weights a measurement was made on: SHA-256 of every weights file, so a test can tell a card from stale
weights."""

from __future__ import annotations

import hashlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def weight_hashes(*folders: Path) -> dict[str, str]:
    """SHA-256 of every weights file in `folders` (path, relative to the repository when inside it -> hex digest).
    The 2D card hashes the bundled 2D models; the 3D section (scripts/volume_card.py) its own model."""
    paths = sorted(p for folder in folders for p in Path(folder).resolve().rglob("*.safetensors"))
    return {str(p.relative_to(ROOT) if p.is_relative_to(ROOT) else p): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in paths}


def folder_digest(folder: Path) -> str:
    """One SHA-256 over the weights files of `folder` (their names relative to it and their bytes): the same
    weights give the same digest wherever the folder lives."""
    digest = hashlib.sha256()
    paths = sorted(Path(folder).rglob("*.safetensors"))
    if not paths:
        raise FileNotFoundError(f"no weights (*.safetensors) under {folder}")
    for p in paths:
        digest.update(str(p.relative_to(folder)).encode() + b"\0" + hashlib.sha256(p.read_bytes()).digest())
    return digest.hexdigest()
