"""PNG and JPEG uploads lose their metadata (text chunks, EXIF, comments, trailing bytes) with pixels unchanged."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from models.errors import CorruptImageError
from models.io.strip_metadata import strip_metadata


def exif() -> Image.Exif:
    tags = Image.Exif()
    tags[0x010E] = "MKR DOE^JANE 1970-01-01"
    return tags


@pytest.mark.parametrize("mode, bits", [("L", 8), ("I;16", 16)])
def test_png_text_and_exif_are_removed_and_pixels_kept(mode, bits):
    pixels = (np.random.default_rng(0).random((40, 56)) * (2**bits - 1)).astype(np.uint16 if bits == 16 else np.uint8)
    info = PngImagePlugin.PngInfo()
    info.add_text("Patient", "MKR DOE^JANE")
    info.add_itxt("Birth", "MKR 1970-01-01")
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG", pnginfo=info, exif=exif())
    stripped = strip_metadata(buf.getvalue() + b"MKR after IEND", "png")
    assert b"MKR" not in stripped
    image = Image.open(io.BytesIO(stripped))
    assert not image.info.get("Patient") and not dict(image.getexif())
    assert (np.array(image) == pixels).all()


@pytest.mark.parametrize("progressive", [False, True])
def test_jpeg_exif_and_comments_are_removed_and_pixels_kept(progressive):
    pixels = (np.random.default_rng(1).random((48, 64)) * 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="JPEG", exif=exif(), comment=b"MKR comment", progressive=progressive)
    stripped = strip_metadata(buf.getvalue(), "jpeg")
    assert b"MKR" in buf.getvalue() and b"MKR" not in stripped
    assert (np.array(Image.open(io.BytesIO(stripped))) == np.array(Image.open(buf))).all()


def test_truncated_files_are_refused_not_passed_through():
    buf = io.BytesIO()
    Image.fromarray(np.zeros((20, 20), np.uint8)).save(buf, format="PNG")
    with pytest.raises(CorruptImageError):
        strip_metadata(buf.getvalue()[:30], "png")
    with pytest.raises(CorruptImageError):
        strip_metadata(b"\xff\xd8\xff\xe1\x10\x00short", "jpeg")
    assert strip_metadata(b"DICM", "dicom") == b"DICM"
