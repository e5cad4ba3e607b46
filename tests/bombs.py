"""Hostile images for upload tests: decompression bombs (PNG, RLE and Deflated DICOM) and DICOM files with a
transfer syntax nobody here decodes. Built in memory, never written at their declared size."""

from __future__ import annotations

import io
import zlib

import pydicom
from pydicom.encaps import encapsulate
from pydicom.uid import UID

from tests.conftest import SIIM


def bomb_png(side: int) -> bytes:
    """A valid PNG header declaring side x side pixels, with a tiny compressed body."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")

    ihdr = side.to_bytes(4, "big") * 2 + bytes([8, 0, 0, 0, 0])
    raw = zlib.compress(b"\0" * (side + 1) * 8)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


def dicom_with_syntax(uid: str) -> bytes:
    ds = pydicom.dcmread(SIIM)
    ds.file_meta.TransferSyntaxUID = UID(uid)
    ds.PixelData = encapsulate([b"\x00" * 64])
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def bomb_dicom(side: int, syntax: str, *, pad_meta: int = 0) -> bytes:
    """A DICOM declaring side x side pixels in under a megabyte: RLE with one tiny fragment, or a Deflated data
    set whose pixel data is side^2 zero bytes compressed as it streams (never held in memory here). `pad_meta`
    pads FileMetaInformationVersion by that many bytes, moving the transfer syntax far into the file."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import DeflatedExplicitVRLittleEndian, ExplicitVRLittleEndian, RLELossless, generate_uid

    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID = generate_uid()
    ds.Modality, ds.Rows, ds.Columns, ds.SamplesPerPixel = "OT", side, side, 1
    ds.PhotometricInterpretation, ds.BitsAllocated, ds.BitsStored, ds.HighBit = "MONOCHROME2", 8, 8, 7
    ds.PixelRepresentation = 0
    buf = io.BytesIO()
    if syntax == "rle":
        ds.file_meta.TransferSyntaxUID = RLELossless
        ds.PixelData = encapsulate([(1).to_bytes(4, "little") + (64).to_bytes(4, "little") + b"\0" * 56
                                    + b"\xff\x00" * 64])
        ds.save_as(buf, enforce_file_format=True)
        return buf.getvalue()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.save_as(buf, enforce_file_format=True)
    plain = buf.getvalue()
    meta_end = 144 + int.from_bytes(plain[140:144], "little")
    ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    if pad_meta:
        ds.file_meta.FileMetaInformationVersion = b"\0\1" + b"\0" * pad_meta
    meta = io.BytesIO()
    pydicom.filewriter.write_file_meta_info(meta, ds.file_meta)
    deflate = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    body = [deflate.compress(plain[meta_end:] + b"\xe0\x7f\x10\x00OB\0\0" + (side * side).to_bytes(4, "little"))]
    zeros = b"\0" * 2**20
    for _ in range(side * side // len(zeros)):
        body.append(deflate.compress(zeros))
    body.append(deflate.compress(b"\0" * (side * side % len(zeros))) + deflate.flush())
    return b"\0" * 128 + b"DICM" + meta.getvalue() + b"".join(body)
