"""Read a DICOM image into float grey [0, 1]: modality LUT, VOI window, MONOCHROME1 inversion.

Never reads with force=True. Every parse or decode failure, whatever pydicom raises, becomes one
CorruptImageError; a compressed syntax without a decoder becomes UnsupportedTransferSyntaxError.
"""

from __future__ import annotations

import io
import warnings
import zlib

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.pixels import apply_modality_lut, apply_voi_lut, get_decoder
from pydicom.uid import UID

from models.errors import (
    CorruptImageError,
    ImageTooLargeError,
    UnsupportedFormatError,
    UnsupportedTransferSyntaxError,
)
from models.io.raster import DEFAULT_MAX_PIXELS, LoadedImage, check_min_size

DEFLATED = b"1.2.840.10008.1.2.1.99"  # Deflated Explicit VR Little Endian
BYTES_PER_PIXEL_BOUND = 2  # 16-bit grey; the other elements get the slack below
INFLATE_SLACK = 16 * 2**20


def check_inflated_size(data: bytes, max_pixels: int) -> None:
    """pydicom inflates a Deflated data set whole before anything can be checked, so a file of under a megabyte
    could expand into gigabytes (a decompression bomb). Inflate it here first, stopping at the most an image
    within `max_pixels` can need."""
    if data[128:132] != b"DICM" or DEFLATED not in data[132:4096]:
        return
    if data[132:138] != b"\x02\x00\x00\x00UL":
        raise CorruptImageError("a deflated DICOM file must start its meta header with the group length "
                                "(0002,0000); export the file again")
    meta_end = 144 + int.from_bytes(data[140:144], "little")
    limit = max_pixels * BYTES_PER_PIXEL_BOUND + INFLATE_SLACK
    try:
        inflated = zlib.decompressobj(-zlib.MAX_WBITS).decompress(data[meta_end:], limit + 1)
    except zlib.error as exc:
        raise CorruptImageError("the deflated DICOM data set cannot be inflated; the file is damaged") from exc
    if len(inflated) > limit:
        raise ImageTooLargeError(f"the deflated DICOM data set inflates to more than {limit} bytes (the limit for "
                                 f"{max_pixels} pixels); send a smaller image")


