"""Validate an uploaded X-ray and de-identify it before anything is stored."""

from __future__ import annotations

import io
import uuid
from pathlib import Path

from app.errors import ApiError
from core.artifacts import ArtifactStore
from models.errors import InputError
from models.io.deidentify import deidentify
from models.io.dicom_read import check_decodable, dataset_to_image, parse_dicom
from models.io.raster import read_raster
from models.io.sniff import sniff_format
from models.io.strip_metadata import strip_metadata


def accept_upload(data: bytes, store: ArtifactStore, *, max_bytes: int, max_pixels: int) -> tuple[str, str]:
    """Check size, magic bytes and decodability; de-identify DICOM; store. Returns (upload id, format)."""
    stored, fmt = checked_upload(data, max_bytes=max_bytes, max_pixels=max_pixels)
    upload_id = uuid.uuid4().hex
    store.put_bytes(upload_id, "input", stored)
    return upload_id, fmt


def checked_upload(data: bytes, *, max_bytes: int, max_pixels: int) -> tuple[bytes, str]:
    """Check size, magic bytes and decodability; de-identify DICOM. Returns (the bytes to store, format)."""
    if len(data) > max_bytes:
        raise ApiError("upload_too_large", f"the upload is larger than {max_bytes} bytes")
    if not data:
        raise ApiError("unsupported_format", "the uploaded file is empty; send a PNG, JPEG or DICOM file")
    fmt = sniff_format(data[:132])
    if fmt is None:
        raise ApiError("unsupported_format", "the file is not PNG, JPEG or DICOM (decided by its content, not "
                       "its name); DICOM files need the 128-byte preamble and 'DICM' marker")
    try:
        if fmt == "dicom":
            ds = parse_dicom(data, max_pixels=max_pixels)
            check_decodable(ds, max_pixels=max_pixels)
            if str(ds.get("BurnedInAnnotation", "")).upper() == "YES":
                raise ApiError("invalid_input", "the DICOM says it has burned-in annotation (patient text in the "
                               "pixels), which cannot be de-identified; remove it and send the file again")
            dataset_to_image(ds, max_pixels=max_pixels)  # decodes: corrupt pixel data is refused here
            deidentify(ds)
            buf = io.BytesIO()
            ds.save_as(buf, enforce_file_format=True)
            stored = buf.getvalue()
        else:
            read_raster(data, fmt, max_pixels=max_pixels)
            stored = strip_metadata(data, fmt)  # text chunks and EXIF can name the patient
    except InputError as exc:
        raise ApiError(exc.code, str(exc)) from exc
    except ApiError:
        raise
    except Exception as exc:  # noqa: BLE001 - pydicom parses lazily: a damaged element can raise on first access,
        # and a damaged header can fail de-identification or re-encoding (all found by fuzzing). Only the type is
        # named, never a value from the file.
        raise ApiError("corrupt_image", f"the {fmt.upper()} file is damaged ({type(exc).__name__}); export the "
                       "image again from its source") from exc
    return stored, fmt



def scratch_folder(settings) -> Path:
    """Where the API writes request data on its way to the store: the data folder's `tmp/` (the data volume, not
    the container's /tmp)."""
    folder = settings.data_dir / "tmp"
    folder.mkdir(parents=True, exist_ok=True)
    return folder
