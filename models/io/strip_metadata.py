"""Remove everything but the image from PNG and JPEG files, without decoding them: text chunks (tEXt, zTXt, iTXt),
EXIF, XMP, comments, private chunks and any bytes after the end marker can carry a patient's name or birth date.
Pixels are kept byte for byte. Torch-free."""

from __future__ import annotations

import struct

from models.errors import CorruptImageError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Critical chunks plus the ancillary ones that change how pixels are shown; no text, time, EXIF or private chunks.
PNG_KEEP = {b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"sBIT", b"pHYs"}
# JPEG segments kept before the image data: tables, frame headers, restart interval, JFIF (APP0) and Adobe (APP14,
# which says how colours are coded). APP1-13 and APP15 (EXIF, XMP, Photoshop IRB, ...) and COM are dropped.
JPEG_KEEP = (set(range(0xC0, 0xD0)) - {0xC8}) | {0xDB, 0xDD, 0xE0, 0xEE}  # SOFn, DHT, DAC; DQT, DRI, APP0, APP14


def strip_png(data: bytes) -> bytes:
    """The PNG with only the chunks in PNG_KEEP, ending at IEND."""
    if not data.startswith(PNG_SIGNATURE):
        raise CorruptImageError("not a PNG file (its signature is missing)")
    out = [PNG_SIGNATURE]
    pos = len(PNG_SIGNATURE)
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        end = pos + 12 + length
        if end > len(data):
            raise CorruptImageError("the PNG file is truncated inside a chunk")
        if kind in PNG_KEEP:
            out.append(data[pos:end])
        pos = end
        if kind == b"IEND":
            return b"".join(out)
    raise CorruptImageError("the PNG file has no IEND chunk (it is truncated)")


def strip_jpeg(data: bytes) -> bytes:
    """The JPEG with only the segments in JPEG_KEEP and its scans, ending at EOI."""
    if not data.startswith(b"\xff\xd8"):
        raise CorruptImageError("not a JPEG file (its SOI marker is missing)")
    out = [b"\xff\xd8"]
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            raise CorruptImageError("the JPEG file is damaged (a segment does not start with a marker)")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0xD9:
            break
        length = int.from_bytes(data[pos + 2:pos + 4], "big")
        end = pos + 2 + length
        if length < 2 or end > len(data):
            raise CorruptImageError("the JPEG file is truncated inside a segment")
        if marker == 0xDA:  # start of scan: the header, then entropy-coded data up to the next real marker
            scan_end = end
            while scan_end + 1 < len(data):
                if data[scan_end] == 0xFF and data[scan_end + 1] not in (0x00, *range(0xD0, 0xD8)):
                    break
                scan_end += 1
            out.append(data[pos:scan_end])
            pos = scan_end
            continue
        if marker in JPEG_KEEP:
            out.append(data[pos:end])
        pos = end
    out.append(b"\xff\xd9")
    return b"".join(out)


def strip_metadata(data: bytes, fmt: str) -> bytes:
    """`data` (a PNG or JPEG, by `fmt`) without metadata; other formats are returned unchanged."""
    if fmt == "png":
        return strip_png(data)
    if fmt == "jpeg":
        return strip_jpeg(data)
    return data