def parse_dicom(data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> Dataset:
    """Parse DICOM bytes (Part 10 with preamble); any failure, truncation or empty body is a CorruptImageError."""
    check_inflated_size(data, max_pixels)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ds = pydicom.dcmread(io.BytesIO(data), force=False)
    except Exception as exc:  # pydicom raises many exception types on corrupt input
        # Only the type: pydicom's messages can quote element values, which may identify the patient.
        raise CorruptImageError(f"not a readable DICOM file ({type(exc).__name__}); check that it is a complete "
                                "DICOM Part 10 file") from exc
    for warning in caught:
        if "end of file" in str(warning.message).lower():
            raise CorruptImageError("the DICOM file is truncated (it ends inside a data element)")
    if len(ds) == 0:
        raise CorruptImageError("the DICOM file holds no data elements after its header")
    return ds


def check_decodable(ds: Dataset, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> None:
    """Refuse before decoding: no pixels, too many pixels, or a syntax nobody here can decode."""
    try:
        meta = getattr(ds, "file_meta", None)
        if meta is None or "TransferSyntaxUID" not in meta:
            raise CorruptImageError("the DICOM file meta header has no Transfer Syntax UID; the file is damaged")
        if "PixelData" not in ds:
            if "Rows" in ds or "SamplesPerPixel" in ds:
                raise CorruptImageError("the DICOM file declares an image but its Pixel Data is missing "
                                        "(truncated file?)")
            raise UnsupportedFormatError("the DICOM file holds no image (no Pixel Data element): "
                                         "send an X-ray image object, not a report or other non-image DICOM")
        rows, cols = int(ds.Rows), int(ds.Columns)
        frames = int(ds.get("NumberOfFrames", 1) or 1)
        syntax = ds.file_meta.TransferSyntaxUID
    except (UnsupportedFormatError, ImageTooLargeError, CorruptImageError):
        raise
    except Exception as exc:
        raise CorruptImageError(f"DICOM image attributes (Rows, Columns, Transfer Syntax) are missing or invalid "
                                f"({type(exc).__name__})") from exc
    if rows <= 0 or cols <= 0 or frames <= 0:
        raise CorruptImageError(f"DICOM image has an invalid size {rows}x{cols}x{frames}")
    check_min_size(rows, cols)
    if rows * cols * frames > max_pixels:
        raise ImageTooLargeError(
            f"DICOM image is {rows}x{cols}x{frames} = {rows * cols * frames} pixels; "
            f"the limit is {max_pixels}"
        )
    if not isinstance(syntax, UID) or not syntax.is_transfer_syntax:
        raise UnsupportedTransferSyntaxError(
            f"the DICOM Transfer Syntax UID {str(syntax)[:64]!r} is not a known transfer syntax; send the image "
            "uncompressed (Explicit VR Little Endian) or as JPEG baseline")
    if not syntax.is_compressed:
        check_pixel_data_length(ds, rows, cols, frames)
    if syntax.is_compressed:
        try:
            available = get_decoder(syntax).is_available
        except Exception:
            available = False
        if not available:
            raise UnsupportedTransferSyntaxError(
                f"DICOM transfer syntax {syntax.name} ({syntax}) cannot be decoded here; "
                "send it uncompressed (Explicit VR Little Endian) or as JPEG baseline"
            )


def window_to_unit(values: np.ndarray, ds: Dataset) -> np.ndarray:
    """Apply the file's VOI (window or LUT) and scale to [0, 1]; without one, use min-max."""
    if "WindowCenter" in ds and "WindowWidth" in ds:
        center = ds.WindowCenter
        width = ds.WindowWidth
        center = float(center[0] if isinstance(center, pydicom.multival.MultiValue) else center)
        width = float(width[0] if isinstance(width, pydicom.multival.MultiValue) else width)
        if width > 1:
            # DICOM PS3.3 C.11.2.1.2.1 linear window, expressed in [0, 1].
            out = ((values - (center - 0.5)) / (width - 1)) + 0.5
            return np.clip(out, 0.0, 1.0).astype(np.float32)
    if "VOILUTSequence" in ds:
        values = apply_voi_lut(values, ds).astype(np.float64)
    lo, hi = float(values.min()), float(values.max())
    return ((values - lo) / (hi - lo or 1.0)).astype(np.float32)


def read_dicom(data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> LoadedImage:
    """Decode a DICOM image to grey [0, 1] with 0 = black, whatever its photometric form."""
    ds = parse_dicom(data)
    return dataset_to_image(ds, max_pixels=max_pixels)


def check_pixel_data_length(ds: Dataset, rows: int, cols: int, frames: int) -> None:
    """Uncompressed Pixel Data must hold exactly Rows x Columns x Samples x Frames x bytes per sample (plus one
    pad byte): otherwise the image would be read with a wrong shape."""
    try:
        samples = int(ds.get("SamplesPerPixel", 1) or 1)
        bits = int(ds.BitsAllocated)
        actual = len(ds.PixelData)
    except Exception as exc:
        raise CorruptImageError("DICOM image attributes (SamplesPerPixel, BitsAllocated) are missing or invalid; "
                                "the file is damaged") from exc
    values = rows * cols * samples * frames
    expected = (values + 7) // 8 if bits == 1 else values * ((bits + 7) // 8)
    if actual not in (expected, expected + 1):
        raise CorruptImageError(
            f"DICOM Pixel Data holds {actual} bytes, but Rows x Columns x SamplesPerPixel x NumberOfFrames x "
            f"bytes per sample = {rows}x{cols}x{samples}x{frames}x{(bits + 7) // 8} = {expected}; the image "
            "attributes do not match the pixels (set NumberOfFrames for multi-frame images)")


def dataset_to_image(ds: Dataset, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> LoadedImage:
    """Decode an already parsed dataset (see read_dicom)."""
    check_decodable(ds, max_pixels=max_pixels)
    try:
        arr = ds.pixel_array
        photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).upper()
        if int(ds.get("NumberOfFrames", 1) or 1) > 1:
            arr = arr[0]
        if arr.ndim == 3:  # colour: RGB or YBR already converted by pydicom
            arr = arr[..., :3].astype(np.float64) @ np.array([0.299, 0.587, 0.114])
            photometric = "MONOCHROME2"
        values = apply_modality_lut(arr, ds).astype(np.float64)
        unit = window_to_unit(values, ds)
    except (UnsupportedTransferSyntaxError, ImageTooLargeError):
        raise
    except Exception as exc:  # decoders and LUT code raise many types on corrupt data
        raise CorruptImageError(f"DICOM pixel data could not be decoded ({type(exc).__name__}); the file may be "
                                "truncated or its image attributes wrong") from exc
    if photometric == "MONOCHROME1":
        unit = 1.0 - unit
    if unit.ndim != 2 or not np.isfinite(unit).all():
        raise CorruptImageError("DICOM pixel data did not decode to a finite 2D image")
    info = {
        "modality": str(ds.get("Modality", "")),
        "photometric": photometric,
        "transfer_syntax": ds.file_meta.TransferSyntaxUID.name,
        "rows": int(ds.Rows),
        "columns": int(ds.Columns),
    }
    return LoadedImage(pixels=unit, source_format="dicom", bits=int(ds.get("BitsStored", 8)), info=info)
