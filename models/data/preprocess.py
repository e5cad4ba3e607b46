"""Shared preprocessing: square crop or pad, pinned antialiased resizing, and its inverse for heatmaps."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image

from models.errors import UnsupportedFormatError
from models.io.dicom_read import read_dicom
from models.io.raster import DEFAULT_MAX_PIXELS, LoadedImage, read_raster
from models.io.sniff import sniff_format

# Pinned so that training, generation QC and explanation see identical pixels.
RESAMPLE = Image.Resampling.LANCZOS

SquareMode = Literal["crop", "pad"]


@dataclass(frozen=True)
class SquareGeometry:
    """How an (H, W) image was made square: the square's side and the image's offset inside it."""

    height: int
    width: int
    side: int
    top: int  # offset of the square inside the image (crop, >= 0) or of the image inside the square (pad, <= 0)
    left: int

    @classmethod
    def of(cls, height: int, width: int, mode: SquareMode) -> SquareGeometry:
        side = min(height, width) if mode == "crop" else max(height, width)
        return cls(height, width, side, (height - side) // 2, (width - side) // 2)

    def to_square(self, pixels: np.ndarray) -> np.ndarray:
        """Crop or zero-pad `pixels` (H, W) to the square."""
        out = np.zeros((self.side, self.side), dtype=np.float32)
        src_t, src_l = max(self.top, 0), max(self.left, 0)
        dst_t, dst_l = max(-self.top, 0), max(-self.left, 0)
        h = min(self.height - src_t, self.side - dst_t)
        w = min(self.width - src_l, self.side - dst_l)
        out[dst_t:dst_t + h, dst_l:dst_l + w] = pixels[src_t:src_t + h, src_l:src_l + w]
        return out

    def from_square(self, square: np.ndarray) -> np.ndarray:
        """Map a (side, side) map back to the (H, W) grid; areas outside the square get 0."""
        out = np.zeros((self.height, self.width), dtype=np.float32)
        src_t, src_l = max(-self.top, 0), max(-self.left, 0)
        dst_t, dst_l = max(self.top, 0), max(self.left, 0)
        h = min(self.side - src_t, self.height - dst_t)
        w = min(self.side - src_l, self.width - dst_l)
        out[dst_t:dst_t + h, dst_l:dst_l + w] = square[src_t:src_t + h, src_l:src_l + w]
        return out


def resize(pixels: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """Antialiased resize of a float map with the pinned filter; size is (H, W) or a side."""
    h, w = (size, size) if isinstance(size, int) else size
    if pixels.shape == (h, w):
        return pixels.astype(np.float32, copy=False)
    img = Image.fromarray(pixels.astype(np.float32), mode="F")
    return np.asarray(img.resize((w, h), RESAMPLE), dtype=np.float32)


def to_model_input(pixels: np.ndarray, resolution: int, mode: SquareMode = "crop") -> tuple[np.ndarray, SquareGeometry]:
    """Grey [0, 1] (H, W) -> square (resolution, resolution) in [0, 1], plus the geometry used."""
    geom = SquareGeometry.of(*pixels.shape, mode)
    square = resize(geom.to_square(pixels), resolution)
    return np.clip(square, 0.0, 1.0), geom


def heatmap_to_original(heatmap: np.ndarray, geom: SquareGeometry) -> np.ndarray:
    """Resize a model-grid map to the square's side and place it on the original pixel grid."""
    return geom.from_square(resize(heatmap, geom.side))


def load_image_bytes(data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> LoadedImage:
    """Decode PNG, JPEG or DICOM bytes, deciding the format by magic bytes."""
    fmt = sniff_format(data[:132])
    if fmt is None:
        raise UnsupportedFormatError("file is not PNG, JPEG or DICOM (checked by its first bytes)")
    if fmt == "dicom":
        return read_dicom(data, max_pixels=max_pixels)
    return read_raster(data, fmt, max_pixels=max_pixels)


def load_image_file(path: str | Path, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> LoadedImage:
    return load_image_bytes(Path(path).read_bytes(), max_pixels=max_pixels)
