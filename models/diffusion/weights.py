"""Saving a model's weights without touching the live model."""

from __future__ import annotations

from pathlib import Path

from diffusers.models.modeling_utils import ModelMixin


def save_copy(model: ModelMixin, folder: Path, half: bool) -> None:
    """save_pretrained a copy of `model` (float16 if `half`), leaving the live model's dtype alone."""
    copy = type(model).from_config(model.config)
    copy.load_state_dict(model.state_dict())
    (copy.half() if half else copy).save_pretrained(folder, safe_serialization=True)
