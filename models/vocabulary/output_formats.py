"""Output formats of generated scans, declared once (torch-free): what each model shape writes, the default, and
the `both` alias older clients send. Every allowed-value list (API, CLI, page) derives from here."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

OutputFormat = Literal["png", "dicom", "nifti"]
OUTPUT_FORMATS: tuple[str, ...] = OutputFormat.__args__
Shape = Literal["image", "volume"]
# What each model shape can write, and what a request that names nothing gets.
FORMATS_OF: dict[str, tuple[str, ...]] = {"image": ("png", "dicom"), "volume": ("nifti", "dicom")}
DEFAULT_FORMATS: dict[str, tuple[str, ...]] = {"image": ("png", "dicom"), "volume": ("nifti",)}
# `both` (kept so existing clients work): every format the shape has: PNG + DICOM for images, NIfTI + a DICOM
# series for volumes.
ALIASES = ("both",)


def split_formats(value: str | Sequence[str] | None) -> list[str] | None:
    """'png,dicom', ['png', 'dicom'] or ['png,dicom'] -> ['png', 'dicom'] (lower case, order kept, no repeats)."""
    if value is None:
        return None
    items = [value] if isinstance(value, str) else list(value)
    names = [part.strip().lower() for item in items for part in str(item).split(",") if part.strip()]
    return list(dict.fromkeys(names))


def resolve_formats(value: str | Sequence[str] | None, shape: Shape) -> list[str]:
    """The concrete formats a request asks of a model of `shape`; ValueError that names the valid ones."""
    names = split_formats(value)
    if not names:
        return list(DEFAULT_FORMATS[shape])
    allowed = FORMATS_OF[shape]
    out: list[str] = []
    for name in names:
        if name in ALIASES:
            out.extend(allowed)
        elif name in allowed:
            out.append(name)
        else:
            other = "volume models" if shape == "image" else "2D image models"
            hint = f" ({name} is for {other})" if name in OUTPUT_FORMATS else ""
            raise ValueError(f"format {name!r} is not one this model writes{hint}; use "
                             f"{', '.join(allowed)} or both, alone or comma-separated (e.g. {','.join(allowed)})")
    return list(dict.fromkeys(out))


def format_argument(shape: Shape):
    """An argparse `type` for --format: comma-separated formats of `shape` (or both), checked."""
    import argparse

    def parse(text: str) -> list[str]:
        try:
            return resolve_formats(text, shape)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from exc

    parse.__name__ = "format list"
    return parse
