"""The generated images of a folder for `radsynth qc`: each image once, its finding read from its provenance.

`radsynth generate` writes every image as PNG and/or DICOM with provenance (PNG text chunks, DICOM
ImageComments) beside artifacts that are not images of a finding (grids, GIFs, volume slices). Only files with
image provenance count, the PNG and DICOM of one image count once, and a folder of plain images (no provenance)
is scored only when the caller names the finding.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

IMAGE_SUFFIXES = (".png", ".dcm")
ARTIFACT_KEY = "radsynth_artifact"  # text chunk marking a PNG that is not one generated image (a grid, a sheet)


@dataclass
class FolderImage:
    path: Path
    finding: str
    provenance: dict


@dataclass
class FolderScan:
    images: list[FolderImage]
    skipped: list[str]  # file names not scored, with the reason


def read_provenance(path: Path) -> dict | None:
    """Provenance of a generated PNG or DICOM, {} for a marked artifact, None for a file without any."""
    if path.suffix.lower() == ".png":
        from PIL import Image

        with Image.open(path) as img:
            text = dict(getattr(img, "text", {}) or {})
        if ARTIFACT_KEY in text:
            return {}
        return text if "seed" in text and "finding" in text else None
    import pydicom

    from models.errors import InputError
    from models.io.dicom_read import read_dicom_file

    try:
        ds = read_dicom_file(path, stop_before_pixels=True)
        prov = json.loads(str(ds.get("ImageComments", "")))
    except (ValueError, OSError, InputError, pydicom.errors.InvalidDicomError):
        return None
    return prov if isinstance(prov, dict) and "seed" in prov and "finding" in prov else None


def scan_folder(folder: str | Path, finding: str | None = None) -> FolderScan:
    """The images to score in `folder`: generated ones by provenance (one per seed, PNG preferred), and plain
    images only when `finding` is given."""
    folder = Path(folder)
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    chosen: dict[tuple, FolderImage] = {}
    skipped: list[str] = []
    for path in sorted(files, key=lambda p: (p.suffix.lower() != ".png", p.name)):
        prov = read_provenance(path)
        if prov == {}:
            skipped.append(f"{path.name} (a preview, not one image)")
        elif prov is None and finding is None:
            skipped.append(f"{path.name} (no provenance; pass --finding to score plain images)")
        elif prov is None:
            chosen[("plain", path.name)] = FolderImage(path, finding, {})
        else:
            key = (prov.get("model"), str(prov.get("seed")), prov.get("finding"), path.stem)
            if key in chosen:
                skipped.append(f"{path.name} (the same image as {chosen[key].path.name})")
            else:
                chosen[key] = FolderImage(path, finding or str(prov["finding"]), prov)
    return FolderScan(list(chosen.values()), skipped)
