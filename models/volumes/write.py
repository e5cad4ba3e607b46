"""Write volumes: NIfTI with the right affine, a DICOM series (one CT Image per slice with consistent UIDs,
positions and spacing, a rescale to the volume's [0, 1] intensities and a window over them, marked synthetic),
orthogonal mid-slice previews and a slice-sweep GIF."""

from __future__ import annotations

import gzip
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from pydicom.uid import CTImageStorage, generate_uid

from models.io.writers import atomic_write_bytes, dicom_bytes, gif_bytes, synthetic_dicom_dataset, write_png
from models.qc.folder import ARTIFACT_KEY
from models.volumes.geometry import Volume


def write_nifti(path: str | Path, volume: Volume) -> Path:
    """`volume.array` (Z, Y, X) as float32 NIfTI-1 with sform and qform = its RAS affine, units mm."""
    import nibabel as nib

    img = nib.Nifti1Image(np.ascontiguousarray(volume.array.transpose(2, 1, 0), dtype=np.float32),
                          volume.ras_affine())
    img.header.set_xyzt_units("mm")
    img.set_sform(volume.ras_affine(), code=1)
    img.set_qform(volume.ras_affine(), code=1)
    data = img.to_bytes()
    return atomic_write_bytes(path, gzip.compress(data, 6) if str(path).endswith(".gz") else data)


def as_ct_image(ds) -> None:
    """Make a synthetic slice a CT Image (what viewers open as a volume): its SOP class and modality, the rescale
    from stored values to the volume's [0, 1] intensities (type US: not Hounsfield units, which these values are
    not), and a window over that range."""
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
    ds.Modality = "CT"
    ds.ImageType = ["DERIVED", "SECONDARY", "AXIAL"]
    ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = "0", f"{1 / 65535:.10g}", "US"
    ds.WindowCenter, ds.WindowWidth = "0.5", "1"
    ds.KVP = ""  # type 2: no X-ray tube made this
    ds.PatientPosition = ""  # type 2C: no patient lay on a table
    ds.AcquisitionNumber = None
    for keyword in ("ConversionType", "DateOfSecondaryCapture", "TimeOfSecondaryCapture"):  # SC-only
        if keyword in ds:
            delattr(ds, keyword)


def write_dicom_series(folder: str | Path, volume: Volume, provenance: Mapping[str, object], *,
                       description: str = "RadSynth synthetic volume") -> list[Path]:
    """One 16-bit CT Image per slice of a [0, 1] volume; one study, series and frame of reference."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    study, series, frame_of_reference = generate_uid(), generate_uid(), generate_uid()
    normal = volume.slice_dir
    paths = []
    for k, plane in enumerate(volume.array):
        ds = synthetic_dicom_dataset(plane, provenance, series_uid=series, study_uid=study, instance_number=k + 1,
                                     description=description, body_part=None)  # a volume's body part is not known
        as_ct_image(ds)
        position = np.asarray(volume.origin) + k * volume.spacing[2] * normal
        ds.FrameOfReferenceUID = frame_of_reference
        ds.PositionReferenceIndicator = ""
        ds.ImagePositionPatient = [f"{v:.4f}" for v in position]
        ds.ImageOrientationPatient = [f"{v:.6f}" for v in (*volume.row_dir, *volume.col_dir)]
        ds.PixelSpacing = [f"{volume.spacing[1]:.4f}", f"{volume.spacing[0]:.4f}"]  # row spacing, column spacing
        ds.SliceThickness = f"{volume.spacing[2]:.4f}"
        ds.SliceLocation = f"{float(np.dot(position, normal)):.4f}"
        paths.append(atomic_write_bytes(folder / f"slice_{k + 1:04d}.dcm", dicom_bytes(ds)))
    return paths


def mid_slices(volume: np.ndarray, min_side: int = 128) -> np.ndarray:
    """Axial, coronal and sagittal mid-slices of a (Z, Y, X) [0, 1] volume side by side (each scaled to the
    volume's largest side so all three are the same height, and enlarged by a whole factor to at least `min_side`
    pixels so a 32^3 volume is not a thumbnail)."""
    from PIL import Image

    z, y, x = volume.shape
    side = max(z, y, x)
    side *= max(1, -(-min_side // side))
    views = [volume[z // 2], volume[:, y // 2, :][::-1], volume[:, :, x // 2][::-1]]
    panels = [np.asarray(Image.fromarray((np.clip(v, 0, 1) * 255).astype(np.uint8)).resize(
        (side, side), Image.Resampling.NEAREST), dtype=np.float32) / 255 for v in views]
    gap = np.ones((side, 2), dtype=np.float32)
    return np.concatenate([panels[0], gap, panels[1], gap, panels[2]], axis=1)


def write_previews(folder: str | Path, volume: np.ndarray, *, stem: str = "volume") -> dict[str, Path]:
    """`<stem>_slices.png` (orthogonal mid-slices) and `<stem>_sweep.gif` (every axial slice in turn)."""
    folder = Path(folder)
    png = write_png(folder / f"{stem}_slices.png", mid_slices(volume),
                    text={ARTIFACT_KEY: "mid-slices", "synthetic": "yes", "made_by": "RadSynth 3D generator"})
    scale = max(1, 256 // max(volume.shape[1:]))
    gif = atomic_write_bytes(folder / f"{stem}_sweep.gif", gif_bytes(list(volume), duration_ms=60, hold_last_ms=60,
                                                                       scale=scale))
    return {"slices": png, "sweep": gif}


def write_overview(path: str | Path, volumes: np.ndarray, *, labels: list[str] | None = None,
                   text: dict | None = None) -> Path:
    """One row of orthogonal mid-slices per volume of (N, Z, Y, X), as a single PNG to glance at: a header names
    the views, a column on the left each row (`labels`, e.g. the seeds), and `text` goes into a text chunk."""
    from PIL import Image, ImageDraw, ImageFont

    from models.io.writers import label_rows

    rows = [mid_slices(v) for v in volumes]
    gap = np.ones((2, rows[0].shape[1]), dtype=np.float32)
    stacked = [part for row in rows for part in (row, gap)][:-1]
    sheet = np.concatenate(stacked, axis=0)
    if labels:
        sheet = label_rows(sheet, labels)
    header = Image.new("L", (sheet.shape[1], 16), 255)
    draw, font = ImageDraw.Draw(header), ImageFont.load_default()
    panel = (rows[0].shape[1] - 4) // 3
    offset = sheet.shape[1] - rows[0].shape[1]
    for i, name in enumerate(("axial", "coronal", "sagittal")):
        draw.text((offset + i * (panel + 2) + 4, 2), name, fill=0, font=font)
    sheet = np.concatenate([np.asarray(header, np.float32) / 255.0, sheet], axis=0)
    return write_png(path, sheet, text={ARTIFACT_KEY: "volume overview"} | (text or {}))
