"""Read a DICOM image into float grey [0, 1]: modality LUT, VOI window, MONOCHROME1 inversion.

Never reads with force=True. Every parse or decode failure, whatever pydicom raises, becomes one
CorruptImageError; a compressed syntax without a decoder becomes UnsupportedTransferSyntaxError.
"""

from __future__ import annotations

import io
import warnings
import zlib
from pathlib import Path
from typing import BinaryIO

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

DEFLATED = "1.2.840.10008.1.2.1.99"  # Deflated Explicit VR Little Endian
BYTES_PER_PIXEL_BOUND = 2  # 16-bit grey; the other elements get the slack below
INFLATE_SLACK = 16 * 2**20
LONG_LENGTH_VRS = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}
MAX_META_BYTES = 1 << 20  # a file meta group is a few hundred bytes; padding past this is refused
CHUNK = 1 << 20


def file_meta_end_and_syntax(head: bytes) -> tuple[int, str]:
    """Walk the file meta group (0002,xxxx: always explicit VR little endian) element by element and return
    (offset where the data set starts, Transfer Syntax UID). Read from the parsed elements, not searched for as a
    substring, so padding the meta cannot hide the syntax."""
    pos, syntax = 132, ""
    while pos + 8 <= len(head):
        group, element = int.from_bytes(head[pos:pos + 2], "little"), int.from_bytes(head[pos + 2:pos + 4], "little")
        if group != 0x0002:
            return pos, syntax
        vr = head[pos + 4:pos + 6]
        if vr in LONG_LENGTH_VRS:
            length, value_at = int.from_bytes(head[pos + 8:pos + 12], "little"), pos + 12
        else:
            length, value_at = int.from_bytes(head[pos + 6:pos + 8], "little"), pos + 8
        if length == 0xFFFFFFFF or value_at + length > MAX_META_BYTES:
            raise CorruptImageError("the DICOM file meta header is longer than any real one (over 1 MB) or has an "
                                    "undefined length; export the file again")
        if element == 0x0010:
            syntax = head[value_at:value_at + length].rstrip(b"\x00 ").decode("ascii", "replace")
        pos = value_at + length
    if pos >= MAX_META_BYTES or len(head) >= MAX_META_BYTES:
        raise CorruptImageError("the DICOM file meta header is longer than any real one; export the file again")
    return pos, syntax


def inflate_limit(max_pixels: int) -> int:
    return max_pixels * BYTES_PER_PIXEL_BOUND + INFLATE_SLACK


def check_inflated_size(source: bytes | BinaryIO, max_pixels: int) -> None:
    """pydicom inflates a Deflated data set whole before anything can be checked, so a file of under a megabyte
    could expand into gigabytes (a decompression bomb). Read the transfer syntax from the parsed file meta and, for
    a deflated file, inflate it here first in chunks, discarding the output and stopping at the most an image
    within `max_pixels` can need. Memory stays at one chunk whatever the file; `source` is bytes or a binary file
    (rewound afterwards)."""
    stream = io.BytesIO(source) if isinstance(source, bytes | bytearray | memoryview) else source
    start = stream.tell()
    try:
        head = stream.read(132)
        if head[128:132] != b"DICM":
            return
        head += stream.read(MAX_META_BYTES - 132)
        meta_end, syntax = file_meta_end_and_syntax(head)
        if syntax != DEFLATED:
            return
        stream.seek(start + meta_end)
        limit = inflate_limit(max_pixels)
        inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        inflated = 0
        try:
            while chunk := stream.read(CHUNK):
                while chunk and inflated <= limit:
                    inflated += len(inflater.decompress(chunk, CHUNK))
                    chunk = inflater.unconsumed_tail
                if inflated > limit:
                    raise ImageTooLargeError(f"the deflated DICOM data set inflates to more than {limit} bytes (the "
                                             f"limit for {max_pixels} pixels); send a smaller image")
        except zlib.error as exc:
            raise CorruptImageError("the deflated DICOM data set cannot be inflated; the file is damaged") from exc
    finally:
        stream.seek(start)


def read_dicom_file(path: str | Path, *, max_pixels: int = DEFAULT_MAX_PIXELS,
                    stop_before_pixels: bool = False) -> Dataset:
    """pydicom's dcmread on a file, with the deflate bound checked first (streamed from disk)."""
    with open(path, "rb") as fh:
        check_inflated_size(fh, max_pixels)
        return pydicom.dcmread(fh, stop_before_pixels=stop_before_pixels)


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
