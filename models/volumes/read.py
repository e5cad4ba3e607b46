"""Read volumes with their geometry: NIfTI files, DICOM series folders and 3D MedMNIST npz files."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

from models.errors import CorruptImageError, InputError
from models.volumes.geometry import Volume

SPACING_TOLERANCE = 0.01  # relative spread of slice gaps above which a series is refused as irregular


def read_nifti(path: str | Path) -> Volume:
    """A .nii / .nii.gz file, array as (Z, Y, X) with the file's affine turned into spacing, origin and directions."""
    import nibabel as nib

    try:
        img = nib.load(str(path))
        data = np.asanyarray(img.dataobj, dtype=np.float32)
    except Exception as exc:  # nibabel raises many types on damaged files
        raise CorruptImageError(f"not a readable NIfTI file ({type(exc).__name__})") from exc
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise InputError(f"expected a 3D NIfTI volume, got {data.ndim} dimensions {data.shape}")
    return Volume.from_ras_affine(np.ascontiguousarray(data.transpose(2, 1, 0)), img.affine,
                                  meta={"source": "nifti"})


def read_dicom_series(folder: str | Path) -> Volume:
    """The largest series in `folder`, slices ordered by position along the slice normal, in modality units
    (Hounsfield units for CT). Spacing between slices comes from the positions, not SliceThickness."""
    from models.io.dicom_read import read_dicom_file

    series: dict[str, list] = defaultdict(list)
    for path in sorted(Path(folder).rglob("*")):
        if not path.is_file():
            continue
        try:
            ds = read_dicom_file(path)
        except Exception:  # noqa: BLE001 - not DICOM (a README, a DICOMDIR's neighbours): skipped
            continue
        if "PixelData" in ds and "ImagePositionPatient" in ds and "ImageOrientationPatient" in ds:
            series[str(ds.get("SeriesInstanceUID", ""))].append(ds)
    if not series:
        raise InputError(f"no DICOM image slices with position and orientation in {folder}")
    slices = max(series.values(), key=len)
    iop = np.array([float(v) for v in slices[0].ImageOrientationPatient])
    row_dir, col_dir = iop[:3], iop[3:]
    normal = np.cross(row_dir, col_dir)
    slices.sort(key=lambda ds: float(np.dot([float(v) for v in ds.ImagePositionPatient], normal)))
    positions = np.array([[float(v) for v in ds.ImagePositionPatient] for ds in slices])
    gaps = np.diff(positions @ normal)
    if len(gaps) and (np.any(gaps <= 0) or np.ptp(gaps) > SPACING_TOLERANCE * np.median(gaps)):
        raise InputError("the series' slices are not evenly spaced (missing or duplicated slices); send a "
                         "complete series")
    dz = float(np.median(gaps)) if len(gaps) else float(slices[0].get("SliceThickness", 1.0) or 1.0)
    row_spacing, col_spacing = (float(v) for v in slices[0].PixelSpacing)
    planes = []
    for ds in slices:
        pixels = ds.pixel_array.astype(np.float32)
        planes.append(pixels * float(ds.get("RescaleSlope", 1) or 1) + float(ds.get("RescaleIntercept", 0) or 0))
    if len({p.shape for p in planes}) != 1:
        raise InputError("the series' slices differ in size")
    return Volume(np.stack(planes), (col_spacing, row_spacing, dz), tuple(positions[0]), tuple(row_dir),
                  tuple(col_dir), meta={"source": "dicom", "modality": str(slices[0].get("Modality", ""))})


def read_medmnist3d(path: str | Path, split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """(volumes (N, D, H, W) in [0, 1], labels (N,)) of one split ('train', 'val', 'test' or 'all')."""
    splits = ["train", "val", "test"] if split == "all" else [split]
    with np.load(path) as npz:
        images = np.concatenate([npz[f"{s}_images"] for s in splits])
        labels = np.concatenate([npz[f"{s}_labels"] for s in splits]).reshape(len(images), -1)[:, 0]
    if images.ndim != 4:
        raise InputError(f"{path} holds {images.ndim - 1}D images; a 3D MedMNIST file has (N, D, H, W) arrays")
    scale = 255.0 if images.max() > 1 else 1.0
    return images.astype(np.float32) / scale, labels.astype(np.int64)
