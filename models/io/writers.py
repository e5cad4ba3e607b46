"""Write generated images: grey PNG with provenance text chunks, synthetic DICOM, GIFs and grids."""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from PIL import Image, PngImagePlugin
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

from models import __version__

IMPLEMENTATION_UID = "1.2.826.0.1.3680043.10.1528.1"  # under pydicom's root, for RadSynth


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write to a temporary file beside `path` and rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def to_uint(pixels: np.ndarray, bits: int) -> np.ndarray:
    """Quantise [0, 1] floats to unsigned integers of `bits` (8 or 16)."""
    top = (1 << bits) - 1
    dtype = np.uint8 if bits == 8 else np.uint16
    return np.round(np.clip(pixels, 0.0, 1.0) * top).astype(dtype)


def png_bytes(pixels: np.ndarray, *, bits: int = 8, text: Mapping[str, object] | None = None) -> bytes:
    """Encode a grey [0, 1] image as 8- or 16-bit PNG; `text` goes into tEXt chunks."""
    import io

    if bits not in (8, 16):
        raise ValueError("bits must be 8 or 16")
    arr = to_uint(pixels, bits)
    img = Image.fromarray(arr)  # uint8 -> L, uint16 -> I;16
    info = PngImagePlugin.PngInfo()
    for key, value in (text or {}).items():
        info.add_text(str(key), value if isinstance(value, str) else json.dumps(value))
    buf = io.BytesIO()
    img.save(buf, format="PNG", pnginfo=info)
    return buf.getvalue()


def write_png(path: str | Path, pixels: np.ndarray, *, bits: int = 8, text: Mapping[str, object] | None = None) -> Path:
    return atomic_write_bytes(path, png_bytes(pixels, bits=bits, text=text))


def synthetic_dicom_dataset(
    pixels: np.ndarray, provenance: Mapping[str, object], *, bits: int = 16, series_uid: str | None = None,
    study_uid: str | None = None, instance_number: int = 1, description: str = "RadSynth synthetic image",
    synthetic: bool = True, patient_id: str = "SYNTHETIC", pixel_spacing_mm: float | None = None,
    body_part: str | None = "CHEST",
) -> Dataset:
    """Build a Secondary Capture dataset with provenance and no real identity (`body_part` None: not known).

    Grey float [0, 1] (H, W) images are stored as `bits`-bit MONOCHROME2; RGB uint8 (H, W, 3) images (such as
    explanation overlays, which are derived from a real upload and so not synthetic) as 8-bit RGB.
    """
    now = dt.datetime.now(dt.UTC)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = IMPLEMENTATION_UID
    meta.ImplementationVersionName = f"RADSYNTH_{__version__}".replace(".", "_")[:16]

    ds = Dataset()
    ds.file_meta = meta
    ds.preamble = b"\0" * 128
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["DERIVED", "SECONDARY"]
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyDate = now.strftime("%Y%m%d")
    ds.StudyTime = now.strftime("%H%M%S")
    ds.ContentDate = ds.StudyDate
    ds.ContentTime = ds.StudyTime
    ds.AccessionNumber = ""
    ds.Modality = "OT"
    ds.ConversionType = "SYN" if synthetic else "WSD"
    ds.SyntheticData = "YES" if synthetic else "NO"
    ds.Manufacturer = "RadSynth"
    ds.ReferringPhysicianName = ""
    ds.StudyDescription = "RadSynth synthetic study"
    ds.SeriesDescription = description
    ds.PatientName = "SYNTHETIC^RADSYNTH"
    ds.PatientID = patient_id
    ds.PatientBirthDate = ""
    ds.PatientSex = ""
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = "Synthetic image: no patient identity was ever present"
    ds.DeidentificationMethodCodeSequence = DicomSequence(
        [_code("113100", "DCM", "Basic Application Confidentiality Profile")]
    )
    ds.BurnedInAnnotation = "NO"
    if body_part:  # e.g. CHEST, not a paired body part: Laterality (type 2C) is left out rather than sent empty
        ds.BodyPartExamined = body_part
    else:  # unknown body part: Laterality present and empty, as type 2C allows
        ds.Laterality = ""
    ds.StudyInstanceUID = study_uid or generate_uid()
    ds.SeriesInstanceUID = series_uid or generate_uid()
    ds.StudyID = "RADSYNTH"
    ds.SeriesNumber = 1
    ds.InstanceNumber = instance_number
    ds.PatientOrientation = ""
    ds.ImageComments = json.dumps(dict(provenance), sort_keys=True)[:10240]
    ds.DerivationDescription = (
        ("Synthesised by RadSynth " + " ".join(f"{k}={v}" for k, v in sorted(provenance.items())))[:1024]
    )
    ds.ContributingEquipmentSequence = DicomSequence([_equipment()])

    set_pixels(ds, pixels, bits)
    if pixel_spacing_mm:
        ds.PixelSpacing = [f"{pixel_spacing_mm:.6g}", f"{pixel_spacing_mm:.6g}"]
    return ds


