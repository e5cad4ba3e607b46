"""Training data for 3D generators, resized to the model's cube as it is read (one volume in memory at a time):

- a 3D MedMNIST `.npz` (official splits; labels from MedMNIST's names), or
- a folder with `labels.csv`: columns `path` (a NIfTI file or a DICOM series folder, relative to the folder),
  `label` (the finding name), and optionally `split` (train/val/test; rows without one are training data) and
  `modality` (CT uses a soft-tissue HU window, anything else percentiles; default: guessed from the values).
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from models.errors import InputError


@dataclass
class VolumeSource:
    """Volumes as (N, 1, size, size, size) in [-1, 1], labels as indices into `findings`."""

    volumes: torch.Tensor
    labels: np.ndarray
    findings: list[str]
    voxel_mm: list[float] = field(default_factory=lambda: [1.0, 1.0, 1.0])  # (x, y, z) of the resized cube
    name: str = ""


def open_volume_source(root: str | Path, split: str, size: int, *, fmt: str | None = None,
                       progress: Callable[[int, int], None] | None = None) -> VolumeSource:
    """One split of a 3D data set at `size`^3 voxels."""
    root = Path(root)
    if fmt == "medmnist3d" or root.suffix == ".npz":
        return _medmnist3d(root, split, size)
    if (root / "labels.csv").is_file():
        return _labelled_folder(root, split, size, progress)
    raise InputError(f"{root} is neither a 3D MedMNIST .npz nor a folder with labels.csv (path,label[,split])")


def _medmnist3d(path: Path, split: str, size: int) -> VolumeSource:
    from models.data.formats import medmnist_label_names
    from models.volumes.read import read_medmnist3d
    from models.volumes.train3d import resize_volumes

    volumes, labels = read_medmnist3d(path, split)
    with np.load(path) as npz:
        n_classes = int(max(int(npz[f"{s}_labels"].max()) for s in ("train", "val", "test")) + 1)
    names = list(medmnist_label_names(path, n_classes))
    # MedMNIST3D keeps no spacing; 1 mm at 64^3 is nominal.
    mm = float(volumes.shape[1]) / size
    return VolumeSource(resize_volumes(volumes, size), labels, names, [mm, mm, mm], path.stem)


def _labelled_folder(root: Path, split: str, size: int, progress) -> VolumeSource:
    import torch.nn.functional as F

    from models.volumes.intensity import ct_window, percentile_normalise
    from models.volumes.read import read_dicom_series, read_nifti

    with (root / "labels.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows or not {"path", "label"} <= set(rows[0]):
        raise InputError(f"{root / 'labels.csv'} needs the columns path,label (and optionally split, modality)")
    findings = sorted({r["label"] for r in rows})
    rows = [r for r in rows if (r.get("split") or "train") == split]
    if not rows:
        raise InputError(f"{root / 'labels.csv'} lists no volumes in the {split} split")
    out, labels, extents = [], [], []
    for i, row in enumerate(rows):
        path = (root / row["path"]).resolve()
        if root.resolve() not in path.parents:
            raise InputError(f"labels.csv row {i + 2}: {row['path']!r} points outside {root}")
        vol = read_dicom_series(path) if path.is_dir() else read_nifti(path)
        modality = (row.get("modality") or vol.meta.get("modality") or "").upper()
        is_ct = modality == "CT" or (not modality and float(vol.array.min()) < -500)
        unit = ct_window(vol.array) if is_ct else percentile_normalise(vol.array)
        x = torch.from_numpy(np.ascontiguousarray(unit))[None, None]
        out.append(F.interpolate(x, size=(size, size, size), mode="trilinear", align_corners=False)[0] * 2 - 1)
        labels.append(findings.index(row["label"]))
        z, y, x_ = vol.array.shape
        extents.append([x_ * vol.spacing[0], y * vol.spacing[1], z * vol.spacing[2]])
        if progress is not None:
            progress(i + 1, len(rows))
    voxel_mm = [float(v) / size for v in np.median(np.array(extents), axis=0)]
    return VolumeSource(torch.stack(out), np.array(labels, dtype=np.int64), findings, voxel_mm, root.name)
