"""Read PNG/JPEG into a float grey array in [0, 1] with decompression-bomb guards."""

from __future__ import annotations

import io
import logging
import re
import warnings
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from models.errors import CorruptImageError, ImageTooLargeError

DEFAULT_MAX_PIXELS = 8192 * 8192
# Pillow's debug records quote EXIF and chunk values (a patient's name can be one): never below INFO, whatever the
# service's log level.
logging.getLogger("PIL").setLevel(logging.INFO)


@dataclass
class LoadedImage:
    """A decoded greyscale image in [0, 1] plus non-identifying facts about its source."""

    pixels: np.ndarray  # float32, (H, W), 0 = black
    source_format: str
    bits: int
    info: dict = field(default_factory=dict)


def pil_to_grey(img: Image.Image) -> tuple[np.ndarray, int]:
    """Convert any Pillow mode to float grey in [0, 1]; RGB(A) with equal channels loses nothing."""
    if img.mode == "P":
        img = img.convert("RGBA")
    if img.mode in ("I;16", "I;16B", "I;16L"):
        return np.asarray(img, dtype=np.float32) / 65535.0, 16
    if img.mode == "I":
        arr = np.asarray(img, dtype=np.float32)
        top = 65535.0 if arr.max(initial=0) <= 65535 else float(arr.max())
        return np.clip(arr / top, 0, 1), 16
    if img.mode == "F":
        arr = np.asarray(img, dtype=np.float32)
        lo, hi = float(arr.min()), float(arr.max())
        return (arr - lo) / (hi - lo or 1.0), 32
    if img.mode in ("RGB", "RGBA", "LA", "CMYK", "YCbCr"):
        rgb = np.asarray(img.convert("RGB"), dtype=np.float32)
        if np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 0], rgb[..., 2]):
            return rgb[..., 0] / 255.0, 8
        return (rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)) / 255.0, 8
    return np.asarray(img.convert("L"), dtype=np.float32) / 255.0, 8


MIN_SIDE = 16  # pixels: below this an upload is no radiograph (1x1 and 1x20000 were accepted once)


def check_min_size(rows: int, cols: int) -> None:
    if rows < MIN_SIDE or cols < MIN_SIDE:
        raise CorruptImageError(f"the image is {cols}x{rows} pixels; send an X-ray at least {MIN_SIDE}x{MIN_SIDE} "
                                "pixels (a full-size radiograph is best)")


def decode_problem(exc: Exception, fmt: str) -> str:
    """What went wrong, in words a user can act on: never Python object reprs (`<_io.BytesIO object at 0x...>`)."""
    what = fmt.upper()
    if isinstance(exc, Image.UnidentifiedImageError):
        detail = f"the file is not a readable {what} image"
    else:
        reason = re.sub(r"<[^<>]*\bat 0x[0-9a-fA-F]+>", "", str(exc)).strip(" :")
        detail = f"could not decode the {what} file" + (f" ({reason})" if reason else "")
    return f"{detail}; send an uncorrupted PNG, JPEG or DICOM image"


def read_raster(data: bytes, fmt: str, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> LoadedImage:
    """Decode PNG or JPEG bytes; refuse images above `max_pixels` before decoding them."""
    pil_format = {"png": "PNG", "jpeg": "JPEG"}[fmt]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data), formats=[pil_format])
            w, h = img.size
            check_min_size(h, w)
            if w * h > max_pixels:
                raise ImageTooLargeError(
                    f"image is {w}x{h} = {w * h} pixels; the limit is {max_pixels} pixels"
                )
            img.load()
    except (ImageTooLargeError, CorruptImageError):
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageTooLargeError(f"image refused as a decompression bomb: {exc}") from exc
    except Exception as exc:  # Pillow raises many types on corrupt files
        raise CorruptImageError(decode_problem(exc, fmt)) from exc
    pixels, bits = pil_to_grey(img)
    return LoadedImage(pixels=pixels.astype(np.float32), source_format=fmt, bits=bits)
