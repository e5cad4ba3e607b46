"""Decide an upload's format from its magic bytes, never from its name or declared type."""

from __future__ import annotations

from typing import Literal

ImageFormat = Literal["png", "jpeg", "dicom"]


def sniff_format(head: bytes) -> ImageFormat | None:
    """Return the format whose signature `head` (the first 132+ bytes) carries, or None."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if len(head) >= 132 and head[128:132] == b"DICM":
        return "dicom"
    return None