def set_pixels(ds: Dataset, pixels: np.ndarray, bits: int) -> None:
    """Grey float [0, 1] (H, W) pixels as `bits`-bit MONOCHROME2, RGB uint8 (H, W, 3) as 8-bit RGB."""
    if pixels.ndim == 3:
        arr, bits = np.ascontiguousarray(pixels, dtype=np.uint8), 8
        ds.SamplesPerPixel = 3
        ds.PhotometricInterpretation = "RGB"
        ds.PlanarConfiguration = 0
    else:
        arr = to_uint(pixels, bits)
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = arr.shape[:2]
    ds.BitsAllocated = bits
    ds.BitsStored = bits
    ds.HighBit = bits - 1
    ds.PixelRepresentation = 0
    ds.PixelData = arr.tobytes()


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = scheme
    item.CodeMeaning = meaning
    return item


def _equipment() -> Dataset:
    item = Dataset()
    item.Manufacturer = "RadSynth"
    item.ManufacturerModelName = "RadSynth generator"
    item.SoftwareVersions = __version__
    item.PurposeOfReferenceCodeSequence = DicomSequence([_code("109103", "DCM", "Modifying Equipment")])
    item.ContributionDescription = "Synthetic image generated by a denoising diffusion model"
    return item


def dicom_bytes(ds: Dataset) -> bytes:
    import io

    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def write_synthetic_dicom(path: str | Path, pixels: np.ndarray, provenance: Mapping[str, object], **kw) -> Path:
    return atomic_write_bytes(path, dicom_bytes(synthetic_dicom_dataset(pixels, provenance, **kw)))


def gif_bytes(frames: Sequence[np.ndarray], *, duration_ms: int = 80, hold_last_ms: int = 1200,
              scale: int = 1) -> bytes:
    """Animated GIF of grey [0, 1] frames (e.g. a denoising trajectory); the last frame is held."""
    import io

    images = []
    for frame in frames:
        img = Image.fromarray(to_uint(frame, 8), mode="L")
        if scale > 1:
            img = img.resize((img.width * scale, img.height * scale), Image.Resampling.NEAREST)
        images.append(img)
    durations = [duration_ms] * (len(images) - 1) + [hold_last_ms]
    buf = io.BytesIO()
    images[0].save(buf, format="GIF", save_all=True, append_images=images[1:], duration=durations, loop=0)
    return buf.getvalue()


def label_rows(sheet: np.ndarray, names: Sequence[str], *, width: int = 110) -> np.ndarray:
    """`sheet` (a grid with one row per name, equal heights) with a white column on its left naming each row."""
    from PIL import Image, ImageDraw, ImageFont

    h = sheet.shape[0]
    column = Image.new("L", (width, h), 255)
    draw, font = ImageDraw.Draw(column), ImageFont.load_default()
    step = h / max(1, len(names))
    for i, name in enumerate(names):
        draw.text((4, int(i * step + step / 2) - 6), str(name).replace("_", " ")[:18], fill=0, font=font)
    return np.concatenate([np.asarray(column, np.float32) / 255.0, sheet], axis=1)


def grid(images: Sequence[np.ndarray], *, cols: int | None = None, pad: int = 2) -> np.ndarray:
    """Contact sheet of equally sized grey images, padded with white lines."""
    n = len(images)
    cols = cols or int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / cols))
    h, w = images[0].shape
    sheet = np.ones((rows * (h + pad) + pad, cols * (w + pad) + pad), dtype=np.float32)
    for i, img in enumerate(images):
        r, c = divmod(i, cols)
        sheet[pad + r * (h + pad): pad + r * (h + pad) + h, pad + c * (w + pad): pad + c * (w + pad) + w] = img
    return sheet
