"""Turn an uploaded archive into a data set: check it, unpack it, de-identify its DICOM files before anything else
reads them, recognise its layout and summarise it (counts per finding, patients, image sizes, problems).

Streams: files are unpacked one at a time and only image headers are read, so a 100k-image upload needs no
more memory than a small one.
"""

from __future__ import annotations

import json
import statistics
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from models.data.archives import data_root, list_archive, remove_tree, unpack
from models.data.formats import FORMATS, detect_format
from models.errors import ImageTooLargeError, InputError
from models.io.raster import DEFAULT_MAX_PIXELS
from models.io.sniff import sniff_format
from models.io.strip_metadata import strip_metadata

MANIFEST = "dataset.json"  # read by core/datasets.py
DATA_FOLDER = "data"
Progress = Callable[[int, int, str], None]


class DatasetProblem(ValueError):
    """The archive unpacked but is not a data set a loader can read; the message says what to fix."""


def deidentify_files(folder: Path, progress: Progress | None = None, *,
                     max_pixels: int = DEFAULT_MAX_PIXELS) -> int:
    """De-identify every DICOM file under `folder` in place (sniffed by content, whatever its name), with one
    UID map per data set so that images of one study stay one study, and strip PNG and JPEG files of their text
    chunks and EXIF. Returns how many DICOM files were rewritten.

    A deflated file that would inflate past what `max_pixels` allows refuses the whole archive (ImageTooLargeError)
    before pydicom inflates it; an unreadable one is left for the summary to report, never deleted here."""
    from models.io.deidentify import deidentify
    from models.io.dicom_read import read_dicom_file

    uid_map: dict[str, str] = {}
    files = [p for p in folder.rglob("*") if p.is_file()]
    done = 0
    for i, path in enumerate(files):
        with path.open("rb") as fh:
            head = fh.read(132)
        fmt = sniff_format(head)
        if fmt in ("png", "jpeg"):
            strip_file(path, fmt)
            continue
        if fmt != "dicom":
            continue
        try:
            ds = read_dicom_file(path, max_pixels=max_pixels)
        except ImageTooLargeError as exc:
            raise ImageTooLargeError(f"{path.relative_to(folder)}: {exc}") from None
        except Exception:  # noqa: BLE001 - unreadable DICOM: the summary refuses the data set, naming it
            continue
        deidentify(ds, uid_map=uid_map)
        ds.save_as(path, enforce_file_format=True)
        done += 1
        if progress is not None and i % 200 == 0:
            progress(i, len(files), "de-identifying DICOM")
    return done


def strip_file(path: Path, fmt: str) -> None:
    """Rewrite a PNG or JPEG without its metadata; a damaged one is left for the summary to report."""
    data = path.read_bytes()
    try:
        stripped = strip_metadata(data, fmt)
    except InputError:
        return
    if stripped != data:
        path.write_bytes(stripped)


def image_size(path: Path) -> tuple[int, int] | None:
    """(width, height) from the file's header, or None when it is not a readable PNG, JPEG or DICOM."""
    try:
        with path.open("rb") as fh:
            head = fh.read(132)
        fmt = sniff_format(head)
        if fmt in ("png", "jpeg"):
            from PIL import Image

            with Image.open(path) as img:
                return img.size
        if fmt == "dicom":
            from models.io.dicom_read import read_dicom_file

            ds = read_dicom_file(path, stop_before_pixels=True)
            return int(ds.Columns), int(ds.Rows)
    except Exception:  # noqa: BLE001 - any damage means unreadable
        return None
    return None


def summarise(root: Path, fmt: str, progress: Progress | None = None) -> dict:
    """Counts per finding, patients, image sizes and problems of a data set, reading labels and headers only."""
    from models.data.registry import open_dataset

    try:
        ds = open_dataset(root, "all", 64, fmt=fmt)  # type: ignore[arg-type]
    except (FileNotFoundError, KeyError, ValueError) as exc:
        raise DatasetProblem(f"the {fmt} layout could not be read: {exc}") from exc
    records = ds.records
    per_finding = Counter(label for r in records for label in r.labels)
    problems: list[str] = []
    sizes: list[int] = []
    unreadable: list[str] = []
    if fmt == "medmnist":
        import numpy as np

        with np.load(root) as npz:
            sizes = [int(npz["train_images"].shape[1])]
    else:
        for i, record in enumerate(records):
            size = image_size(Path(record.meta["path"]))
            if size is None:
                unreadable.append(record.key)
            else:
                sizes.append(max(size))
            if progress is not None and i % 500 == 0:
                progress(i, len(records), "reading image headers")
    if unreadable:  # refused, never deleted: a listed file may be something the uploader did not mean
        raise DatasetProblem(f"{len(unreadable)} listed image(s) are missing or not readable PNG, JPEG or DICOM: "
                             f"{', '.join(unreadable[:5])}; fix or remove them (and their labels rows) and upload "
                             "again")
    unknown = sorted(set(per_finding) - set(ds.label_names))
    if unknown:
        problems.append(f"labels outside the vocabulary, ignored: {', '.join(unknown[:10])}")
    if not records:
        raise DatasetProblem("no readable images: " + ("; ".join(problems) or "the layout matched no files"))
    return {
        "format": fmt,
        "images": len(records),
        "patients": len({r.group for r in records}),
        "findings": ds.label_names,
        "per_finding": {name: per_finding.get(name, 0) for name in ds.label_names},
        "image_size": {"min": min(sizes), "median": int(statistics.median(sizes)), "max": max(sizes)},
        "problems": problems,
    }


def ingest_archive(archive: Path, dest: Path, *, fmt: str | None, max_bytes: int,
                   progress: Progress | None = None, meta: dict | None = None,
                   max_pixels: int = DEFAULT_MAX_PIXELS) -> dict:
    """Check, unpack, de-identify and summarise `archive` into `dest` (which must not exist yet); `dest` holds
    `data/` and `dataset.json` afterwards, or nothing at all when anything fails."""
    if fmt is not None and fmt not in FORMATS:
        raise DatasetProblem(f"format must be one of {', '.join(FORMATS)} (got {fmt!r}); or leave it out")
    staging = dest.parent / f".{dest.name}.staging"
    remove_tree(staging)
    try:
        listing = list_archive(archive, max_bytes=max_bytes)
        unpack(archive, staging / DATA_FOLDER, listing, max_bytes=max_bytes,
               progress=(lambda i, n: progress(i, n, "unpacking")) if progress else None)
        deidentified = deidentify_files(staging / DATA_FOLDER, progress, max_pixels=max_pixels)
        root = data_root(staging / DATA_FOLDER)
        try:
            found = fmt or detect_format(root)
        except FileNotFoundError as exc:
            raise DatasetProblem(str(exc)) from exc
        summary = summarise(root, found, progress)
        manifest = (meta or {}) | summary | {
            "root": str(root.relative_to(staging)), "deidentified_dicom": deidentified, "created": time.time(),
            "archive_bytes": archive.stat().st_size, "unpacked_bytes": listing.unpacked_bytes}
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2))
        if dest.exists():
            raise DatasetProblem(f"a data set is already stored at {dest.name}")
        staging.rename(dest)
        return manifest
    except DatasetProblem as exc:  # said without the server's folders: the user knows only the archive
        remove_tree(staging)
        text = str(exc).replace(str(staging / DATA_FOLDER), "the archive").replace(str(staging), "the archive")
        raise DatasetProblem(text) from None
    except BaseException:  # refused, unreadable or interrupted: nothing is left behind
        remove_tree(staging)
        raise

